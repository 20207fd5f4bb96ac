"""The Dockerfile and docker-compose.yml name only commands, options, files and settings that
exist. Docker does not run here, so this is what keeps them from rotting."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from hub.cli import app
from hub.cli_lazy import LAZY, load
from hub.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()

# Commands and settings that another branch adds; the test checks them fully once they exist.
ELSEWHERE_COMMANDS = {
    ("worker",),  # `concord worker`, the faust-streaming worker (branch kafka)
}
ELSEWHERE_SETTINGS = {
    "CONCORD_KAFKA_BOOTSTRAP",  # scale-out ingest and the worker's broker (branch kafka)
}


def check_concord(argv: list[str]) -> None:
    """Parse ``concord ARGS`` with the real CLI, without running it."""
    assert argv[0] == "concord"
    command: Any = get_command(app)  # typer's own (vendored) click classes
    path: list[str] = []
    args = argv[1:]
    while isinstance(getattr(command, "commands", None), dict):
        assert args, f"{shlex.join(argv)}: names a group, not a command"
        sub = command.commands.get(args[0])
        if sub is None and not path and args[0] in LAZY:  # a group imported when it runs
            sub = load(args[0])
        if sub is None:
            assert (*path, args[0]) in ELSEWHERE_COMMANDS, f"no such command: {shlex.join(argv)}"
            return
        path.append(args.pop(0))
        command = sub
    command.make_context(" ".join(["concord", *path]), list(args))  # raises on a bad option


def concord_commands(command: Any) -> list[list[str]]:
    """Each ``concord ...`` invocation in a compose command (a list, or ``sh -c SCRIPT``)."""
    if isinstance(command, str):
        command = shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        parts = re.split(r"&&|\|\||[|;()]", command[2])
        return [shlex.split(p) for p in parts if p.strip().startswith("concord")]
    return [list(command)] if command and command[0] == "concord" else []


def dockerfile_instructions(name: str) -> list[str]:
    return [
        line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(name + " ")
    ]


def services() -> dict[str, dict[str, Any]]:
    return dict(COMPOSE["services"])


def test_every_path_the_dockerfile_copies_exists() -> None:
    copies = dockerfile_instructions("COPY")
    assert copies
    for line in copies:
        *sources, _dest = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    packages = {s for line in copies for s in line.split()[:-1]}
    for package in ("hub", "matching", "stewardship", "connectors", "migrations"):
        assert package in packages, f"the image lacks package {package}"


def test_the_dockerfiles_default_command_parses() -> None:
    (cmd,) = dockerfile_instructions("CMD")
    check_concord(json.loads(cmd))


@pytest.mark.parametrize("name", sorted(services()))
def test_every_concord_command_in_compose_parses(name: str) -> None:
    service = services()[name]
    if "command" not in service:
        return
    for argv in concord_commands(service["command"]):
        check_concord(argv)


def test_the_services_the_issue_asks_for_are_there() -> None:
    s = services()
    assert s["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert "KAFKA_ZOOKEEPER_CONNECT" not in s["kafka"]["environment"]
    assert s["api"]["command"][:2] == ["concord", "serve"]
    assert s["worker"]["command"] == ["concord", "worker"]
    assert "wal_level=logical" in s["source-db"]["command"]
    assert s["postgres"]["image"].startswith("postgres:")
    assert s["connector-psa"]["command"][:3] == ["concord", "connect", "postgres"]


def test_every_concord_setting_named_exists() -> None:
    known = {f"CONCORD_{name.upper()}" for name in Settings.model_fields} | ELSEWHERE_SETTINGS
    named = {
        key
        for service in services().values()
        for key in (service.get("environment") or {})
        if key.startswith("CONCORD_")
    }
    assert named
    assert named <= known, f"unknown settings: {sorted(named - known)}"
    database = services()["api"]["environment"]["CONCORD_DATABASE_URL"]
    assert Settings(database_url=database).database_url.startswith("postgresql+psycopg://")


def test_every_file_mounted_or_named_in_a_command_exists() -> None:
    copied = {line.split()[0] for line in dockerfile_instructions("COPY")}
    for name, service in services().items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
        command = service.get("command") or []
        for arg in command if isinstance(command, list) else [command]:
            if str(arg).startswith("/app/"):
                relative = str(arg).removeprefix("/app/")
                assert (ROOT / relative).exists(), f"{name} names missing {arg}"
                assert relative.split("/")[0] in copied, f"the image does not copy {arg}"


def test_every_service_that_depends_on_another_names_one_that_exists() -> None:
    s = services()
    for name, service in s.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in s, f"{name} depends on unknown service {dependency}"
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").exists()


def test_the_demo_mapping_loads_and_its_tables_are_created_by_the_demo_source() -> None:
    from connectors.inbound.mappings import load_mappings

    command = services()["connector-psa"]["command"]
    mapping = load_mappings(ROOT / command[command.index("--mapping") + 1].removeprefix("/app/"))
    sql = (ROOT / "deploy" / "source-demo.sql").read_text()
    for table in mapping.tables:
        assert f"CREATE TABLE {table.removeprefix('public.')} " in sql
        assert table.removeprefix("public.") in sql.split("CREATE PUBLICATION", 1)[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["concord", "serve", "--bogus"],
        ["concord", "connect", "postgres", "--dsn", "x"],  # required options missing
        ["concord", "no-such-command"],
    ],
)
def test_the_checker_refuses_what_the_cli_would(argv: list[str]) -> None:
    with pytest.raises(Exception, match=r"No such option|Missing parameter|no such command"):
        check_concord(argv)


def test_dependencies_install_in_a_layer_before_the_code_is_copied() -> None:
    """A code change must not reinstall every dependency (Docker reuses layers until the
    first one whose inputs changed)."""
    joined = DOCKERFILE.replace("\\\n", " ").splitlines()
    lines = [ln for ln in joined if ln.split(" ", 1)[0] in ("COPY", "RUN")]
    first_code = next(
        i
        for i, ln in enumerate(lines)
        if ln.startswith("COPY") and ln.split()[1] != "pyproject.toml"
    )
    before = lines[:first_code]
    assert any("pip install" in ln for ln in before), before
    after = [ln for ln in lines[first_code:] if "pip install" in ln]
    assert after and all("--no-deps" in ln for ln in after), after


def test_the_image_user_owns_app() -> None:
    (user,) = dockerfile_instructions("USER")
    assert re.search(rf"chown {user}(:{user})? /app\b", DOCKERFILE), "/app is not writable"


def test_compose_gives_the_steward_page_a_secret_and_a_steward() -> None:
    api = services()["api"]["environment"]
    secret = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", api["CONCORD_SESSION_SECRET"])
    Settings(session_secret=secret)  # 32+ characters, else it raises
    setup = " ".join(services()["setup"]["command"])
    assert "concord stewards add" in setup and "--password-stdin" in setup
