"""The stand-in hash an unknown steward name is verified against costs what a real one does."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import VerifyMismatchError
from argon2.low_level import Type

from stewardship import passwords


@pytest.mark.parametrize("hasher", [PasswordHasher(), PasswordHasher(1, 8, 1)])
def test_the_dummy_hash_has_the_hasher_s_parameters_and_matches_nothing(
    hasher: PasswordHasher,
) -> None:
    dummy = passwords._dummy_for(hasher)
    real = hasher.hash("a real password")
    # same cost: argon2 reads its parameters from the string, so these decide the work
    assert not hasher.check_needs_rehash(dummy)
    params = extract_parameters(dummy)
    assert params == extract_parameters(real)
    assert params.type is Type.ID
    with pytest.raises(VerifyMismatchError):  # a well-formed hash, not an invalid one
        hasher.verify(dummy, "a real password")
    assert dummy != passwords._dummy_for(hasher)  # random, so no password is known to match


def test_an_unknown_name_is_verified_and_refused() -> None:
    assert passwords.verify(None, "not a password of anyone") is False
    assert passwords.verify(None, "") is False
    good = passwords.hash_password("correct horse")
    assert passwords.verify(good, "correct horse") is True
    assert passwords.verify(good, "wrong horse") is False
