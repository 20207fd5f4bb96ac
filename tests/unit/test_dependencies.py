"""Dependencies point one way (docs/architecture.md, "The parts"): a forbidden import fails here.

Every import is read from the source (the AST), also those inside functions and under
``TYPE_CHECKING``: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "matching", "connectors", "stewardship", "bench")

# Modules of connectors/outbound that still read the store directly (none since delivery went
# through ports). Once a module stops crossing, the test below asks to take it out.
OUTBOUND_STILL_CROSSING: set[str] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module ``path`` imports (for ``from m import n``: ``m.n``, since ``n`` may be a
    module), relative imports resolved to absolute names."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            # each name imported, which may be a module (from hub.store import queries)
            yield from (f"{name}.{alias.name}" for alias in node.names)


def graph() -> dict[str, set[str]]:
    return {
        module_name(path): set(imports_of(path))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


GRAPH = graph()


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def crossings(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if within(module, *importers)
        for target in targets
        if within(target, *forbidden)
    )


def test_the_walk_sees_every_part_and_its_imports() -> None:
    """The checks below are only as good as the graph: it must hold every part, and know
    an import that is there (else every rule would pass on an empty graph)."""
    for package in PACKAGES:
        assert any(within(m, package) for m in GRAPH), package
    assert "hub.domain.model.Change" in GRAPH["hub.domain.commands"]
    assert "hub.services.ports.UnitOfWork" in GRAPH["hub.services.handlers"]
    assert "hub.store.queries" in GRAPH["hub.api.golden"]


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    stdlib = sys.stdlib_module_names | {"__future__"}
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if within(module, "hub.domain")
        for target in targets
        if target.split(".")[0] not in stdlib and not within(target, "hub.domain")
    )
    assert wrong == []


def test_matching_imports_nothing_of_the_hub() -> None:
    assert crossings(("matching",), ("hub", "connectors", "stewardship")) == []


def test_services_reach_the_store_only_through_ports() -> None:
    assert crossings(("hub.services",), ("hub.store", "hub.api", "hub.app", "hub.cli")) == []
    assert crossings(("hub.services",), ("hub.runtime", "stewardship", "connectors")) == []


def test_connectors_depend_on_ports_not_the_store() -> None:
    found = crossings(("connectors",), ("hub.store", "hub.api", "hub.app", "hub.runtime"))
    wrong = [c for c in found if c.split(" ")[0] not in OUTBOUND_STILL_CROSSING]
    assert wrong == []


def test_the_known_crossings_still_cross() -> None:
    """A module that moved to ports leaves the allowance, so it cannot cross again unseen."""
    found = {c.split(" ")[0] for c in crossings(("connectors",), ("hub.store",))}
    assert found >= OUTBOUND_STILL_CROSSING, OUTBOUND_STILL_CROSSING - found


@pytest.mark.parametrize(
    ("entry", "other"),
    [
        ("stewardship", ("hub.api", "hub.app", "hub.cli")),
        ("hub.api", ("stewardship", "hub.app", "hub.cli")),
        ("hub.web", ("stewardship", "hub.api", "hub.app", "hub.cli")),
    ],
)
def test_entry_points_sit_side_by_side(entry: str, other: tuple[str, ...]) -> None:
    """The API and the steward site share ``hub.web`` and the services, not each other; only
    ``hub.app`` (the ASGI app) and the CLI put them together."""
    assert crossings((entry,), other) == []


def test_nothing_in_the_product_imports_benchmarks_or_tests() -> None:
    product = ("hub", "matching", "connectors", "stewardship")
    assert crossings(product, ("bench", "tests")) == []


# Besides the read side: sessions, the key check, the schema check. And, named: the two
# subscription errors the API answers 422 and 409 for (and the row type it shows), and the
# time-entry world, which is being reworked on its own branch.
READ_DOOR = (
    "hub.store.queries",
    "hub.store.read",
    "hub.store.uow",
    "hub.store.access",
    "hub.store.migrate",
)
NAMED = {
    "hub.api.subscriptions": ("hub.store.deliveries", "hub.store.tables"),
    "hub.api.time_entries": ("hub.store.time_entries",),
    # steward accounts: logging in and out, the session secret beside an SQLite file
    "stewardship.accounts": ("hub.store.stewards", "hub.store.db"),
    "stewardship.security": ("hub.store.stewards", "hub.store.db"),
    "stewardship.routes_auth": ("hub.store.stewards",),
    "stewardship.cli": ("hub.store.stewards",),
}


def test_the_api_the_metrics_and_the_steward_pages_read_through_the_read_side() -> None:
    wrong = [
        c
        for c in crossings(("hub.api", "hub.metrics", "hub.web", "stewardship"), ("hub.store",))
        if not within(c.split(" ")[-1], *READ_DOOR, *NAMED.get(c.split(" ")[0], ()))
    ]
    assert wrong == []


def test_the_steward_pages_write_no_sql() -> None:
    """The steward pages read through ``hub.store.read`` and write through the bus: a page
    that builds a select (or an insert) of its own, or reaches for a table, fails here."""
    assert crossings(("stewardship",), ("sqlalchemy", "hub.store.tables")) == []
