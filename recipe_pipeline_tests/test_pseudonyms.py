"""Keyed, stable pseudonyms (the seed's public-salt sha256 is what we replace)."""

from __future__ import annotations

import hashlib
import hmac
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe_pipeline.pseudonyms import Pseudonymizer

USER_IDS = ["user-42", "user-43", "u", "00000000-0000-4000-8000-000000000000", "josé@example.com", "用户"]


@pytest.mark.parametrize("user_id", USER_IDS)
def test_a_pseudonym_is_hex_long_enough_and_hides_the_id(user_id):
    value = Pseudonymizer("key-one").pseudonym(user_id)
    assert len(value) >= 16
    assert set(value) <= set(string.hexdigits.lower())
    assert user_id not in value


@pytest.mark.parametrize("user_id", USER_IDS)
def test_pseudonyms_are_stable_across_calls_and_instances(user_id):
    first = Pseudonymizer("key-one")
    value = first.pseudonym(user_id)
    first.pseudonym("someone-else")  # each call starts from the keyed state, never from the last call's
    assert first.pseudonym(user_id) == value
    assert Pseudonymizer("key-one").pseudonym(user_id) == value
    assert Pseudonymizer(b"key-one").pseudonym(user_id) == value  # str and bytes keys agree


@pytest.mark.parametrize("user_id", USER_IDS)
def test_a_different_key_gives_a_different_pseudonym(user_id):
    assert Pseudonymizer("key-one").pseudonym(user_id) != Pseudonymizer("key-two").pseudonym(user_id)
    assert Pseudonymizer("key-one").pseudonym(user_id) != Pseudonymizer("key-one ").pseudonym(user_id)


@pytest.mark.parametrize("user_id", USER_IDS)
def test_not_recomputable_without_the_key(user_id):
    value = Pseudonymizer("key-one").pseudonym(user_id)
    n = len(value)
    unkeyed = hashlib.sha256(user_id.encode()).hexdigest()
    assert value != unkeyed and value != unkeyed[:n]
    assert value != hashlib.md5(user_id.encode()).hexdigest()[:n]
    # the seed's sha256(date:user_id), for a few days
    for day in ("2025-01-01", "2025-01-02", "2025-06-30"):
        assert value != hashlib.sha256(f"{day}:{user_id}".encode()).hexdigest()[:n]


def test_it_is_the_keyed_hmac_sha256_the_design_names():
    value = Pseudonymizer("key-one").pseudonym("user-42")
    assert value == hmac.new(b"key-one", b"user-42", hashlib.sha256).hexdigest()[: len(value)]


def test_distinct_users_get_distinct_pseudonyms():
    p = Pseudonymizer("k")
    ids = [f"user-{i}" for i in range(2000)]
    assert len(set(p.pseudonyms(ids))) == len(ids)


def test_batch_form_matches_one_by_one():
    p = Pseudonymizer("k")
    ids = ["u1", "u2", "u1", "u3", "u2"]
    assert p.pseudonyms(ids) == [p.pseudonym(i) for i in ids]
    assert p.pseudonyms(iter(ids)) == p.pseudonyms(ids)
    assert p.pseudonyms([]) == []


@pytest.mark.parametrize("key", ["", b""])
def test_an_empty_key_is_refused(key):
    with pytest.raises(ValueError):
        Pseudonymizer(key)


# HMAC zero-pads short keys, so "k" and "k\x00" are one key; keys are text without NULs (and
# without lone surrogates, which no UTF-8 source can hold).
_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(_keys, _keys, st.text())
def test_keyed_and_stable_for_any_ids(key_a, key_b, user_id):
    a = Pseudonymizer(key_a)
    assert a.pseudonym(user_id) == Pseudonymizer(key_a).pseudonym(user_id)
    if key_a != key_b:
        assert a.pseudonym(user_id) != Pseudonymizer(key_b).pseudonym(user_id)
