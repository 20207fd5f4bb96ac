"""How many xdist workers ``-n auto`` starts: twice the cores this process may use, at least
4 and at most 8.

Most of the suite's time is spent waiting on subprocesses, databases and a browser, so two
workers a core keep the cores busy (on two cores, four workers ran the suite in 5 min 25 s
and eight in 6 min 11 s). Eight is the most the suite has been run with: every worker starts
its own Kafka-protocol broker and PostgreSQL connections, and a server's 100 connections are
shared by all of them.

The cores are those the scheduler gives this process and, in a container, its cgroup's CPU
quota: a container on a large host sees the host's cores but may run on two.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

LEAST, MOST = 4, 8


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _quota(cgroup)
    return max(1, min(cores or 1, math.ceil(quota) if quota else cores or 1))


def _quota(cgroup: Path) -> float | None:
    """The cgroup's CPU limit in cores (v2 ``cpu.max``, v1 ``cpu.cfs_*``); None if none."""
    try:
        limit, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        limit = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
        period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        return None if int(limit) <= 0 else int(limit) / int(period)
    except (OSError, ValueError):
        return None


def worker_count(cores: int) -> int:
    return max(LEAST, min(2 * cores, MOST))
