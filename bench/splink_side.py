"""Splink on the same tasks, in the same process, with models of the same shape as ours.

For people: the fields the task has, blocking rules that mirror the resource spec's (those on
fields the task lacks drop out), the share of matches estimated from an exact names-and-birth
date rule, u from random pairs, m by EM on two blocking rules (each holding out its own fields).
For companies: the client spec's fields and blocking rules, the same steps; Splink gets the
simple normal forms of website, phone, postcode, country and text fields that any Splink user
would prepare (here made with Concord's normalisers), but names only folded (case, accents,
punctuation): the legal-form and abbreviation handling of ``company_name`` is Concord's own.

Both sides are scored alike: auto at probability 0.99 (for a link, each left record's best
right record at or above it), review from 0.5. Splink has no runner-up rule, so its link
"auto" is simply the best pair. Its first ``predict()`` in a process pays DuckDB's start-up,
which the wall time includes. u is sampled with a fixed seed, so reruns agree.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import dataclass
from typing import Any

from bench.datasets import Task
from bench.scoring import Pair
from matching import normalise

__all__ = ["SplinkRun", "available", "run_splink", "version"]

T_AUTO, T_REVIEW = 0.99, 0.5


@dataclass(frozen=True)
class SplinkRun:
    """What Splink predicted on one task.

    Attributes:
        auto: Pairs at the auto tier (for link, at most one per left record).
        review: Review-tier pairs (dedupe) or left records with only review pairs (link).
        wall: Seconds from registering the data to the predictions in memory.
        review_left: For link, the left records with only review pairs.
    """

    auto: set[Pair]
    review: int
    wall: float
    review_left: frozenset[int] = frozenset()


def available() -> bool:
    """Whether Splink is installed."""
    return importlib.util.find_spec("splink") is not None


def version() -> str:
    """Splink's version."""
    import splink

    return str(splink.__version__)


def _person_model(fields: set[str]) -> tuple[list[Any], list[Any]]:
    import splink.comparison_library as cl
    from splink import block_on

    comparisons: list[Any] = [cl.ForenameSurnameComparison("given_name", "family_name")]
    if "date_of_birth" in fields:
        comparisons.append(
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            )
        )
    for f, comp in (
        ("address_line", cl.JaroWinklerAtThresholds("address_line", [0.92, 0.8])),
        ("city", cl.JaroWinklerAtThresholds("city", [0.92, 0.8])),
        ("postcode", cl.LevenshteinAtThresholds("postcode", [1])),
        ("region", cl.ExactMatch("region")),
    ):
        if f in fields:
            comparisons.append(comp)
    rules = [
        ("date_of_birth",),
        ("given_name", "family_name"),
        ("family_name", "postcode"),
        ("given_name", "postcode"),
        ("family_name", "city"),
        ("address_line", "postcode"),
        ("address_line", "city"),
        ("substr(given_name, 1, 3)", "substr(family_name, 1, 3)"),
        ("substr(family_name, 1, 3)", "substr(given_name, 1, 3)"),
        ("city", "postcode"),
        ("city", "substr(date_of_birth, 1, 4)"),
        ("substr(address_line, 1, 6)", "city"),
    ]
    blocking = [
        block_on(*cols)
        for cols in rules
        if all(c.split("(")[-1].split(",")[0] in fields for c in cols)
    ]
    return comparisons, blocking


def _company_model() -> tuple[list[Any], list[Any]]:
    import splink.comparison_library as cl
    from splink import block_on

    comparisons: list[Any] = [
        cl.JaroWinklerAtThresholds("name", [0.95, 0.88]),
        cl.ExactMatch("website"),
        cl.ExactMatch("phone"),
        cl.JaroWinklerAtThresholds("address_line", [0.95, 0.85]),
        cl.JaroWinklerAtThresholds("city", [0.92]),
        cl.LevenshteinAtThresholds("postcode", [1]),
        cl.ExactMatch("country"),
    ]
    blocking = [
        block_on("name_word", "country"),
        block_on("substr(name, 1, 4)", "city"),
        block_on("website"),
        block_on("phone"),
        block_on("postcode"),
    ]
    return comparisons, blocking


_PREPARE = {
    "name": normalise.folded,
    "website": normalise.website_domain,
    "phone": normalise.phone,
    "address_line": normalise.folded,
    "city": normalise.folded,
    "postcode": normalise.postcode,
    "country": normalise.country,
}


def _frame(task: Task, records: list[dict[str, object]], prefix: str) -> Any:
    pd: Any = importlib.import_module("pandas")  # a Splink dependency; no stubs installed
    fields = task.fields
    rows = []
    for k, rec in enumerate(records):
        row: dict[str, object] = {"uid": f"{prefix}{k}"}
        for f in fields:
            v = rec.get(f)
            if task.domain == "client" and f in _PREPARE:
                v = _PREPARE[f](v)
            row[f] = None if v is None else str(v)
        if task.domain == "client":
            name = row.get("name")
            row["name_word"] = str(name).removeprefix("the ").split(" ")[0] if name else None
        rows.append(row)
    df = pd.DataFrame(rows).astype("string")
    return df.where(df.notna(), None)


def run_splink(task: Task) -> SplinkRun:
    """Fit and predict with Splink on ``task``; the pairs use the task's record indices."""
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    link = task.kind == "link"
    frames = [_frame(task, task.left, "l")]
    if task.right is not None:
        frames.append(_frame(task, task.right, "r"))
    fields = set(task.fields)
    if task.domain == "client":
        comparisons, blocking = _company_model()
        deterministic: list[Any] = [block_on("name", "postcode")]
        em: list[tuple[str, ...]] = [("postcode",), ("name_word", "country")]
    else:
        comparisons, blocking = _person_model(fields)
        deterministic = [block_on("given_name", "family_name", "date_of_birth")]
        em = [("date_of_birth",), ("given_name", "family_name")]
    start = time.perf_counter()
    db = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only" if link else "dedupe_only",
        unique_id_column_name="uid",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
    )
    linker = Linker([db.register(f) for f in frames], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    for cols in em:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*cols))
    predicted: Any = linker.inference.predict(threshold_match_probability=T_REVIEW)
    scored = predicted.as_pandas_dataframe()
    wall = time.perf_counter() - start
    pairs = [
        (int(str(a)[1:]), int(str(b)[1:]), float(p), str(a)[0])
        for a, b, p in zip(
            scored["uid_l"], scored["uid_r"], scored["match_probability"], strict=True
        )
    ]
    if not link:
        auto = {(a, b) for a, b, p, _ in pairs if p >= T_AUTO}
        return SplinkRun(auto, sum(x[2] < T_AUTO for x in pairs), wall)
    best: dict[int, tuple[float, int]] = {}
    for a, b, p, side in pairs:
        left, right = (a, b) if side == "l" else (b, a)
        if left not in best or p > best[left][0]:
            best[left] = (p, right)
    auto = {(left, right) for left, (p, right) in best.items() if p >= T_AUTO}
    review = frozenset(left for left, (p, _) in best.items() if p < T_AUTO)
    return SplinkRun(auto, len(review), wall, review)
