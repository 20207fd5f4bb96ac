"""``concord serve``'s applier and delivery as processes of their own (docs/architecture.md,
"Where latency comes from").

In one process the applier's CPU-bound batches hold the interpreter while the API and the
delivery loop wait their turn: at 1,000 changes/s on two cores, p99 accepted → webhook was
750-1,150 ms, and about 250 ms with the parts as processes. On PostgreSQL ``serve``
therefore starts ``concord apply --follow`` and ``concord deliver`` as its children, each on
an interpreter (and a core) of its own, and looks after them:

- a child that exits is started again, after 1 s and then longer (up to 30 s) while it keeps
  failing, and the server's health says "starting" meanwhile;
- children answer to the server alone (``hub.runtime.child``): they ignore SIGINT and
  SIGTERM, so a terminal's Ctrl-C or a service manager's SIGTERM to every process stops the
  server, which then stops them; they stop when the server closes their stdin (each finishes
  its batch), are killed if still running after the grace period, and die with the server
  however it ends (Linux's parent-death signal; elsewhere their stdin closes). A killed
  applier loses nothing (its transaction rolls back; the inbox keeps the changes);
- the applier writes one JSON line per batch to its stdout, which the server reads into its
  own metrics, so ``/metrics`` counts applied changes as it did with the thread.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from hub.environment import PARENT_ENV
from hub.services.batch import ApplyReport

log = logging.getLogger("concord.children")

ENTRY = ("-m", "hub.runtime.child")  # a worker's command: the CLI, signals set aside first
REPORT_FLAG = "--report-batches"  # ``apply --follow``: one JSON line per batch on stdout
FIRST_WAIT, LONGEST_WAIT = 1.0, 30.0  # seconds before a child that exited is started again
SETTLED = 60.0  # a child that ran this long before it exited starts again after FIRST_WAIT


@dataclass
class Child:
    """One supervised process: its command, and what its restarts have been."""

    name: str
    args: tuple[str, ...]  # after the interpreter: ``-m hub.runtime.child apply --follow ...``
    report: bool = False  # its stdout carries batch reports
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    wait: float = FIRST_WAIT / 2  # doubled at the first exit
    due: float = 0.0  # when it may start again, after it exited
    starts: int = 0
    readers: list[threading.Thread] = field(default_factory=list)


class Children:
    """Starts, restarts and stops ``serve``'s worker processes from one thread of its own (a
    process's death signal is tied to the thread that started it, so it must outlive them)."""

    def __init__(
        self,
        on_report: Callable[[ApplyReport, float], None] | None = None,
        env: Mapping[str, str] | None = None,
        grace: float = 10.0,
        children: list[Child] | None = None,
    ) -> None:
        self.children = children or [
            Child("applier", (*ENTRY, "apply", "--follow", REPORT_FLAG), report=True),
            Child("delivery", (*ENTRY, "deliver")),
        ]
        self.on_report = on_report
        self.env = {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}
        self.grace = grace
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="concord-children", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Every child is running (what the health check asks of a worker)."""
        with self._lock:
            return all(c.proc is not None and c.proc.poll() is None for c in self.children)

    def wake(self) -> None:
        """Called by ingest, as for the thread: nothing to do here. On PostgreSQL the inbox's
        trigger notifies the applier process at commit (``hub.store.listen``), which also
        covers changes accepted by other API processes; on SQLite it polls every
        ``CONCORD_WORKER_IDLE_SECONDS``."""

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.grace + 5)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for child in self.children:
                    try:
                        self._look_after(child)
                    except Exception:  # this thread must outlive the children (above)
                        log.exception("looking after the %s process failed", child.name)
                self._stop.wait(0.25)
        finally:
            self._end_all()

    def _look_after(self, child: Child) -> None:
        now = time.monotonic()
        if child.proc is not None:
            code = child.proc.poll()
            if code is None:
                return
            ran = now - child.started
            child.wait = next_wait(child.wait, ran)
            child.due = now + child.wait
            log.warning(
                "the %s process exited (code %s after %.0f s); starting it again in %.0f s",
                child.name,
                code,
                ran,
                child.wait,
                extra={"worker_process": child.name, "exit_code": code},
            )
            if child.proc.stdin is not None:  # our end of its pipe: one fd per start
                child.proc.stdin.close()
            with self._lock:
                child.proc = None
        if now >= child.due:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        cmd = [sys.executable, *child.args]
        try:
            proc = subprocess.Popen(
                cmd,
                env=self.env,
                stdin=subprocess.PIPE,  # closed by ``_end_all``: the child's signal to stop
                stdout=subprocess.PIPE if child.report else None,
                process_group=0,  # a terminal's Ctrl-C goes to the server, not past it
            )
        except OSError:
            log.exception("could not start the %s process", child.name)
            child.due = time.monotonic() + LONGEST_WAIT
            return
        with self._lock:
            child.proc, child.started = proc, time.monotonic()
        child.starts += 1
        if child.report and proc.stdout is not None:
            reader = threading.Thread(
                target=self._read_reports, args=(proc.stdout,), name=f"{child.name}-reports"
            )
            reader.daemon = True
            reader.start()
            child.readers = [r for r in child.readers if r.is_alive()] + [reader]

    def _read_reports(self, stream: IO[bytes]) -> None:
        """Until the child's stdout closes: each line a batch (``report_line``), into the
        server's metrics. A line that is not one is logged and skipped, and nothing stops
        the reading: a pipe left full would stall the applier."""
        try:
            for line in stream:
                try:
                    report, seconds = read_report(line)
                    if self.on_report is not None:
                        self.on_report(report, seconds)
                except Exception:
                    log.warning("could not count a batch report: %r", line[:200], exc_info=True)
        finally:
            stream.close()

    def _end_all(self) -> None:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            if proc.stdin is not None:
                proc.stdin.close()  # stop, after the batch or the requests in flight
        deadline = time.monotonic() + self.grace
        for proc in running:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("process %s did not stop in %.0f s; killed", proc.pid, self.grace)
                proc.kill()
                proc.wait()
        for child in self.children:
            for reader in child.readers:
                reader.join(1.0)


def next_wait(wait: float, ran: float) -> float:
    """How long a child that exited after running ``ran`` seconds waits to start again, when
    it waited ``wait`` before: a crash loop backs off (a bad setting fails at once, every
    time) while a crash after a long run is tried again soon."""
    return FIRST_WAIT if ran >= SETTLED else min(wait * 2, LONGEST_WAIT)


def report_line(report: ApplyReport, seconds: float) -> str:
    """One batch as the applier child tells its server."""
    return json.dumps(
        {
            "seconds": round(seconds, 6),
            "applied": report.applied,
            "stale": report.stale,
            "dead": report.dead,
            "events": report.events,
            "by_source": [[s, o, n] for (s, o), n in sorted(report.by_source.items())],
        }
    )


def read_report(line: bytes | str) -> tuple[ApplyReport, float]:
    body: dict[str, Any] = json.loads(line)
    counts = Counter({(str(s), str(o)): int(n) for s, o, n in body["by_source"]})
    report = ApplyReport(
        applied=int(body["applied"]),
        stale=int(body["stale"]),
        dead=int(body["dead"]),
        events=int(body["events"]),
        by_source=counts,
    )
    return report, float(body["seconds"])
