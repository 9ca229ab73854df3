"""PII detection and scrubbing for chat messages (first version; the privacy issue deepens it).

Detected kinds and how:
- ``EMAIL``: an address-shaped token (local part, ``@``, a dotted domain with a letter TLD);
- ``CARD``: 13–19 digits, optionally grouped with single spaces or dashes, that pass the Luhn
  checksum (so "serves 4-6" or a 16-digit order number that fails Luhn stays);
- ``PHONE``: numbers that Google's libphonenumber (the ``phonenumbers`` port) finds in the text
  for one of ``PHONE_REGIONS`` (or in international ``+`` format) and that are either valid or a
  full-length number written in phone shape. Cards are found first, so a card's digits are never
  half-taken as a phone number.

Each span becomes a typed placeholder (``[EMAIL]``, ``[CARD]``, ``[PHONE]``). Placeholders hold
no digits and no ``@``, so scrubbing is idempotent. Messages with fewer than seven digits and no
``@`` cannot hold any of these and skip the expensive matchers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

PII_KINDS = ("EMAIL", "CARD", "PHONE")
PHONE_REGIONS = ("US", "GB")

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# 13-19 digits; groups separated by one space or dash; not glued to other digits.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_DIGIT_RUN = re.compile(r"\d(?:[\s().\-/]*\d){6,}")
_PHONE_SHAPE = re.compile(r"\+?\(?\d[\d ().\-]*\d")
_MIN_PHONE_DIGITS = 7


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@dataclass(frozen=True)
class PIISpan:
    kind: str
    start: int
    end: int


def _card_spans(text: str) -> list[PIISpan]:
    spans = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            spans.append(PIISpan("CARD", match.start(), match.end()))
    return spans


def _is_phone(match: phonenumbers.PhoneNumberMatch) -> bool:
    if phonenumbers.is_valid_number(match.number):
        return True
    # Numbers people type from fiction and docs ("(555) 123-4567", "07700 900123") are not
    # assigned, so libphonenumber calls them invalid; a full-length national number written in
    # phone shape is still someone's number as far as privacy goes.
    digits = sum(c.isdigit() for c in match.raw_string)
    return digits >= 10 and _PHONE_SHAPE.fullmatch(match.raw_string) is not None


def _phone_spans(text: str) -> list[PIISpan]:
    if not _DIGIT_RUN.search(text):
        return []
    spans: dict[tuple[int, int], PIISpan] = {}
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            if _is_phone(match):
                spans.setdefault((match.start, match.end), PIISpan("PHONE", match.start, match.end))
    return list(spans.values())


def _without_overlaps(spans: list[PIISpan]) -> list[PIISpan]:
    """Earlier-listed kinds win overlaps (the caller lists EMAIL, CARD, then PHONE)."""
    kept: list[PIISpan] = []
    for span in spans:
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def find_pii(text: str) -> list[PIISpan]:
    """PII spans in ``text``, non-overlapping, in text order."""
    if not text:
        return []
    has_at = "@" in text
    if not has_at and sum(c.isdigit() for c in text) < _MIN_PHONE_DIGITS:
        return []
    spans = [PIISpan("EMAIL", m.start(), m.end()) for m in _EMAIL.finditer(text)] if has_at else []
    spans += _card_spans(text)
    spans += _phone_spans(text)
    return _without_overlaps(spans)


def scrub_text(text: str) -> tuple[str, list[str]]:
    """``text`` with each PII span replaced by ``[KIND]``, and the kinds replaced."""
    spans = find_pii(text)
    if not spans:
        return text, []
    pieces, last = [], 0
    for span in spans:
        pieces.append(text[last : span.start])
        pieces.append(f"[{span.kind}]")
        last = span.end
    pieces.append(text[last:])
    return "".join(pieces), [span.kind for span in spans]


@dataclass(frozen=True)
class ScrubResult:
    texts: list[str | None]
    redactions: list[int]  # spans replaced, per message
    counts: Counter  # spans replaced, per kind


def scrub_messages(messages: Iterable[str | None]) -> ScrubResult:
    """Scrub a column of messages. Only messages that could hold PII (an ``@`` or seven digits)
    reach the matchers, which keeps a day of mostly cooking chat cheap."""
    texts: list[str | None] = []
    redactions: list[int] = []
    counts: Counter = Counter({kind: 0 for kind in PII_KINDS})
    for message in messages:
        if message is None:
            texts.append(None)
            redactions.append(0)
            continue
        scrubbed, kinds = scrub_text(message)
        texts.append(scrubbed)
        redactions.append(len(kinds))
        counts.update(kinds)
    return ScrubResult(texts, redactions, counts)
