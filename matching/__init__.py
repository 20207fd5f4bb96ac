"""Concord matching: normalisers, keys, blocking, comparisons and Fellegi-Sunter scoring.

This package is a pure library (no hub or framework imports) so that it can be tested without
I/O, reused by the bulk ``concord match`` commands and swapped behind the hub's matcher port.
"""

from matching.blocking import BlockOn, BlockPart, Or, block_on
from matching.bulk import LinkedPair, candidate_pairs, dedupe, fit, link, score_pairs
from matching.compare import (
    NULL_LEVEL,
    Comparison,
    ExactMatch,
    JaroWinklerAtThresholds,
    LevenshteinAtThresholds,
    TokenRatioAtThresholds,
)
from matching.compare_dates import DateComparison
from matching.compare_names import NamesSwapped
from matching.deterministic import DeterministicMatcher
from matching.index import BlockingIndex
from matching.keys import DeterministicKey, KeyPart, key_name
from matching.matcher import FellegiSunterMatcher, Views
from matching.model import (
    FellegiSunterModel,
    FieldModel,
    estimate_u,
    expectation_maximisation,
    probability,
    term_frequencies,
)
from matching.normalise import (
    NORMALISERS,
    Normaliser,
    code,
    company_name,
    country,
    date,
    email,
    folded,
    given_name,
    identity,
    person_name,
    phone,
    postcode,
    tax_id,
    text,
    website_domain,
)
from matching.result import CANDIDATE_TIERS, Candidate, Tier
from matching.spec import DEFAULT_SPECS, MatchSpec, client_spec, project_spec, resource_spec
from matching.tiers import assign_tiers
from matching.views import kept_views

__all__ = [
    "CANDIDATE_TIERS",
    "DEFAULT_SPECS",
    "NORMALISERS",
    "NULL_LEVEL",
    "BlockOn",
    "BlockPart",
    "BlockingIndex",
    "Candidate",
    "Comparison",
    "DateComparison",
    "DeterministicKey",
    "DeterministicMatcher",
    "ExactMatch",
    "FellegiSunterMatcher",
    "FellegiSunterModel",
    "FieldModel",
    "JaroWinklerAtThresholds",
    "KeyPart",
    "LevenshteinAtThresholds",
    "LinkedPair",
    "MatchSpec",
    "NamesSwapped",
    "Normaliser",
    "Or",
    "Tier",
    "TokenRatioAtThresholds",
    "Views",
    "assign_tiers",
    "block_on",
    "candidate_pairs",
    "client_spec",
    "code",
    "company_name",
    "country",
    "date",
    "dedupe",
    "email",
    "estimate_u",
    "expectation_maximisation",
    "fit",
    "folded",
    "given_name",
    "identity",
    "kept_views",
    "key_name",
    "link",
    "person_name",
    "phone",
    "postcode",
    "probability",
    "project_spec",
    "resource_spec",
    "score_pairs",
    "tax_id",
    "term_frequencies",
    "text",
    "website_domain",
]
