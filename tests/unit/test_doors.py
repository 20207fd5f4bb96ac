"""The bus is the only door for writes (docs/architecture.md, "The parts"): no entry point or
connector calls the store's functions that change sources, keys, subscriptions, steward
accounts or the audit log; each hands a command to the bus instead. Read from the AST, so a
lazy import inside a function is seen too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOORS = [
    *sorted((ROOT / "hub" / "api").rglob("*.py")),
    *sorted((ROOT / "hub" / "cli").rglob("*.py")),
    *sorted((ROOT / "hub" / "runtime").rglob("*.py")),
    *sorted((ROOT / "connectors").rglob("*.py")),
    ROOT / "hub" / "app.py",
    *sorted((ROOT / "hub" / "demo").rglob("*.py")),
    *sorted((ROOT / "stewardship").rglob("*.py")),
]
WRITES = {
    "record_login",
    "end_sessions",
    "count_failure",
    "add_source",
    "create_key",
    "revoke_keys",
    "rotate_key",
    "audit",
    "create_subscription",
    "set_status",
    "delete_subscription",
    "rotate_secret",
    "replay",
    "add_steward",
    "set_disabled",
    "set_password",
    "admin_session",
}
STORE_MODULES = {"access", "deliveries", "stewards", "store", "_uow", "uow"}


def store_writes(path: Path) -> list[str]:
    """Calls of a store write function: ``access.add_source(...)`` or a name imported from
    ``hub.store...``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hub.store")
        for alias in node.names
        if alias.name in WRITES
    }
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found = []
    for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in WRITES:
            owner = f.value
            if isinstance(owner, ast.Name) and owner.id in STORE_MODULES:
                found.append(f"{where}:{node.lineno} {owner.id}.{f.attr}")
        elif isinstance(f, ast.Name) and f.id in imported:
            found.append(f"{where}:{node.lineno} {f.id}")
    return found


def test_the_check_finds_a_write_around_the_bus(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    body = "from hub.store.uow import admin_session\nfrom hub.store import access\n"
    body += (
        "def f(e):\n    with admin_session(e) as s:\n        access.create_key(s, 'x', 'admin')\n"
    )
    sneaky.write_text(body, encoding="utf-8")
    assert store_writes(sneaky) == ["sneaky.py:4 admin_session", "sneaky.py:5 access.create_key"]


def test_entry_points_and_connectors_write_only_through_the_bus() -> None:
    assert [w for path in DOORS for w in store_writes(path)] == []
