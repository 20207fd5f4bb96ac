"""A throwaway PostgreSQL cluster with ``wal_level=logical``, for tests and benchmarks.

Logical decoding needs a server setting that a shared server may not have, and slots that
must not outlive a test. A cluster of our own (``initdb`` + ``pg_ctl`` on a free port in a
temporary directory) touches nothing shared and is gone afterwards. PostgreSQL refuses to run
as root, so as root it runs as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class ClusterUnavailable(RuntimeError):
    """No initdb here, or it would not start; the message says which."""


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or the one ``initdb`` is on PATH in."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ThrowawayCluster:
    """``with ThrowawayCluster() as pg: pg.url("postgres")``: started on enter, removed on exit."""

    def __init__(self) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise ClusterUnavailable("no initdb found (install the PostgreSQL server package)")
        self.bindir = bindir
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="concord-pg-"))
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise ClusterUnavailable(f"{Path(args[0]).name} failed: {result.stderr.strip()}")

    def start(self) -> ThrowawayCluster:
        self.reap_orphans()
        (self.dir / "owner").write_text(str(os.getpid()))
        data = self.dir / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.dir}",
                "-c wal_level=logical",
                "-c max_replication_slots=20",
                "-c max_wal_senders=20",
                "-c fsync=off",  # throwaway: durability of the cluster itself is not tested
                "-c full_page_writes=off",
            ]
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
            str(self.dir / "log"), "-w", "start",
        )  # fmt: skip
        return self

    def reap_orphans(self) -> None:
        """Stop and remove clusters whose owning process died without stopping them (a test
        run killed by a timeout), so they do not pile up on a shared machine."""
        for owner in Path(tempfile.gettempdir()).glob("concord-pg-*/owner"):
            try:
                pid = int(owner.read_text())
                os.kill(pid, 0)
                continue  # its owner is alive
            except ProcessLookupError:
                pass
            except (OSError, ValueError):
                continue  # not ours to judge (another user's process, or a half-written file)
            data = owner.parent / "data"
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    [*self._as, str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                     "-w", "stop"], capture_output=True, timeout=60, check=False,
                )  # fmt: skip
            shutil.rmtree(owner.parent, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast",
                      "-w", "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ThrowawayCluster:
        try:
            return self.start()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
