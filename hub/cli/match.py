"""``concord match link|dedupe``: bulk matching of CSV files, no database needed (and
``train``, ``spec`` and ``reindex``, which read the hub's configuration or store).

The contract (issue "Matching"): columns named like the domain's canonical fields are used as
those fields, others are ignored unless mapped with ``--map CANON=COL``; the output CSV has
``left_id,right_id,probability,tier`` and then one ``weight_<field>`` column per compared field;
only ``auto`` and ``review`` pairs are written; a progress bar goes to stderr.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from connectors.inbound.files import check_columns, map_columns
from hub.domain.errors import ConcordError

if TYPE_CHECKING:  # the matcher (numpy, rapidfuzz, phonenumbers) loads when a command runs
    from matching import LinkedPair, MatchSpec
    from matching.bulk import Progress as ProgressCallback

match_app = typer.Typer(
    help="Bulk matching of CSV files (link two files, or find duplicates in one); train a "
    "domain's model from steward decisions, print its match spec, rebuild its key index.",
    no_args_is_help=True,
)
_err = Console(stderr=True)

DomainOpt = Annotated[str, typer.Option("--domain", help="Domain: client, resource or project.")]
IdOpt = Annotated[str, typer.Option("--id-column", help="Column holding each record's id.")]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="Use column COL as canonical field CANON (CANON=COL); repeatable."),
]
OutOpt = Annotated[Path, typer.Option("--out", help="Where to write the pairs CSV.")]


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _spec(domain: str) -> MatchSpec:
    from matching import DEFAULT_SPECS

    build = DEFAULT_SPECS.get(domain)
    if build is None:
        raise _fail(f"unknown domain {domain!r}; known: {', '.join(sorted(DEFAULT_SPECS))}")
    return build()


def _mapping(spec: MatchSpec, maps: Sequence[str]) -> dict[str, str]:
    """Canonical field -> CSV column: same-named columns, overridden by ``--map``."""
    try:
        return map_columns(spec.fields, spec.domain, maps)
    except ConcordError as exc:
        raise _fail(str(exc)) from exc


def _read(
    path: Path, mapping: dict[str, str], id_column: str
) -> tuple[list[str], list[dict[str, object]]]:
    """Ids and canonical records of a CSV file; blank cells are missing values."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or ())
            rows = list(reader)
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc}") from exc
    try:
        used = check_columns(path, columns, mapping, id_column)
    except ConcordError as exc:
        raise _fail(str(exc)) from exc
    ids = [row[id_column] for row in rows]
    records: list[dict[str, object]] = [
        {f: (row.get(c) or "").strip() or None for f, c in used.items()} for row in rows
    ]
    return ids, records


def _write(
    out: Path,
    spec: MatchSpec,
    pairs: Sequence[LinkedPair],
    left_ids: Sequence[str],
    right_ids: Sequence[str],
) -> None:
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["left_id", "right_id", "probability", "tier", *(f"weight_{x}" for x in spec.labels)]
        )
        for p in pairs:
            writer.writerow(
                [
                    left_ids[p.left],
                    right_ids[p.right],
                    f"{p.probability:.6f}",
                    p.tier,
                    *(f"{p.weights[label]:.4f}" for label in spec.labels),
                ]
            )


@contextmanager
def _progress() -> Iterator[ProgressCallback]:
    """A rich progress bar on stderr, driven by the bulk stage callback."""
    bar = Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=_err,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield update


def _summary(pairs: Sequence[LinkedPair], out: Path) -> None:
    auto = sum(p.tier == "auto" for p in pairs)
    _err.print(f"{auto} auto, {len(pairs) - auto} review pairs written to {out}")


@match_app.command("link")
def link_command(
    domain: DomainOpt,
    left: Annotated[Path, typer.Option("--left", help="CSV of the records to link.")],
    right: Annotated[Path, typer.Option("--right", help="CSV of the records to link to.")],
    out: OutOpt,
    id_column: IdOpt = "id",
    maps: MapOpt = None,
) -> None:
    """Link each record of LEFT to at most one record of RIGHT (auto), with review pairs."""
    from matching import link

    spec = _spec(domain)
    mapping = _mapping(spec, maps or [])
    left_ids, left_records = _read(left, mapping, id_column)
    right_ids, right_records = _read(right, mapping, id_column)
    with _progress() as progress:
        pairs = link(left_records, right_records, spec, progress=progress)
    _write(out, spec, pairs, left_ids, right_ids)
    _summary(pairs, out)


@match_app.command("dedupe")
def dedupe_command(
    domain: DomainOpt,
    input_: Annotated[Path, typer.Option("--input", help="CSV to find duplicates in.")],
    out: OutOpt,
    id_column: IdOpt = "id",
    maps: MapOpt = None,
) -> None:
    """Find pairs of duplicate records within one file."""
    from matching import dedupe

    spec = _spec(domain)
    mapping = _mapping(spec, maps or [])
    ids, records = _read(input_, mapping, id_column)
    with _progress() as progress:
        pairs = dedupe(records, spec, progress=progress)
    _write(out, spec, pairs, ids, ids)
    _summary(pairs, out)


@match_app.command("train")
def train_command(
    domain: DomainOpt,
    out: Annotated[Path, typer.Option("--out", help="Where to write the model (JSON).")],
    min_decisions: Annotated[
        int, typer.Option(help="Steward merges needed before m is re-learned.")
    ] = 50,
) -> None:
    """Re-learn m (from merges) and u (from "not a match") out of steward decisions, and write
    the model for concord.yaml to name: `match: {DOMAIN: {model: FILE}}`."""
    import json

    from hub.bootstrap import bootstrap, fuzzy_matcher
    from hub.match_train import decided_pairs, saved, train
    from hub.store.uow import session_factory

    hub = bootstrap()
    spec = fuzzy_matcher(hub.config).spec(domain)
    if spec is None:
        _err.print(f"[red]error:[/red] domain {domain!r} is not fuzzy-matched")
        raise typer.Exit(2)
    with session_factory(hub.engine, readonly=True)() as session:
        pairs = decided_pairs(session, domain)
    merged = sum(p.is_match for p in pairs)
    if merged < min_decisions:
        _err.print(
            f"[red]not enough decisions:[/red] {merged} merges and {len(pairs) - merged} "
            f"rejections of {domain} candidates; training needs at least {min_decisions} "
            "merges (--min-decisions)"
        )
        raise typer.Exit(1)
    before = spec.current_model()
    model = train(spec, pairs)
    out.write_text(json.dumps(saved(domain, model, pairs), indent=2))
    console = Console()
    for old, new in zip(before.fields, model.fields, strict=True):
        for k, level in enumerate(new.comparison.level_names):
            console.print(
                f"{new.comparison.label:<32} {level:<18} m {old.m[k]:.3f} -> {new.m[k]:.3f}  "
                f"u {old.u[k]:.5f} -> {new.u[k]:.5f}"
            )
    console.print(
        f"trained on {merged} merges and {len(pairs) - merged} rejections; wrote {out}. "
        f"Use it with concord.yaml: match: {{{domain}: {{model: {out}}}}}"
    )


@match_app.command("spec")
def spec_command(domain: DomainOpt) -> None:
    """Print the domain's match spec (comparisons and blocking rules) as concord.yaml takes it:
    copy it under `match: {DOMAIN: ...}` and edit it to change how the domain matches."""
    import yaml

    from hub.bootstrap import fuzzy_matcher
    from hub.config import Settings as HubSettings
    from hub.config import config_path, load_config
    from matching.spec_config import spec_to_config

    spec = fuzzy_matcher(load_config(config_path(HubSettings()))).spec(domain)
    if spec is None:
        _err.print(f"[red]error:[/red] domain {domain!r} is not fuzzy-matched")
        raise typer.Exit(2)
    text = yaml.safe_dump(
        {"match": {domain: spec_to_config(spec)}}, sort_keys=False, default_flow_style=None
    )
    typer.echo(text, nl=False)


@match_app.command("reindex")
def reindex_command(
    domain: DomainOpt,
    batch: Annotated[int, typer.Option(help="Golden records per transaction.")] = 500,
) -> None:
    """Rebuild the key index of every active golden record of DOMAIN from its source records.

    Run it once after an upgrade whose index holds more than the old one (the value counts
    behind generic values and term frequencies), or after changing keys in concord.yaml: a
    golden record's keys are otherwise rewritten only when it changes. Safe to run while the
    hub serves; a golden record whose values do not change gets no new version.
    """
    from hub.bootstrap import bootstrap
    from hub.domain.commands import ReindexGolden
    from hub.store.migrate import upgrade

    hub = bootstrap()
    if domain not in hub.config.domains:
        _err.print(f"[red]error:[/red] unknown domain {domain!r}")
        raise typer.Exit(2)
    upgrade(hub.settings.database_url)
    done, after = 0, ""
    while True:
        count, after = hub.bus.handle(ReindexGolden(domain, after, batch))
        done += count
        if count < batch:
            break
    Console().print(f"reindexed {done} active {domain} golden records")
