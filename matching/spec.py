"""Match specs: per domain, what to compare, how to block, the prior model and the tiers.

A :class:`MatchSpec` is data: comparisons and blocking rules declared as small value objects,
validated once when declared. The m/u values shipped in :data:`DEFAULT_SPECS` are *priors*
(reasoned guesses of how often each level occurs among matches and non-matches), so the hub can
score from its first record; bulk runs fit them to the data (:func:`matching.bulk.fit`) and
steward decisions refine them (:meth:`matching.model.FellegiSunterModel.with_labels`).

Tier thresholds are on the match probability and are deliberately round, not tuned to any test
set: ``auto`` at 0.99 (odds of 99 to 1 before a record links without a human), ``review`` at
0.5 (more likely a match than not).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from matching.blocking import BlockPart, Or, block_on
from matching.compare import (
    Comparison,
    ExactMatch,
    JaroWinklerAtThresholds,
    LevenshteinAtThresholds,
    TokenRatioAtThresholds,
)
from matching.compare_dates import DateComparison
from matching.compare_names import NamesSwapped
from matching.model import FellegiSunterModel

__all__ = ["DEFAULT_SPECS", "MatchSpec", "client_spec", "project_spec", "resource_spec"]


@dataclass(frozen=True)
class MatchSpec:
    """How one domain is matched.

    Attributes:
        domain: Domain name (``client``, ``resource``, ``project``...).
        comparisons: One comparison per compared field; labels must be distinct.
        blocking: Union of blocking rules that gather candidates.
        prior: Probability that two random records of the domain match. ``1e-4`` suits a hub
            of about ten thousand records per domain; bulk fitting replaces it.
        t_auto: Probability at or above which a pair links without a steward.
        t_review: Probability at or above which a pair is proposed to a steward.
        runner_up_bits: A winner whose runner-up (itself at review level) is within this many
            bits of weight goes to review instead: two golden records are then plausible.
        model: Fitted model; ``None`` uses the comparisons' prior m/u and ``prior``.
        identity: Labels of the comparisons that say *who* a record is (a name). A pair links
            without a steward only if one of them agrees (any level but "else"): a website,
            phone, e-mail or address is evidence, never identity, because sister companies
            share a group website and a switchboard and a team shares a mailbox. Empty: no
            such requirement.
        evidence: Labels of the comparisons whose values can be *generic*: a value held by
            ``generic_at`` or more golden records (a group website, a switchboard, a registered
            agent's address, ``info@``, a placeholder postcode) says nothing about which of
            them a record is, so its agreement weighs 0 and the explanation says why.
        generic_at: How many golden records must hold one value of an evidence field before
            it counts as generic. Two sister companies are already a warning; three make a
            pattern that no single-entity identifier would show.
        localities: Evidence fields whose values many records share by nature (a postcode):
            one of their values is generic only when at least ``generic_share`` of all golden
            records hold it too (a placeholder such as ``ZZ9 9ZZ``); below that, a shared
            value weighs by its frequency like any other.
        generic_share: See ``localities``.
        max_per_source: How many live records of one source system a golden record may hold
            before an automatic link adds another one of that source. One source system keeps
            its own records apart on purpose (two CRM accounts are two clients unless a
            steward says otherwise), so by default a second one waits for review.

    Raises:
        ValueError: On no comparisons, duplicate labels, or thresholds out of order.
    """

    domain: str
    comparisons: tuple[Comparison, ...]
    blocking: Or
    prior: float = 1e-4
    t_auto: float = 0.99
    t_review: float = 0.5
    runner_up_bits: float = 5.0
    model: FellegiSunterModel | None = field(default=None, compare=False)
    identity: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    generic_at: int = 3
    localities: tuple[str, ...] = ()
    generic_share: float = 0.01
    max_per_source: int = 1

    def __post_init__(self) -> None:
        """Validate at declaration."""
        comparisons = tuple(self.comparisons)
        object.__setattr__(self, "comparisons", comparisons)
        if not comparisons:
            raise ValueError(f"match spec {self.domain!r} has no comparisons")
        labels = [c.label for c in comparisons]
        if len(set(labels)) != len(labels):
            raise ValueError(f"match spec {self.domain!r}: comparison labels repeat: {labels}")
        if not 0.0 < self.t_review <= self.t_auto < 1.0:
            raise ValueError(
                f"match spec {self.domain!r}: need 0 < t_review <= t_auto < 1, "
                f"got t_review={self.t_review}, t_auto={self.t_auto}"
            )
        if not 0.0 < self.prior < 1.0:
            raise ValueError(f"match spec {self.domain!r}: prior must lie within (0, 1)")
        if self.model is not None and [f.comparison for f in self.model.fields] != list(
            comparisons
        ):
            raise ValueError(f"match spec {self.domain!r}: model does not fit the comparisons")
        object.__setattr__(self, "identity", tuple(self.identity))
        object.__setattr__(self, "evidence", tuple(self.evidence))
        object.__setattr__(self, "localities", tuple(self.localities))
        if set(self.localities) - set(self.evidence):
            raise ValueError(f"match spec {self.domain!r}: localities must be evidence fields")
        if not 0.0 < self.generic_share <= 1.0:
            raise ValueError(f"match spec {self.domain!r}: generic_share must lie within (0, 1]")
        for which in ("identity", "evidence"):
            unknown = [x for x in getattr(self, which) if x not in labels]
            if unknown:
                raise ValueError(
                    f"match spec {self.domain!r}: {which} names no comparison: {unknown}"
                )
        if self.generic_at < 2:
            raise ValueError(f"match spec {self.domain!r}: generic_at must be at least 2")
        if self.max_per_source < 1:
            raise ValueError(f"match spec {self.domain!r}: max_per_source must be at least 1")

    @property
    def fields(self) -> list[str]:
        """Canonical fields read by comparisons and blocking rules."""
        seen = dict.fromkeys(c.field for c in self.comparisons)
        for rule in self.blocking.rules:
            seen.update(dict.fromkeys(p.field for p in rule.parts))
        return list(seen)

    @property
    def labels(self) -> list[str]:
        """Explanation labels, one per comparison."""
        return [c.label for c in self.comparisons]

    def is_generic(self, label: str, holders: int, population: int) -> bool:
        """Whether a value of comparison ``label`` that ``holders`` of ``population`` records
        hold is generic: shared so widely that agreeing on it says nothing (see ``evidence``
        and ``localities``)."""
        if label not in self.evidence or holders < self.generic_at:
            return False
        if label in self.localities:
            return population > 0 and holders >= self.generic_share * population
        return True

    def current_model(self) -> FellegiSunterModel:
        """The fitted model, or the prior one built from the declaration."""
        return self.model or FellegiSunterModel.from_comparisons(self.comparisons, self.prior)

    def with_model(self, model: FellegiSunterModel) -> MatchSpec:
        """The same spec with a fitted model."""
        return replace(self, model=model)


def client_spec() -> MatchSpec:
    """Clients: name, website, phone, address_line, city, postcode, country.

    Names are compared after :func:`matching.names.company_name` with a token-sort ratio, not
    Jaro-Winkler, whose prefix bonus would make sister companies ("Acme Holdings" / "Acme
    Services") look alike. Disagreeing on country is strong evidence against a match.
    """
    return MatchSpec(
        domain="client",
        comparisons=(
            TokenRatioAtThresholds(
                "name",
                (95, 88),
                normaliser="company_name",
                term_frequency=True,
                ignore_spaces=True,
                # Two random legal entities rarely share a normalised name: registries keep
                # names unique within a country. The hub counts how many golden records hold
                # each name, so a common one ("holdings") weighs by its real frequency.
                m=(0.75, 0.12, 0.08, 0.05),
                u=(1e-5, 2e-5, 1e-4, 1 - 1.3e-4),
            ),
            ExactMatch("website", normaliser="website", m=(0.9, 0.1), u=(1e-5, 1 - 1e-5)),
            ExactMatch("phone", normaliser="phone", m=(0.8, 0.2), u=(1e-5, 1 - 1e-5)),
            TokenRatioAtThresholds(
                "address_line",
                (95, 85),
                normaliser="folded",
                m=(0.7, 0.15, 0.05, 0.1),
                u=(0.0005, 0.001, 0.005, 0.9935),
            ),
            JaroWinklerAtThresholds(
                "city", (0.92,), normaliser="folded", m=(0.85, 0.1, 0.05), u=(0.01, 0.01, 0.98)
            ),
            LevenshteinAtThresholds(
                "postcode",
                (1,),
                normaliser="postcode",
                m=(0.85, 0.1, 0.05),
                u=(0.001, 0.005, 0.994),
            ),
            ExactMatch("country", normaliser="country", m=(0.98, 0.02), u=(0.3, 0.7)),
        ),
        identity=("name",),
        # a business postcode shared by three client companies is one building (a group's
        # head office, a registered agent), so it counts like an address
        evidence=("website", "phone", "address_line", "postcode"),
        blocking=Or(
            block_on(
                BlockPart("name", "company_name", first_token=True), BlockPart("country", "country")
            ),
            block_on(BlockPart("name", "company_name", length=4), BlockPart("city", "folded")),
            block_on(BlockPart("website", "website")),
            block_on(BlockPart("phone", "phone")),
            block_on(BlockPart("postcode", "postcode")),
        ),
    )


def resource_spec() -> MatchSpec:
    """Resources: names, e-mail, phone, date of birth, address, employee id.

    Given names pass through the nickname table; both names are term-frequency adjusted.
    """
    return MatchSpec(
        domain="resource",
        comparisons=(
            JaroWinklerAtThresholds(
                "given_name",
                (0.92, 0.8),
                normaliser="given_name",
                term_frequency=True,
                m=(0.75, 0.1, 0.08, 0.07),
                u=(0.005, 0.005, 0.02, 0.97),
            ),
            JaroWinklerAtThresholds(
                "family_name",
                (0.92, 0.8),
                normaliser="person_name",
                term_frequency=True,
                m=(0.75, 0.1, 0.08, 0.07),
                u=(0.001, 0.003, 0.01, 0.986),
            ),
            NamesSwapped("given_name", other="family_name"),
            ExactMatch("email", normaliser="email", m=(0.8, 0.2), u=(1e-5, 1 - 1e-5)),
            ExactMatch("phone", normaliser="phone", m=(0.7, 0.3), u=(1e-5, 1 - 1e-5)),
            DateComparison("date_of_birth"),
            # Jaro-Winkler, not a token ratio: keying errors in a street split or join words
            # ("kingscote crescent" / "kingscotecrescent"), which token sorting punishes.
            JaroWinklerAtThresholds(
                "address_line",
                (0.92, 0.8),
                normaliser="folded",
                m=(0.7, 0.15, 0.05, 0.1),
                u=(0.0005, 0.002, 0.03, 0.9675),
            ),
            JaroWinklerAtThresholds(
                "city",
                (0.92, 0.8),
                normaliser="folded",
                m=(0.8, 0.1, 0.05, 0.05),
                u=(0.005, 0.005, 0.02, 0.97),
            ),
            # Two edits: two swapped digits are one keying error.
            LevenshteinAtThresholds(
                "postcode",
                (1, 2),
                normaliser="postcode",
                m=(0.8, 0.1, 0.06, 0.04),
                u=(0.001, 0.01, 0.05, 0.939),
            ),
            ExactMatch("region", normaliser="folded", m=(0.95, 0.05), u=(0.2, 0.8)),
            ExactMatch("employee_id", normaliser="code", m=(0.9, 0.1), u=(1e-5, 1 - 1e-5)),
        ),
        # who a person is: a name or the birth date; an e-mail, phone or address is evidence
        identity=("given_name", "family_name", "given_name/family_name swapped", "date_of_birth"),
        # people's postcodes are shared by their neighbours: generic only if a placeholder
        evidence=("email", "phone", "address_line", "postcode"),
        localities=("postcode",),
        blocking=Or(
            block_on(BlockPart("email", "email")),
            block_on(BlockPart("phone", "phone")),
            block_on(BlockPart("employee_id", "code")),
            block_on(BlockPart("date_of_birth", "date")),
            block_on(
                BlockPart("given_name", "person_name"),
                BlockPart("family_name", "person_name"),
                name="names",
            ),
            block_on(
                BlockPart("family_name", "person_name"),
                BlockPart("given_name", "person_name"),
                name="names",
            ),
            block_on(BlockPart("family_name", "person_name"), BlockPart("postcode", "postcode")),
            block_on(BlockPart("given_name", "given_name"), BlockPart("postcode", "postcode")),
            block_on(BlockPart("family_name", "person_name"), BlockPart("city", "folded")),
            block_on(BlockPart("address_line", "folded"), BlockPart("postcode", "postcode")),
            block_on(BlockPart("address_line", "folded"), BlockPart("city", "folded")),
            # Typos in both names, or both names swapped with a typo: their first letters
            # still meet, in either order (one rule name, so the two orders share keys).
            block_on(
                BlockPart("given_name", "person_name", length=3),
                BlockPart("family_name", "person_name", length=3),
                name="names3",
            ),
            block_on(
                BlockPart("family_name", "person_name", length=3),
                BlockPart("given_name", "person_name", length=3),
                name="names3",
            ),
            block_on(BlockPart("city", "folded"), BlockPart("postcode", "postcode")),
            block_on(BlockPart("city", "folded"), BlockPart("date_of_birth", "text", length=4)),
            block_on(BlockPart("address_line", "folded", length=6), BlockPart("city", "folded")),
            block_on(
                BlockPart("address_line", "folded", length=6), BlockPart("postcode", "postcode")
            ),
        ),
    )


def project_spec() -> MatchSpec:
    """Projects: code and name within the same golden client (``client`` is its golden id)."""
    return MatchSpec(
        domain="project",
        comparisons=(
            # A code is an identifier: PRJ-1 and PRJ-10 are two projects, so a near miss is
            # no evidence, and a different code is strong evidence against.
            ExactMatch("code", normaliser="code", m=(0.98, 0.02), u=(0.001, 0.999)),
            TokenRatioAtThresholds(
                "name",
                (95, 85),
                normaliser="folded",
                m=(0.6, 0.2, 0.1, 0.1),
                u=(0.001, 0.002, 0.01, 0.987),
            ),
            # Projects of one client are common: sharing the client says less than it seems.
            ExactMatch("client", normaliser="identity", m=(0.99, 0.01), u=(0.02, 0.98)),
        ),
        blocking=Or(
            block_on(BlockPart("client", "identity")),
            block_on(BlockPart("code", "code")),
        ),
    )


DEFAULT_SPECS = {"client": client_spec, "resource": resource_spec, "project": project_spec}
"""Builders of the default spec of each domain, by domain name."""
