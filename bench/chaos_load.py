"""The clients of the chaos checker: many threads doing what sources and stewards do, at once.

Each client draws its operations from its own seeded generator, so a run's sequence of
requests per client replays from the seed (the interleaving between clients and the moments
of the kills do not: a replay reproduces the load, not the schedule). Every answer that
promised something (a 2xx) goes into the :class:`Ledger`, which the checks hold the end state
against; a 5xx is a finding of its own, since nothing here sends bad input.

The records: two sources (CRM and ERP) each hold a few hundred clients of a smaller set of
firms. Records of one firm share its tax id, so keys link them across sources and now and then
merge two golden records; names carry small typos, so fuzzy matching runs and proposes
candidates; stewards merge, split, override and decide candidates on the same golden records
while the changes stream in.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

SOURCES = ("crm", "erp")
FIRMS = 120
RECORDS_PER_SOURCE = 240
WORDS = ("Acme", "Borealis", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris")
KINDS = ("Partners", "Consulting", "Advisory", "Engineering", "Legal")

# operation -> weight: mostly changes, as in a hub's day, with steward work beside them
OPERATIONS = {
    "changes": 50,
    "delete": 4,
    "merge": 10,
    "split": 8,
    "override": 8,
    "unoverride": 3,
    "decide": 10,
    "feed": 3,
    "read": 4,
}


def firm_name(firm: int) -> str:
    return (
        f"{WORDS[firm % len(WORDS)]} {WORDS[firm // len(WORDS) % len(WORDS)]} {firm} "
        + (KINDS[firm % len(KINDS)])
    )


def typo(name: str, rng: random.Random) -> str:
    """A small slip a person makes typing a name: a dropped or doubled letter."""
    i = rng.randrange(1, len(name) - 1)
    return name[:i] + name[i + 1 :] if rng.random() < 0.5 else name[:i] + name[i] + name[i:]


@dataclass
class Ledger:
    """What the hub promised: every acknowledged change, merge and server error."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    changes: dict[tuple[str, str], list[tuple[int, str, str]]] = field(default_factory=dict)
    event_ids: set[tuple[str, str]] = field(default_factory=set)
    merges: list[tuple[str, str]] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    transport_errors: int = 0  # a dropped keep-alive connection: the client goes on
    done: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def acked_changes(self, source: str, changes: list[dict[str, Any]]) -> None:
        with self.lock:
            for c in changes:
                marker = c["attributes"].get("industry", "") if c["op"] == "upsert" else ""
                self.changes.setdefault((source, c["key"]), []).append(
                    (c["sequence"], c["op"], marker)
                )
                self.event_ids.add((source, c["event_id"]))

    def count(self, op: str, status: int, text: str) -> None:
        with self.lock:
            if status >= 500:
                self.server_errors.append(f"{op}: HTTP {status} {text[:300]}")
            elif status >= 400:
                self.refused[op] += 1
            else:
                self.done[op] += 1


@dataclass
class Keys:
    sources: dict[str, str]
    steward: str


class Sequences:
    """Per source, one increasing sequence shared by every client sending as that source."""

    def __init__(self) -> None:
        self._next = {s: itertools.count(1) for s in SOURCES}
        self._lock = threading.Lock()

    def take(self, source: str) -> int:
        with self._lock:
            return next(self._next[source])


class Client(threading.Thread):
    """One client: a loop of random operations until ``stop`` is set."""

    def __init__(
        self,
        index: int,
        seed: int,
        base: str,
        keys: Keys,
        ledger: Ledger,
        sequences: Sequences,
        stop: threading.Event,
        rate: float = 10.0,
    ) -> None:
        super().__init__(name=f"chaos-client-{index}", daemon=True)
        self.pause = 1.0 / rate if rate > 0 else 0.0
        self.rng = random.Random(seed * 1_000 + index)
        self.base = base
        self.keys = keys
        self.ledger = ledger
        self.sequences = sequences
        self.stop_event = stop
        self.error: str | None = None
        ops, weights = zip(*OPERATIONS.items(), strict=True)
        self.ops: tuple[str, ...] = ops
        self.weights: tuple[int, ...] = weights

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=60) as http:
                self.http = http
                while not self.stop_event.wait(self.pause):
                    op = self.rng.choices(self.ops, self.weights)[0]
                    try:
                        getattr(self, "op_" + op)()
                    except httpx.TransportError:
                        with self.ledger.lock:
                            self.ledger.transport_errors += 1
        except Exception as exc:  # reported by the checker, never swallowed
            self.error = f"{self.name}: {exc!r}"

    # -- helpers ---------------------------------------------------------------------------

    def _steward(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys.steward}"}

    def _record(self) -> tuple[str, str, int]:
        source = self.rng.choice(SOURCES)
        n = self.rng.randrange(RECORDS_PER_SOURCE)
        return source, f"{source.upper()}-{n:04d}", n

    def _golden_of(self, source: str, key: str) -> str | None:
        r = self.http.get(f"/api/v1/xref/{source}/client/{key}", headers=self._steward())
        if r.status_code >= 500:
            self.ledger.count("read", r.status_code, r.text)
        return str(r.json()["golden_id"]) if r.status_code == 200 else None

    def _change(self, source: str, key: str, n: int, op: str) -> dict[str, Any]:
        seq = self.sequences.take(source)
        firm = n % FIRMS
        change: dict[str, Any] = {
            "domain": "client",
            "key": key,
            "op": op,
            "sequence": seq,
            "event_id": f"chaos-{source}-{seq}",
            "changed_at": datetime.now(UTC).isoformat(),
            "attributes": {},
        }
        if op == "upsert":
            name = firm_name(firm)
            change["attributes"] = {
                "name": typo(name, self.rng) if self.rng.random() < 0.3 else name,
                "tax_id": f"GB{100000 + firm}" if self.rng.random() < 0.6 else None,
                "country": "GB",
                "city": ("London", "Leeds", "York")[firm % 3],
                "industry": f"i{seq}",  # read by no rule: marks which change the record holds
            }
        return change

    def _send(self, source: str, changes: list[dict[str, Any]], op: str) -> None:
        """Post until answered: a connection error or 503 is resent (event ids make it safe)."""
        headers = {"Authorization": f"Bearer {self.keys.sources[source]}"}
        for _ in range(20):
            try:
                r = self.http.post("/api/v1/changes", json={"changes": changes}, headers=headers)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if r.status_code == 503:
                time.sleep(0.2)
                continue
            if r.status_code == 202:
                self.ledger.acked_changes(source, changes)
            self.ledger.count(op, r.status_code, r.text)
            return
        self.ledger.count(op, 599, "no answer after 20 tries")

    # -- operations -------------------------------------------------------------------------

    def op_changes(self) -> None:
        source = self.rng.choice(SOURCES)
        picked = {self.rng.randrange(RECORDS_PER_SOURCE) for _ in range(self.rng.randint(1, 20))}
        changes = [
            self._change(source, f"{source.upper()}-{n:04d}", n, "upsert") for n in sorted(picked)
        ]
        self._send(source, changes, "changes")

    def op_delete(self) -> None:
        source, key, n = self._record()
        self._send(source, [self._change(source, key, n, "delete")], "delete")

    def op_merge(self) -> None:
        a = self._golden_of(*self._record()[:2])
        b = self._golden_of(*self._record()[:2])
        if not a or not b or a == b:
            return
        r = self.http.post(
            f"/api/v1/golden/client/{a}/merge",
            json={"into": b, "reason": "chaos: same firm"},
            headers=self._steward(),
        )
        if r.status_code == 200:
            with self.ledger.lock:
                self.ledger.merges.append((a, b))
        self.ledger.count("merge", r.status_code, r.text)

    def op_split(self) -> None:
        source, key, _ = self._record()
        golden = self._golden_of(source, key)
        if not golden:
            return
        r = self.http.post(
            f"/api/v1/golden/client/{golden}/split",
            json={"source": source, "source_key": key, "reason": "chaos: not the same"},
            headers=self._steward(),
        )
        self.ledger.count("split", r.status_code, r.text)

    def op_override(self) -> None:
        golden = self._golden_of(*self._record()[:2])
        if golden:
            r = self.http.put(
                f"/api/v1/golden/client/{golden}/overrides/industry",
                json={"value": f"o{self.rng.randrange(1000)}", "reason": "chaos"},
                headers=self._steward(),
            )
            self.ledger.count("override", r.status_code, r.text)

    def op_unoverride(self) -> None:
        golden = self._golden_of(*self._record()[:2])
        if golden:
            r = self.http.request(
                "DELETE",
                f"/api/v1/golden/client/{golden}/overrides/industry",
                json={"reason": "chaos"},
                headers=self._steward(),
            )
            self.ledger.count("unoverride", r.status_code, r.text)

    def op_decide(self) -> None:
        r = self.http.get("/api/v1/candidates", params={"limit": 20}, headers=self._steward())
        if r.status_code != 200:
            self.ledger.count("decide", r.status_code, r.text)
            return
        pending = r.json().get("candidates", [])
        if not pending:
            return
        cand = self.rng.choice(pending)
        decision = "merge" if self.rng.random() < 0.6 else "reject"
        r = self.http.post(
            f"/api/v1/candidates/{cand['id']}/decision",
            json={"decision": decision, "reason": "chaos"},
            headers=self._steward(),
        )
        self.ledger.count("decide", r.status_code, r.text)

    def op_feed(self) -> None:
        after = str(self.rng.randrange(0, 1000))
        r = self.http.get("/api/v1/feed", params={"after": after}, headers=self._steward())
        self.ledger.count("feed", r.status_code, r.text)

    def op_read(self) -> None:
        golden = self._golden_of(*self._record()[:2])
        if golden:
            r = self.http.get(f"/api/v1/golden/client/{golden}", headers=self._steward())
            self.ledger.count("read", r.status_code, r.text)
