"""What an onboarding preview was worked out from, so a commit can reuse its dry run's.

An integration lead runs a file dry, reads the report, then commits the same file. Matching
every row again for the commit's report cost as much as the dry run (at 1M golden records,
about 200 of the 527 s a commit took) and told nothing new when nothing changed in between.
So each run keeps its *basis*: the file's bytes (a digest), how it is read (the column map
and id column), the settings that decide a preview (the domain's rules, the match spec with
its thresholds and model, the source systems' ranks), and a mark of the store it reads
(``store_mark``). A commit whose basis equals a dry run's takes that dry run's preview and
says so in its report; anything different, and it previews again.

The load never uses the preview: it links, survives and raises candidates on its own, under
its locks. A reused preview can only be as wrong as a fresh one started at the dry run's
time, and the report says when that was (docs/architecture.md, "A commit after its dry
run").
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from hub.bootstrap import Hub, fuzzy_matcher
from hub.domain.spec import DomainSpec
from hub.store.onboarding import dry_run_reports, store_mark
from hub.store.uow import session_factory
from matching import FellegiSunterMatcher, MatchSpec

_READ = 1 << 20


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_READ):
            digest.update(block)
    return digest.hexdigest()


def preview_spec(hub: Hub, domain: str) -> MatchSpec | None:
    """The spec (thresholds included) the hub's own matcher scores ``domain`` with, so a
    preview and the load agree; the configured one when the matcher is not Fellegi-Sunter
    (a test's spy)."""
    matcher = hub.bus.applier.matcher
    fs = matcher if isinstance(matcher, FellegiSunterMatcher) else fuzzy_matcher(hub.config)
    return fs.spec(domain)


def settings_digest(hub: Hub, spec: DomainSpec) -> str:
    """The rules a preview follows. ``repr`` of these frozen dataclasses holds no set, so it
    is the same in every process (checked under two hash seeds)."""
    with hub.uow() as uow:  # read only
        sources = sorted(uow.sources().items())
    text = repr((spec, preview_spec(hub, spec.name), sources))
    return hashlib.sha256(text.encode()).hexdigest()


def run_basis(
    hub: Hub, spec: DomainSpec, path: Path, maps: list[str], id_column: str
) -> dict[str, Any]:
    """Read before the preview starts: a change that lands while it runs makes the next
    mark differ, so a commit after it previews again."""
    with session_factory(hub.engine)() as s:
        mark = store_mark(s)
    return {
        "file_sha256": file_digest(path),
        "maps": list(maps),  # in order: a later map of one field may win
        "id_column": id_column,
        "settings": settings_digest(hub, spec),
        "store": mark,
    }


def reusable_preview(
    hub: Hub, source: str, domain: str, file_name: str, basis: dict[str, Any]
) -> dict[str, Any] | None:
    """The report of the latest dry run with this basis that previewed (a run refused for
    invalid rows did not), or ``None``."""
    with session_factory(hub.engine)() as s:
        for report in dry_run_reports(s, source, domain, file_name):
            if report.get("basis") == basis and "histogram" in report:
                return report
    return None
