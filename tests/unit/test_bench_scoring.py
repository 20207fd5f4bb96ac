"""The benchmark's arithmetic and its company generator: no I/O, no timing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bench.companies import generate
from bench.company_parts import COUNTRIES
from bench.scoring import Scores, blocking_recall, cluster_pairs, score


def test_scores_of_a_link_task() -> None:
    s = score([(0, 10), (1, 11), (2, 99)], [(0, 10), (1, 11), (2, 12), (3, 13)], dedupe=False)
    assert (s.predicted, s.hits, s.true, s.false) == (3, 2, 4, 1)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_a_wrong_merge_of_two_clusters_costs_every_pair_it_creates() -> None:
    truth = [(0, 1), (1, 2), (3, 4)]  # clusters {0, 1, 2} and {3, 4}: 3 + 1 true pairs
    s = score([(0, 1), (1, 2), (2, 3), (3, 4)], truth, dedupe=True)
    assert (s.predicted, s.true, s.hits) == (10, 4, 4)
    assert s.precision == pytest.approx(0.4)
    assert s.recall == 1.0


def test_dedupe_pairs_are_closed_and_unordered() -> None:
    assert cluster_pairs([(2, 0), (0, 1)]) == {(0, 1), (0, 2), (1, 2)}
    assert score([(1, 0)], [(0, 1)], dedupe=True).f1 == 1.0


def test_empty_predictions_and_truth() -> None:
    assert Scores(0, 5, 0).precision == 1.0 and Scores(0, 5, 0).f1 == 0.0
    assert Scores(0, 0, 0).recall == 1.0


def test_blocking_recall_counts_true_pairs_among_candidates() -> None:
    i, j = np.array([0, 0, 2], dtype=np.int64), np.array([1, 3, 3], dtype=np.int64)
    assert blocking_recall((i, j), [(1, 0), (2, 3), (1, 2), (0, 4)], dedupe=True) == 0.5
    # link: orientation matters, (left, right)
    assert blocking_recall((i, j), [(0, 1), (1, 0)], dedupe=False) == 0.5
    empty = np.empty(0, dtype=np.int64)
    assert blocking_recall((empty, empty), [(0, 1)], dedupe=True) == 0.0
    assert blocking_recall((empty, empty), [], dedupe=False) == 1.0


def test_company_set_is_deterministic_from_its_seed() -> None:
    a, b, c = generate(400, 100, seed=3), generate(400, 100, seed=3), generate(400, 100, seed=4)
    assert a == b
    assert a.golden != c.golden
    assert (len(a.golden), len(a.acquired), len(a.truth)) == (400, 100, 100)


def test_company_truth_is_consistent() -> None:
    s = generate(600, 200, seed=9)
    linked = [g for g in s.truth if g is not None]
    assert all(0 <= g < len(s.golden) for g in linked)
    assert len(set(linked)) == len(linked)  # each golden entity copied at most once
    assert 0 < len(linked) < len(s.truth)  # copies and new firms
    names = {c.code: c.name for c in COUNTRIES}
    for k, g in enumerate(s.truth):
        if g is not None:  # a copy keeps the country, as its code or its name
            code = s.golden[g]["country"]
            assert s.acquired[k]["country"] in (code, names[code])
    for kind in ("new_sister", "other_country", "new_trust"):
        assert all(s.truth[a] is None for a, _ in s.hard_cases[kind])


def test_company_hard_cases_are_present() -> None:
    s = generate(500, 300, seed=1)
    g = s.golden
    sisters = s.hard_cases["sisters"]
    assert sisters and all(len(group) >= 2 for group in sisters)
    for group in sisters:  # distinct entities sharing a group website and a switchboard
        assert len({g[i]["website"] for i in group}) == 1
        assert len({g[i]["phone"] for i in group}) == 1
        assert len({g[i]["name"] for i in group}) == len(group)
    websites = [r["website"] for r in g if "website" in r]
    assert len(websites) > len(set(websites))
    a, b = s.hard_cases["two_countries"][0]
    assert g[a]["country"] != g[b]["country"]
    trustee, *trusts = s.hard_cases["trusts"][0]
    assert trusts and all(g[t]["address_line"] == g[trustee]["address_line"] for t in trusts)
    assert all(("Trust" in g[t]["name"] or "Settlement" in g[t]["name"]) for t in trusts)
    for kind in ("new_sister", "other_country", "new_trust"):
        assert s.hard_cases[kind], kind
    names = " ".join(r["name"] for r in g)
    for form in ("Ltd", "GmbH", "S.A.", "B.V.", "Inc.", "Pty Ltd", "AB", "Oy", "S.p.A."):
        assert form in names, form
    noisy = " ".join(r["name"] for r in s.acquired)
    assert any(word in noisy for word in ("Intl", "Corp", "Co.", "Tech", "Svcs", " and "))


def test_the_product_imports_no_benchmark_and_says_so_when_bench_is_missing() -> None:
    """``concord`` imports ``bench`` only when a bench command runs; without it, one line."""
    probe = (
        "import sys; import hub.cli, hub.app, matching;"
        "print(any(m == 'bench' or m.startswith('bench.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    missing = (
        "import sys; sys.modules['bench'] = None; from hub.cli import app;"
        "app(['bench', 'match', '--no-latency'])"
    )
    run = subprocess.run([sys.executable, "-c", missing], capture_output=True, text=True)
    assert run.returncode == 2
    assert "bench" in run.stderr and len(run.stderr.strip().splitlines()) == 1
