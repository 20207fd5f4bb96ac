"""Concord matching: normalisers, deterministic keys and matchers, free of hub and frameworks.

This package is a pure library so that it can be tested without I/O, reused by the bulk
``concord match`` commands and swapped behind the hub's matcher port.
"""

from matching.deterministic import DeterministicMatcher
from matching.keys import DeterministicKey, KeyPart, key_name
from matching.normalise import (
    NORMALISERS,
    Normaliser,
    code,
    country,
    email,
    identity,
    tax_id,
    text,
    website_domain,
)
from matching.result import CANDIDATE_TIERS, Candidate, Tier

__all__ = [
    "CANDIDATE_TIERS",
    "NORMALISERS",
    "Candidate",
    "DeterministicKey",
    "DeterministicMatcher",
    "KeyPart",
    "Normaliser",
    "Tier",
    "code",
    "country",
    "email",
    "identity",
    "key_name",
    "tax_id",
    "text",
    "website_domain",
]
