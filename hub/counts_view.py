"""The hub's counts as a person reads them, for ``concord status`` and ``concord demo``.

Both printed the counts as a Python dict, which a newcomer has to decode before they can
tell whether anything is still waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INBOX_ORDER = ("applied", "pending", "stale", "dead")


def inbox_text(inbox: dict[str, int]) -> str:
    """``{"applied": 630, "stale": 1}`` -> ``"630 applied, 0 pending, 1 stale, 0 dead"``."""
    names = [*INBOX_ORDER, *sorted(set(inbox) - set(INBOX_ORDER))]
    return ", ".join(f"{inbox.get(name, 0)} {name}" for name in names)


def count_lines(counts: dict[str, Any], domains: Iterable[str]) -> list[str]:
    golden = counts["golden"]
    lines = [f"  golden {domain:<16} {golden.get(domain, 0):>6}" for domain in domains]
    lines += [
        f"  links (source records)  {counts['links']:>6}",
        f"  pending references      {counts['pending_references']:>6}",
        f"  candidates for review   {counts['pending_candidates']:>6}",
        f"  inbox                   {inbox_text(counts['inbox'])}",
    ]
    return lines
