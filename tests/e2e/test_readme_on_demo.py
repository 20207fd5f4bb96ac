"""The README's examples run as shown on the demo, and the demo prints what a newcomer needs:
the steward login, the pending candidates, the keys the examples take, and the next steps.

The serving demo runs as `concord demo` does for a user (its own process, on a free port);
the README's curl blocks run through bash with the keys it printed, as a user would paste
them. Not run here: `concord serve` (the demo serves), the benchmarks (minutes each, never part
of the tests), `stewards add` (asks for a password on a terminal) and the Kafka worker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.runtime.serving import free_port
from tests.support.steward import csrf_of

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
EXPECTED = re.compile(r"^# (\d{3}) (.*)", re.DOTALL)
PAIR = re.compile(r'"(\w+)": ("[^"…]*"|-?\d+(?:\.\d+)?|\[[^\]\[{}…]*\]|true|false|null)')


def _env(url: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    return {**environ, "CONCORD_DATABASE_URL": url, "COLUMNS": "200"}


@dataclass
class Demo:
    url: str
    database: str
    folder: Path
    output: str
    exports: dict[str, str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    database = f"sqlite:///{folder / 'concord.db'}"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "demo", "--port", str(port)],
        env=_env(database),
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl+C"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(240), "".join(lines)
        output = "".join(lines)
        exports = dict(re.findall(r"^export (\w+)=(\S+)", output, re.MULTILINE))
        yield Demo(f"http://127.0.0.1:{port}", database, folder, output, exports)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _pairs(value: Any) -> set[tuple[str, str]]:
    """Every ``"key": scalar-or-list`` of a JSON document, as the README would write it."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(v, dict) and not (
                v and isinstance(v, list) and isinstance(v[0], dict)
            ):
                found.add((k, json.dumps(v)))
            found |= _pairs(v)
    elif isinstance(value, list):
        for v in value:
            found |= _pairs(v)
    return found


def _curl_examples() -> list[str]:
    return [block for block in SH_BLOCK.findall(README) if block.lstrip().startswith("curl")]


def test_the_readme_has_curl_examples() -> None:
    assert len(_curl_examples()) >= 2


@pytest.mark.parametrize("index", range(len(_curl_examples())))
def test_each_readme_curl_example_runs_as_shown(demo: Demo, index: int) -> None:
    block = _curl_examples()[index]
    command, _, comment = block.partition("\n#")
    expected = EXPECTED.match("#" + comment)
    assert expected, f"the example says what it answers: {block}"
    status, body = expected.group(1), " ".join(expected.group(2).replace("#", " ").split())
    # As pasted after the demo's export lines; -w adds the status code to what curl prints.
    script = "\n".join(f"export {k}={v}" for k, v in demo.exports.items()) + "\n"
    script += command.replace("localhost:8000", demo.url.removeprefix("http://")).replace(
        "curl ", "curl -sS -w '\\n%{http_code}' ", 1
    )
    done = _bash(script, _env(demo.database), demo.folder)
    answer, _, code = done.stdout.rpartition("\n")
    assert code == status, (done.stdout, done.stderr)
    got = _pairs(json.loads(answer))
    for key, value in PAIR.findall(body):
        assert (key, json.dumps(json.loads(value))) in got, (key, value, answer)


def test_the_serving_demo_prints_the_login_keys_and_links_that_work(demo: Demo) -> None:
    out = demo.output
    assert "match candidates wait for a steward" in out
    assert "{'" not in out  # no Python dict
    assert set(demo.exports) == {"READ_KEY", "CRM_KEY", "TIME_KEY"}
    assert "Authorization: Bearer" in out
    for line in out.splitlines():
        if line.startswith("curl "):
            done = _bash(
                f"export READ_KEY={demo.exports['READ_KEY']}\n"
                + line.replace("curl ", "curl -sS -f -o /dev/null ", 1),
                _env(demo.database),
                demo.folder,
            )
            assert done.returncode == 0, (line, done.stderr)
    for path in ("/docs", "/healthz", "/steward/login"):
        assert httpx.get(demo.url + path, timeout=10).status_code == 200, path


def test_the_printed_steward_password_logs_in(demo: Demo) -> None:
    found = re.search(r"login: (\S+), password (\S+)", demo.output)
    assert found, demo.output
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        page = client.get("/steward/login")
        r = client.post(
            "/steward/login",
            data={"name": found.group(1), "password": found.group(2), "csrf": csrf_of(page.text)},
        )
        assert r.status_code == 303, r.text


def test_operations_commands_run_on_the_demo(demo: Demo) -> None:
    for command in ("concord status", "concord deadletters list", "concord audit verify"):
        assert command in README
        done = _bash(command, _env(demo.database), demo.folder)
        assert done.returncode == 0, (command, done.stderr)


def test_using_it_block_runs_as_shown_on_a_fresh_database(tmp_path: Path) -> None:
    block = next(b for b in SH_BLOCK.findall(README) if b.startswith("concord migrate"))
    commands = [ln for ln in block.splitlines() if not ln.startswith("concord serve")]
    done = _bash("set -e\n" + "\n".join(commands), _env(f"sqlite:///{tmp_path / 'c.db'}"), tmp_path)
    assert done.returncode == 0, done.stderr


def _check_demo_world(printed: str) -> None:
    """What the demo loads: every domain, the assignments, and (issue 17) the reference data,
    a contracted deal's shell that PSA's project joined, and a deal waiting as an exception."""
    assert "golden client" in printed and "pending references" in printed
    counts = {
        line.split()[1]: int(line.split()[2])
        for line in printed.splitlines()
        if line.strip().startswith("golden ")
    }
    assert counts["client"] > 40 and counts["project"] > 60 and counts["resource"] > 60
    assert counts["assignment"] == 24  # two people on each of twelve projects
    assert (counts["legal_entity"], counts["labor_code"], counts["opportunity"]) == (6, 5, 2)
    assert re.search(
        r"project shell PRJ-\d{4}-00001 \(created\), published as a golden project; "
        r"PSA's project PP-9001 carries its code and joined it",
        printed,
    ), printed
    assert "waits as a setup exception: tax_id is missing" in printed


def test_no_serve_demo_prints_the_same_and_a_second_run_stores_nothing(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'concord.db'}")

    def run() -> str:
        started = time.monotonic()
        done = _bash(f"{sys.executable} -m hub.cli demo --no-serve", env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < 240
        return done.stdout

    first = run()
    assert re.search(r"stored \d+ new changes", first)
    assert re.search(r"\d+ match candidates wait for a steward", first)
    assert "password" in first and "Next:" in first and "concord serve" in first
    assert "{'" not in first
    _check_demo_world(first)
    second = run()
    assert "nothing new stored" in second and "new changes" not in second
