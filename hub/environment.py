"""The ``CONCORD_*`` variables of the environment, checked at start.

Settings ignore a variable they do not know, so a misspelt ``CONCORD_DATABSE_URL`` would
leave the hub on its default SQLite file without a word. The start names each unknown
variable and the known one closest to it (docs/architecture.md, "Bad input and
configuration").
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

from hub.config import Settings

DEPRECATED = {"CONCORD_CONFIG_FILE": "CONCORD_CONFIG"}
"""Old name -> the name to use now; the old one still works."""

TOOLING = frozenset(
    {
        "CONCORD_TEST_DATABASE_URL",
        "CONCORD_REQUIRE_POSTGRES",
        "CONCORD_REQUIRE_KAFKA",
        "CONCORD_REQUIRE_BROWSER",
        "CONCORD_SCREENSHOTS",
        "CONCORD_BENCH_DATABASE_URL",
    }
)
"""Read by the tests, CI and the benchmarks rather than by the hub; known all the same."""


# set by ``concord serve`` in the environment of the worker processes it starts
# (hub/runtime/children.py): the process they must not outlive
PARENT_ENV = "CONCORD_PARENT_PID"


def known_names() -> set[str]:
    names = {f"CONCORD_{name.upper()}" for name in Settings.model_fields}
    names.discard("CONCORD_CONFIG_FILE")
    return names | {"CONCORD_CONFIG", PARENT_ENV} | TOOLING


def environment_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per ``CONCORD_*`` variable that is deprecated or that nothing reads.

    Examples:
        >>> environment_warnings({"CONCORD_LOGLEVEL": "DEBUG"})[0].split(" (")[1]
        'did you mean CONCORD_LOG_LEVEL?)'
    """
    environ = os.environ if environ is None else environ
    known = known_names()
    lines = []
    for name in sorted(n for n in environ if n.upper().startswith("CONCORD_")):
        upper = name.upper()
        if upper in DEPRECATED:
            lines.append(f"{name} is deprecated: use {DEPRECATED[upper]} (both work for now)")
        elif upper not in known:
            close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            lines.append(f"{name} is not a Concord setting and is ignored{hint}")
    return lines
