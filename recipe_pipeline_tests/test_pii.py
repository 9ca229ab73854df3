"""PII scrubbing: the shapes people type are caught, cooking text survives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe_pipeline.pii import PII_KINDS, find_pii, luhn_valid, scrub_messages, scrub_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe+recipes@example.co.uk please", "mail me at [EMAIL] please"),
        ("call (555) 123-4567 tonight", "call [PHONE] tonight"),
        ("call 555-123-4567", "call [PHONE]"),
        ("call 415.555.0132", "call [PHONE]"),
        ("my number is 2025550143", "my number is [PHONE]"),
        ("ring +44 20 7946 0958 after six", "ring [PHONE] after six"),
        ("mobile 07700 900123", "mobile [PHONE]"),
        ("+1 202 555 0143 is my cell", "[PHONE] is my cell"),
        ("card 4111 1111 1111 1111 thanks", "card [CARD] thanks"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("amex 378282246310005", "amex [CARD]"),
        ("visa 4012888888881881!", "visa [CARD]!"),
        ("email a@b.io or call 555-123-4567", "email [EMAIL] or call [PHONE]"),
        ("call 625/949-6190", "call [PHONE]"),
        ("my IBAN is GB82 WEST 1234 5698 7654 32 thanks", "my IBAN is [IBAN] thanks"),
        ("iban de89370400440532013000", "iban [IBAN]"),
        ("my SSN is 123-45-6789", "my SSN is [SSN]"),
        ("ssn 123 45 6789", "ssn [SSN]"),
        ("SSN: 123456789", "SSN: [SSN]"),
        ("router 192.168.1.20 is down", "router [IP] is down"),
        ("from 2001:db8:85a3::8a2e:370:7334 today", "from [IP] today"),
        ("I live at 221B Baker Street, London.", "I live at [ADDRESS]."),
        ("send it to Flat 3, 12 Oak Avenue please", "send it to [ADDRESS]"),  # the clause after the trigger goes
        ("deliver to 1600 Pennsylvania Ave NW", "deliver to [ADDRESS]"),
        ("my name is Sarah Connor and I bake", "my name is [NAME] and I bake"),
        ("hi, my name is priya", "hi, my name is [NAME]"),
        ("Call me Ishmael", "Call me [NAME]"),
    ],
)
def test_pii_is_replaced_by_typed_placeholders(text, expected):
    assert scrub_text(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Bake at 350F (180C) for 25-30 minutes.",
        "Serves 4-6; use 1 1/2 cups of flour and a 9x13 pan.",
        "Start at 10:30, rest until 11:45.",
        "My grandmother made this in 1987, about 2500 calories for the whole tray.",
        "Order number 1234567812345678 arrived",  # 16 digits that fail Luhn
        "Simmer 2-3 hours, 12-15 minutes per pound, 500 g beef, 1,200 ml stock.",
        "From 2019 to 2024 I baked 1200 loaves",
        "Calories: 250-300-350 for small, medium and large portions.",
        "I live at altitude, 5000 feet up; how do I adjust?",
        "Ship to table at 180C, rest 14 minutes.",
        "Call me when the timer hits 10:30.",
        "My name is on the recipe card.",
        "Set the timer for 10:30:15 and the ratio 1:2:3.",
        "Invalid IBAN GB82 WEST 1234 5698 7654 33 stays",
        "Use 3 Roma Tomatoes and 2 Red Onions.",
        "In 1999-2005 I ran a bakery.",
        "SSN-like 000-12-3456 and 666-12-3456 are never issued",
    ],
)
def test_cooking_text_is_left_alone(text):
    assert scrub_text(text) == (text, [])


def test_luhn():
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_cards_are_not_taken_for_phone_numbers():
    assert find_pii("pay with 4111 1111 1111 1111")[0].kind == "CARD"


def test_scrub_messages_counts_per_kind_and_per_message():
    result = scrub_messages(["a@b.com and c@d.org", None, "plain", "call 555-123-4567, card 4111111111111111"])
    assert result.texts == ["[EMAIL] and [EMAIL]", None, "plain", "call [PHONE], card [CARD]"]
    assert result.redactions == [2, 0, 0, 2]
    assert {k: v for k, v in result.counts.items() if v} == {"EMAIL": 2, "CARD": 1, "PHONE": 1}
    assert set(result.counts) == set(PII_KINDS)


def test_the_vectorized_prefilter_agrees_with_the_single_message_path():
    import pyarrow as pa

    from recipe_pipeline.pii import candidate_mask, could_hold_pii

    texts = ["plain cooking", "call 555-123-4567", None, "my name is Jo", "10.0.0.1", "a@b.co", "Bake 20 min", "::1 fe80::1"]
    assert candidate_mask(pa.array(texts)) == [bool(t) and could_hold_pii(t) for t in texts]
    assert scrub_messages(pa.chunked_array([texts[:3], texts[3:]])).texts == scrub_messages(texts).texts


chat_text = (
    st.text(alphabet=st.sampled_from("0123456789 -()+.@abcxyz:/\n"), max_size=80)
    | st.text(max_size=60)
    | st.builds(lambda a, b: a + b, st.sampled_from(["my name is ", "I live at ", "SSN ", "IBAN GB82 ", "call me ", "deliver to "]), st.text(alphabet="0123456789 ABCabc,.-", max_size=40))
)


@settings(max_examples=300, deadline=None)
@given(chat_text)
def test_scrubbing_never_raises_and_is_idempotent(text):
    once, _ = scrub_text(text)
    assert scrub_text(once) == (once, [])


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["jo@x.com", "(555) 123-4567", "4111 1111 1111 1111", "+44 20 7946 0958"]), st.text(alphabet="abc .,!", max_size=20), st.text(alphabet="abc .,!", max_size=20))
def test_pii_inside_any_sentence_is_caught(pii, before, after):
    text = f"{before} {pii} {after}"
    scrubbed, kinds = scrub_text(text)
    assert pii not in scrubbed and kinds
