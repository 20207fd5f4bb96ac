"""The suite's worker count (``-n auto``): twice the usable cores within 4..8, where usable
means the affinity mask and, in a container, the cgroup's CPU quota."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.workers import usable_cores, worker_count


@pytest.mark.parametrize(("cores", "workers"), [(1, 4), (2, 4), (3, 6), (4, 8), (64, 8)])
def test_twice_the_cores_within_four_to_eight(cores: int, workers: int) -> None:
    assert worker_count(cores) == workers


def test_a_cgroup_v2_quota_caps_the_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert usable_cores(tmp_path) == 2  # 1.5 cores of quota: round up
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cores(tmp_path) == 64


def test_a_cgroup_v1_quota_caps_the_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)))
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(tmp_path) == 3
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cores(tmp_path) == 16


def test_no_cgroup_leaves_the_affinity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2})
    assert usable_cores(tmp_path / "absent") == 3
