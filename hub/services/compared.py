"""The values the matcher compares of a golden record's views, kept with the record.

A candidate is compared as all its views (entity-centric matching): its survived values and
each live source record's own. Normalising those views' names, websites, phones and addresses
showed as a fifth of an onboarding load's apply at 1M golden clients in a sampling profile
(most candidates are met once, so nothing an applier keeps in memory helps). Survival has just
built the same views when it writes the record (its keys read the same values), so it stores
what the matcher compares of them beside the record; a candidate read later takes them
instead of normalising again. Measured, that took 6-8% off the appliers' CPU and added a
little to PostgreSQL's (docs/architecture.md, "Speed").

They are only a shortcut, never a source of truth, so they are stamped with everything they
were made from: the golden record's version (its survived values and references), each live
source record's source, key, digest (a hash of its values) and the rank of its source (a view
carries it), in order, and the fingerprint of the matcher's comparisons. A candidate whose
stamp differs (a record updated without a new golden version, a source re-ranked, another
match spec) is normalised as before. So a stale value can make a read slower, never a
comparison wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from hub.domain.spec import DomainSpec, SourceSpec
from hub.services.ports import Matcher


class Member(Protocol):
    """A live source record as far as its view needs it (a whole source record, or the
    slimmer one a candidate's read gives)."""

    @property
    def source(self) -> str: ...

    @property
    def domain(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def digest(self) -> str: ...

    @property
    def attributes(self) -> dict[str, Any]: ...


def entity_views(
    spec: DomainSpec,
    attributes: Mapping[str, Any],
    references: Mapping[str, Any],
    members: Iterable[tuple[SourceSpec, Member]],
) -> list[dict[str, Any]]:
    """A golden record's views as the matcher compares it: its survived values first, then
    each live source record's own, whose references are the golden record's survived ones.
    Linking and survival build them here, so a stored value belongs to the view it is read
    for."""
    views = [{**attributes, **references}]
    views.extend(spec.match_view(src, m.attributes, references) for src, m in members)
    return views


def stamp(version: int, fingerprint: str, members: Iterable[tuple[SourceSpec, Member]]) -> str:
    """What stored values were computed from, as one short string (see the module)."""
    parts = [str(version), fingerprint]
    parts.extend(
        f"{m.source}\x1f{m.domain}\x1f{m.key}\x1f{m.digest}\x1f{src.rank}" for src, m in members
    )
    return hashlib.blake2b("\x1e".join(parts).encode(), digest_size=12).hexdigest()


def to_store(
    matcher: Matcher,
    spec: DomainSpec,
    version: int,
    views: Sequence[Mapping[str, Any]],
    members: Sequence[tuple[SourceSpec, Member]],
) -> dict[str, Any] | None:
    """The stamped values survival writes with a golden record of ``version`` (``None``
    when its domain is not fuzzy-matched)."""
    made = matcher.compared_values(spec.name, views)
    if made is None:
        return None
    fingerprint, values = made
    return {"stamp": stamp(version, fingerprint, members), "values": values}


def reusable(
    matcher: Matcher,
    spec: DomainSpec,
    kept: Mapping[str, Any] | None,
    version: int,
    members: Sequence[tuple[SourceSpec, Member]],
) -> dict[str, list[str | None]] | None:
    """The stored values, if they were made from exactly these members of this version by
    the matcher's comparisons as they are now; else ``None`` (compare as before)."""
    if not kept:
        return None
    fingerprint = matcher.compared_fingerprint(spec.name)
    if fingerprint is None or kept.get("stamp") != stamp(version, fingerprint, members):
        return None
    values = kept.get("values")
    if not isinstance(values, dict):
        return None
    views = 1 + len(members)
    if any(not isinstance(v, list) or len(v) != views for v in values.values()):
        return None
    return values
