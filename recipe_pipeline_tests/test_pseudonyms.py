"""Keyed, stable pseudonyms."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from recipe_pipeline.pseudonyms import Pseudonymizer


def test_pseudonyms_are_keyed_stable_and_not_the_seeds_hash():
    a, b = Pseudonymizer("key-one"), Pseudonymizer("key-two")
    value = a.pseudonym("user-42")
    assert value == a.pseudonym("user-42") == Pseudonymizer(b"key-one").pseudonym("user-42")
    assert value != b.pseudonym("user-42")
    assert len(value) >= 16 and int(value, 16) >= 0
    assert value == hmac.new(b"key-one", b"user-42", hashlib.sha256).hexdigest()[: len(value)]
    assert value not in (hashlib.sha256(b"user-42").hexdigest()[: len(value)], hashlib.sha256(b"2025-01-01:user-42").hexdigest()[: len(value)])


def test_batch_form_matches_one_by_one():
    p = Pseudonymizer("k")
    ids = ["u1", "u2", "u1", "u3"]
    assert p.pseudonyms(ids) == [p.pseudonym(i) for i in ids]


def test_an_empty_key_is_refused():
    with pytest.raises(ValueError):
        Pseudonymizer("")
