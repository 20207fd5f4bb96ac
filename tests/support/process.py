"""A ``concord`` command as a process that can be SIGKILLed and started again: what the crash
tests and the chaos checker do to the hub, as an operator's bad day would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = [sys.executable, "-m", "hub.cli", *args]
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=out)

    def kill(self, must_be_alive: bool = True) -> None:
        """SIGKILL, as a crash would; a test that means to kill a running process says so,
        and learns why it had already exited."""
        if not self.alive():
            assert not must_be_alive, self.tail()
            return
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def run_concord(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One ``concord`` command as a real process to its end: ``env`` over this process's
    environment, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
