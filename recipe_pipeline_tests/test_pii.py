"""PII scrubbing: the shapes people type are caught, cooking text full of numbers survives."""

from __future__ import annotations

import re
from pathlib import Path

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recipe_pipeline import pii
from recipe_pipeline.pii import PII_KINDS, find_pii, luhn_valid, scan_for_pii, scrub_messages, scrub_text


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it pass Luhn (computed here, not by the module)."""
    for check in "0123456789":
        candidate = body + check
        total = 0
        for position, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def grouped(digits: str, separator: str) -> str:
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


# -- emails ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe+recipes@example.co.uk please", "mail me at [EMAIL] please"),
        ("JOHN_SMITH99@Gmail.COM", "[EMAIL]"),
        ("send to a@b.io, c.d@e-f.org; thanks", "send to [EMAIL], [EMAIL]; thanks"),
        ("<maria.12@proton.me>", "<[EMAIL]>"),
    ],
)
def test_emails_become_placeholders(text, expected):
    assert scrub_text(text)[0] == expected


@pytest.mark.parametrize("text", ["jo@localhost", "a @ b", "user@@example.com", "rate: 5 @ 200C", "@chef_bot thanks"])
def test_things_that_are_not_email_addresses(text):
    assert "EMAIL" not in scrub_text(text)[1]


# -- phone numbers ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "phone",
    [
        "(555) 123-4567",
        "555-123-4567",
        "415.555.0132",
        "+44 20 7946 0958",
        "07700 900123",
        "+1 202 555 0143",
        "2025550143",
        "+1-202-555-0143",
        "(415) 555-0132",
        "020 7946 0958",
    ],
)
@pytest.mark.parametrize("template", ["{}", "call me on {} tonight", "my number: {}.", "text {}, thanks", "{}!"])
def test_phone_numbers_in_the_shapes_people_type(phone, template):
    text = template.format(phone)
    scrubbed, kinds = scrub_text(text)
    assert scrubbed == template.format("[PHONE]")
    assert kinds == ["PHONE"]


def test_two_phone_numbers_in_one_message():
    assert scrub_text("call 555-123-4567 or 07700 900456") == ("call [PHONE] or [PHONE]", ["PHONE", "PHONE"])


# -- card numbers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 thanks", "card [CARD] thanks"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("card 4111111111111111.", "card [CARD]."),
        ("amex 378282246310005", "amex [CARD]"),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("visa 4012888888881881!", "visa [CARD]!"),
        ("mastercard 5555-5555-5555-4444", "mastercard [CARD]"),
        ("discover 6011 1111 1111 1117", "discover [CARD]"),
        ("diners 30569309025904", "diners [CARD]"),
        ("visa 4222222222222", "visa [CARD]"),  # 13 digits
        # A card followed by its CVV or expiry, or after a quantity: the card still goes.
        ("card 4111 1111 1111 1111 123", "card [CARD] 123"),
        ("card 4111 1111 1111 1111 12/26", "card [CARD] 12/26"),
        ("order 3 4111 1111 1111 1111", "order 3 [CARD]"),
        ("card 4111111111111111 1", "card [CARD] 1"),
    ],
)
def test_cards_are_replaced(text, expected):
    assert scrub_text(text)[0] == expected


@pytest.mark.parametrize("length", range(13, 20))
@pytest.mark.parametrize("separator", ["", " ", "-"])
def test_every_card_length_with_or_without_separators(length, separator):
    number = luhn_complete("4" + "7" * (length - 2))
    assert luhn_valid(number)
    text = f"pay with {grouped(number, separator)} now"
    assert scrub_text(text) == ("pay with [CARD] now", ["CARD"])


@pytest.mark.parametrize("length", range(13, 20))
def test_luhn_failing_numbers_are_not_cards(length):
    good = luhn_complete("4" + "7" * (length - 2))
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert not luhn_valid(bad)
    assert "CARD" not in scrub_text(f"ref {bad}")[1]
    if length <= 16:  # grouped in fours, no shorter run of whole groups reaches 13 digits
        for separator in (" ", "-"):
            assert "CARD" not in scrub_text(f"ref {grouped(bad, separator)}")[1]


@pytest.mark.parametrize("text", ["order 1234567812345678 arrived", "ref 4111 1111 1111 1112", "ref 4111-1111-1111-1112"])
def test_a_luhn_failing_16_digit_number_is_left_alone(text):
    assert scrub_text(text) == (text, [])


def test_too_short_or_too_long_luhn_valid_runs_are_not_cards():
    twelve = luhn_complete("4" * 11)
    twenty = luhn_complete("4" + "3" * 18)
    assert luhn_valid(twelve) and luhn_valid(twenty)
    assert "CARD" not in scrub_text(f"code {twelve}")[1]
    assert "CARD" not in scrub_text(f"code {twenty}")[1]


def test_luhn():
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005") and luhn_valid("0")
    assert not luhn_valid("4111111111111112") and not luhn_valid("378282246310006")


def test_cards_are_not_taken_for_phone_numbers():
    spans = find_pii("pay with 4111 1111 1111 1111")
    assert [(s.kind, s.start, s.end) for s in spans] == [("CARD", 9, 28)]


# -- placeholders and other kinds ------------------------------------------------------------
def test_placeholders_are_typed_and_in_text_order():
    text = "I'm at jo@x.com, 4111 1111 1111 1111 or (555) 123-4567"
    scrubbed, kinds = scrub_text(text)
    assert scrubbed == "I'm at [EMAIL], [CARD] or [PHONE]"
    assert kinds == ["EMAIL", "CARD", "PHONE"]
    spans = find_pii(text)
    assert [s.kind for s in spans] == kinds
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))  # no overlaps, in order
    assert all(s.kind in PII_KINDS for s in spans)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my IBAN is GB82 WEST 1234 5698 7654 32 thanks", "my IBAN is [IBAN] thanks"),
        ("my SSN is 123-45-6789", "my SSN is [SSN]"),
        ("my SSN is 123456789", "my SSN is [SSN]"),  # undashed: only with the word before it
        ("ssn: 123 45 6789", "ssn: [SSN]"),
        ("router 192.168.1.20 is down", "router [IP] is down"),
        ("from 2001:db8:85a3::8a2e:370:7334 today", "from [IP] today"),
        ("from fe80::1 today", "from [IP] today"),
        ("I live at 221B Baker Street, London.", "I live at [ADDRESS]."),
        ("my name is Sarah Connor and I bake", "my name is [NAME] and I bake"),
        ("jo@x.com12 Oak Avenue", "[EMAIL][ADDRESS]"),  # glued PII: what the first pass exposes goes too
    ],
)
def test_other_kinds(text, expected):
    assert scrub_text(text)[0] == expected


# Numbers the SSA never issues (area 000, 666 or 9xx, group 00, serial 0000), with or without
# the word: order references, not social security numbers.
@pytest.mark.parametrize(
    "text",
    ["ref 666-12-3456 for the order", "ref 900-12-3456 for the order", "ref 000-12-3456", "ref 123-00-4567",
     "ref 123-45-0000", "SSN 666123456", "social security number 987654321"],
)
def test_never_issued_social_security_numbers_are_left_alone(text):
    assert scrub_text(text) == (text, [])


# -- cooking text ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "Bake at 350F (180C) for 25-30 minutes.",
        "Preheat to 425°F, or 220 degrees C.",
        "Serves 4-6; use 1 1/2 cups of flour and a 9x13 pan.",
        "Start at 10:30, rest until 11:45.",
        "Set the timer for 10:30:15 and the ratio 1:2:3.",
        "My grandmother made this in 1987, about 2500 calories for the whole tray.",
        "From 2019 to 2024 I baked 1200 loaves",
        "Calories: 250-300-350 for small, medium and large portions.",
        "Each portion is 450 kcal, 2,500 kcal a day.",
        "Simmer 2-3 hours, 12-15 minutes per pound, 500 g beef, 1,200 ml stock.",
        "Cook 12-15 min at 200-220C, then 3-4 min under the grill.",
        "Use 3 Roma Tomatoes and 2 Red Onions.",
        "In 1999-2005 I ran a bakery.",
        "I live at altitude, 5000 feet up; how do I adjust?",
        "I live at 5000 feet, how long do eggs boil?",
        "Firmware 999.1.1.1 on my oven",  # an IPv4 shape, but 999 is not an octet
        "Call me when the timer hits 10:30.",
        "Best before 2025-01-01, bought 12/25/2024.",
        "Ingredients:: flour, sugar, 2 eggs",
        "Use std::cout to print the 350F step",
        "Step 1 :: mix, step 2 :: bake",
    ],
)
def test_cooking_text_is_left_alone(text):
    assert scrub_text(text) == (text, [])
    assert find_pii(text) == []


def test_empty_text():
    assert scrub_text("") == ("", [])
    assert find_pii("") == []


# -- scrub_messages --------------------------------------------------------------------------
def test_scrub_messages_counts_per_kind_and_per_message():
    result = scrub_messages(["a@b.com and c@d.org", None, "plain 350F", "call 555-123-4567, card 4111111111111111", ""])
    assert result.texts.to_pylist() == ["[EMAIL] and [EMAIL]", None, "plain 350F", "call [PHONE], card [CARD]", ""]
    assert result.redactions.to_pylist() == [2, 0, 0, 2, 0]
    assert set(result.counts) == set(PII_KINDS)  # every kind, zeros included
    assert {k: v for k, v in result.counts.items() if v} == {"EMAIL": 2, "CARD": 1, "PHONE": 1}
    assert sum(result.counts.values()) == sum(result.redactions.to_pylist())


def test_scrub_messages_agrees_with_scrub_text_and_takes_arrow_columns():
    texts = ["plain cooking", "call 555-123-4567", None, "my name is Jo", "10.0.0.1", "a@b.co", "Bake 20 min", "fe80::1 and ::1"]
    expected = [None if t is None else scrub_text(t)[0] for t in texts]
    assert scrub_messages(texts).texts.to_pylist() == expected
    assert scrub_messages(pa.array(texts, pa.string())).texts.to_pylist() == expected
    chunked = scrub_messages(pa.chunked_array([texts[:3], texts[3:]], pa.string()))
    assert chunked.texts.to_pylist() == expected
    assert chunked.redactions.to_pylist() == [len(scrub_text(t)[1]) if t else 0 for t in texts]


def test_scrub_messages_on_nothing():
    result = scrub_messages([])
    assert result.texts.to_pylist() == [] and result.redactions.to_pylist() == [] and sum(result.counts.values()) == 0
    assert scrub_messages([None, None]).texts.to_pylist() == [None, None]


# -- properties ------------------------------------------------------------------------------
_PIECES = st.sampled_from(
    [
        "jo@x.com", "(555) 123-4567", "555-123-4567", "415.555.0132", "+44 20 7946 0958", "07700 900123",
        "+1 202 555 0143", "4111 1111 1111 1111", "378282246310005", "123-45-6789", "192.168.0.1", "fe80::1", "::1",
        "GB82 WEST 1234 5698 7654 32", "12 Oak Avenue", "my name is ", "call me ", "I live at ", "SSN ", "Bob",
        "10:30", "25-30 minutes", "9x13", "1 1/2 cups", "350F", "2024", "serves 4-6", "[PHONE]", "[EMAIL]",
        " ", "-", ".", "(", ")", "+", "@", ":", "/", "\n", "a", "0", "1", "7",
    ]
)
_DIGITISH = st.text(alphabet="0123456789 -().+/:", min_size=1, max_size=25)
# Pieces glued together with no separator are the hard cases (one span's context hides another).
chat_text = st.lists(_PIECES | _DIGITISH, max_size=10).map("".join) | st.text(max_size=80)
_DIGIT_RUN = re.compile(r"\d(?:[\s().\-/]*\d)*")

_PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY_SETTINGS
@given(st.text())
def test_never_raises_on_any_text(text):
    scrubbed, kinds = scrub_text(text)
    assert isinstance(scrubbed, str) and all(kind in PII_KINDS for kind in kinds)
    assert scrub_messages([text]).texts.to_pylist() == [scrubbed]


@_PROPERTY_SETTINGS
@given(chat_text)
def test_scrubbing_is_idempotent(text):
    once, kinds = scrub_text(text)
    assert scrub_text(once) == (once, [])
    assert (once == text) == (not kinds)


@_PROPERTY_SETTINGS
@given(chat_text)
def test_no_digit_run_left_that_find_pii_still_flags(text):
    once, _ = scrub_text(text)
    flagged = find_pii(once)
    for run in _DIGIT_RUN.finditer(once):
        assert not any(s.start < run.end() and run.start() < s.end for s in flagged), (text, once, run.group())


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["jo@x.com", "(555) 123-4567", "4111 1111 1111 1111", "+44 20 7946 0958", "07700 900123", "378282246310005"]),
    st.text(alphabet="abc .,!?", max_size=20),
    st.text(alphabet="abc .,!?", max_size=20),
)
def test_pii_inside_any_sentence_is_caught(pii, before, after):
    scrubbed, kinds = scrub_text(f"{before} {pii} {after}")
    assert pii not in scrubbed and kinds
    assert not re.search(r"\d", scrubbed)  # the only digits were the PII's


def _phone_spans_in_every_region(text: str) -> list:
    """The phone matcher before its shortcut: every region, always."""
    spans = {}
    for region in pii.PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            if pii._is_phone(match, region):
                spans.setdefault((match.start, match.end), pii.PIISpan("PHONE", match.start, match.end))
    return list(spans.values())


PHONE_LIKE = st.lists(
    st.sampled_from(["0", "1", "4", "5", "7", "9", "20", "44", "555", "7700", "900123", " ", "-", ".", "(", ")", "+", "/", "call ", "x", "ext. "]),
    min_size=3, max_size=14,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PHONE_LIKE)
def test_skipping_trunk_zero_regions_without_a_plus_or_leading_zero_changes_nothing(text):
    found = pii._phone_spans(text) if pii._DIGIT_RUN.search(text) else []
    expected = _phone_spans_in_every_region(text) if pii._DIGIT_RUN.search(text) else []
    assert sorted((s.start, s.end) for s in found) == sorted((s.start, s.end) for s in expected)


def test_the_phone_shortcut_agrees_on_the_labeled_corpus():
    from bench.jsonl import read_jsonl

    for entry in read_jsonl(Path(__file__).resolve().parent.parent / "bench" / "pii_corpus.jsonl"):
        text = entry["text"]
        if pii._DIGIT_RUN.search(text):
            assert sorted((s.start, s.end) for s in pii._phone_spans(text)) == sorted((s.start, s.end) for s in _phone_spans_in_every_region(text))


_ASCII_CHAT = st.lists(
    _PIECES | st.sampled_from(["Name Is", "CALL ME", "Street", "st", "St.", "ave", "way", "Ship It To", "SSN", "drive", "x::y", "1.2.3.4"])
    | st.text(alphabet=st.characters(max_codepoint=127), max_size=12),
    max_size=10,
).map("".join)


@_PROPERTY_SETTINGS
@given(_ASCII_CHAT | st.text(max_size=60))
def test_the_fast_prefilter_is_the_candidate_regex(text):
    assert pii.could_hold_pii(text) == (bool(text) and pii._CANDIDATE.search(text) is not None)


def test_the_fast_prefilter_agrees_on_the_labeled_corpus():
    from bench.jsonl import read_jsonl

    for entry in read_jsonl(Path(__file__).resolve().parent.parent / "bench" / "pii_corpus.jsonl"):
        text = entry["text"]
        assert pii.could_hold_pii(text) == (pii._CANDIDATE.search(text) is not None), text


# -- routing by kind hints: the batch path runs only the detectors a text's hints call for ------
_HINT_PIECES = _PIECES | st.sampled_from(
    ["Place", "close", "I live on ", "deliver to ", "Ship It To ", "my names ", "They Call Me ", "Social Security ", "ssn",
     "GB82", "de89", "12 Oak", "3B, Elm", "\x0b", "\x1c", "\t", "a:b:", "1.2.3.4", "5555-5555-5555-4444", "123 45 6789"]
)


@_PROPERTY_SETTINGS
@given(st.lists(_HINT_PIECES, max_size=10).map("".join))
def test_the_hinted_kinds_find_what_every_kind_finds(text):
    rows, kinds = pii.kinds_to_look_for([text])
    hinted = kinds[0] if len(rows) else ()
    assert pii.find_pii(text, hinted) == pii.find_pii(text)
    assert pii.scrub_text(text, hinted) == pii.scrub_text(text)


def test_the_hinted_kinds_find_everything_in_the_labeled_corpus():
    from bench.jsonl import read_jsonl

    texts = [entry["text"] for entry in read_jsonl(Path(__file__).resolve().parent.parent / "bench" / "pii_corpus.jsonl")]
    rows, kinds = pii.kinds_to_look_for(texts)
    hinted = dict(zip(rows.to_pylist(), kinds))
    for row, text in enumerate(texts):
        assert pii.find_pii(text, hinted.get(row, ())) == pii.find_pii(text), text


def test_cooking_words_alone_reach_no_detector():
    rows, _ = pii.kinds_to_look_for(["Place the tray on the middle shelf, close the lid and cut into squares.", "Drive a knife in."])
    assert len(rows) == 0


# -- text pasted from phones, forms and other scripts -----------------------------------------
@pytest.mark.parametrize(
    "text, placeholder",
    [
        ("my number is 212\u00a0736\u00a05000", "[PHONE]"),  # no-break spaces
        ("my number is +44\u00a020\u00a07946\u00a00018", "[PHONE]"),
        ("my number is 212\u202f736\u202f5000", "[PHONE]"),  # narrow no-break space
        ("my number is 212\u2009736\u20095000", "[PHONE]"),  # thin space
        ("my number is 212\u3000736\u30005000", "[PHONE]"),  # ideographic space
        ("my number is 212\u2011736\u20115000", "[PHONE]"),  # non-breaking hyphen
        ("my number is 212\u2212736\u22125000", "[PHONE]"),  # minus sign
        ("my number is ５５５-１２３-４５６７", "[PHONE]"),  # full-width digits
        ("my number is ٢١٢ ٧٣٦ ٥٠٠٠", "[PHONE]"),  # Arabic-Indic digits
        ("カード ４１１１ １１１１ １１１１ １１１１", "[CARD]"),
        ("card 4111\u00a01111\u00a01111\u00a01111", "[CARD]"),
        ("card 4111  1111  1111  1111", "[CARD]"),  # two spaces between groups
        ("mail me: jane＠example.com", "[EMAIL]"),  # full-width at sign
    ],
)
def test_numbers_pasted_with_unicode_spaces_dashes_and_digits_are_replaced_on_both_paths(text, placeholder):
    scrubbed, _ = scrub_text(text)
    assert placeholder in scrubbed and not re.search(r"\d", scrubbed), scrubbed
    assert scrub_messages([text, "Bake at 350F"]).texts.to_pylist() == [scrubbed, "Bake at 350F"]
    assert scan_for_pii(pa.array([text]))[1] == [0]  # the leak check sees it too


@pytest.mark.parametrize(
    "text, expected",
    [
        ("my name is José García", "my name is [NAME]"),
        ("call me Zoë Müller", "call me [NAME]"),
        ("my name is Tomás Okafor and I love baking", "my name is [NAME] and I love baking"),
        ("call me Nguyễn Văn An, everyone does", "call me [NAME], everyone does"),
        ("my name is sarah connor", "my name is [NAME]"),
        ("my name is Bob lol", "my name is [NAME] lol"),
        ("My name is Sarah and I like pie", "My name is [NAME] and I like pie"),
        # What comes next is not the name: a common word, the next sentence, the next line.
        ("my name is bob need help with bread", "my name is [NAME] need help with bread"),
        ("My name is Sarah Can you help me with bread", "My name is [NAME] Can you help me with bread"),
        ("call me Bob\nWhat temp for chicken?", "call me [NAME]\nWhat temp for chicken?"),
        ("email me: jane@müller.de", "email me: [EMAIL]"),
        ("jürgen.müller@example.de wrote", "[EMAIL] wrote"),
        ("john_doe@example.com", "[EMAIL]"),
        ("my address: 12 oak avenue, springfield", "my address: [ADDRESS]"),
    ],
)
def test_names_and_emails_in_any_script_are_replaced_whole(text, expected):
    assert scrub_text(text)[0] == expected
    assert scrub_messages([text]).texts.to_pylist() == [expected]


def test_the_detection_view_keeps_every_offset():
    text = "tel ٢١٢\u00a0736\u2011５０００ and \u2028 José"
    view = pii.detection_view(text)
    assert len(view) == len(text) and view == "tel 212 736-5000 and \n José"
    assert pii.detection_view("plain ascii 212 736 5000") == "plain ascii 212 736 5000"


_UNICODE_PIECES = _HINT_PIECES | st.sampled_from(
    ["\u00a0", "\u202f", "\u2009", "\u3000", "\u2028", "\x85", "\u2011", "\u2013", "\u2212", "٣", "５", "１２３", "＠", "：",
     "ＳＳＮ", "ſtreet", "\u212aane", "İ", "ı", "name\u00a0is ", "call\u2009me ", "José", "Zoë", "é", "食", "😀"]
)


@_PROPERTY_SETTINGS
@given(st.lists(_UNICODE_PIECES, max_size=10).map("".join))
def test_the_batch_path_agrees_with_scrub_text_on_unicode_text(text):
    # RE2 picks every non-ASCII row whose ASCII view passes the detectors' own pre-filter (ASCII
    # rows go by the kind hints, tested above).
    rows, kinds = pii.kinds_to_look_for([text])
    if not text.isascii() and pii.could_hold_pii(pii.detection_view(text)):
        assert len(rows) == 1
    hinted = kinds[0] if len(rows) else ()
    assert pii.find_pii(text, hinted) == pii.find_pii(text)
    assert scrub_messages([text]).texts.to_pylist() == [scrub_text(text)[0]]
