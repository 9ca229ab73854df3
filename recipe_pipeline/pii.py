"""PII detection and scrubbing for chat messages.

Kinds, and how each is told apart from cooking text full of numbers:

| kind      | detected by                                                                          |
|-----------|--------------------------------------------------------------------------------------|
| EMAIL     | an address-shaped token: local part, ``@``, dotted domain with a letter TLD           |
| IBAN      | country code + check digits + 11–30 letters/digits (grouped or not), ISO 13616 mod-97 |
| CARD      | 13–19 digits, optionally grouped by single spaces or dashes, passing the Luhn checksum |
| SSN       | US ``AAA-GG-SSSS`` (dashes or spaces) outside the never-issued ranges, or 9 digits    |
|           | right after "SSN"/"social security"                                                   |
| IP        | IPv4 and IPv6 addresses that Python's ``ipaddress`` accepts (not clock times)         |
| PHONE     | Google's libphonenumber (``phonenumbers``) over ``PHONE_REGIONS``: valid numbers, or  |
|           | full-length numbers written in phone shape ("(555) 123-4567" is nobody's, yet PII)   |
| ADDRESS   | a house number + street name + street suffix, or the words after "I live at",         |
|           | "my address is", "deliver to" … up to the end of the clause                          |
| NAME      | the name after "my name is", "I'm called", "call me" … (capitalized after "call me") |

Each span becomes a typed placeholder (``[EMAIL]``, ``[PHONE]``, …). Earlier kinds in
``PII_KINDS`` win overlaps (a card's digits are never half-taken as a phone number).
Placeholders hold no digits, ``@`` or ``:``, and triggers never match a placeholder, so
scrubbing is idempotent. ``scrub_messages`` is batched: one vectorized RE2 pass over the column
(pyarrow) picks the few messages that could hold PII; only those reach the matchers. Non-ASCII
text is searched in its ASCII view (``detection_view``): Unicode spaces, dashes, digits and
full-width forms read as their ASCII counterparts.
"""

from __future__ import annotations

import functools
import ipaddress
import multiprocessing
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from recipe_pipeline.columns import cores, one_array

PII_KINDS = ("EMAIL", "IBAN", "CARD", "SSN", "IP", "PHONE", "ADDRESS", "NAME")
PHONE_REGIONS = ("US", "GB", "CA", "AU", "IN")  # IE would take "1999-2005" for a number

# A message that matches none of these cannot hold any kind above. The same pattern runs in RE2
# (pyarrow, over a whole column) and in Python's re, so batch and single calls agree.
# Trigger words: phrases matched anywhere (case-insensitively), abbreviations as whole words.
_TRIGGER_PHRASES = (
    "name is", "name's", "called", "call me", "live at", "address", "deliver", "ship to", "ship it to", "send it to",
    "street", "avenue", "road", "lane", "drive", "boulevard", "court", "terrace", "crescent", "close", "place", "square",
    "parkway", "ssn", "social security",
)
_TRIGGER_ABBREVIATIONS = ("st", "ave", "rd", "ln", "dr", "blvd", "ct", "way")
# Letters, spaces and apostrophes only: the same text is a regex for RE2 and for Python's re.
_TRIGGER_WORDS = "|".join([*_TRIGGER_PHRASES, *(rf"\b{a}\b" for a in _TRIGGER_ABBREVIATIONS)])
_CANDIDATE_SHAPES = (
    r"@|\d(?:[\s().\-/]*\d){6,}|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f]*"
)
CANDIDATE_PATTERN = _CANDIDATE_SHAPES + r"|(?i:" + _TRIGGER_WORDS + r")"
_CANDIDATE = re.compile(CANDIDATE_PATTERN.replace("(?i:", "(?:"), re.IGNORECASE)

# Non-ASCII text is searched in its ASCII view (``detection_view``), so the RE2 pattern that picks
# such rows matches, in the original, whatever ``CANDIDATE_PATTERN`` matches in the view: any
# decimal digit for a digit, any space or dash for a separator, and any text holding a
# full-width form or a letter Python's re folds to an ASCII one and RE2 does not (İ ı ſ K).
_UNICODE_SPACES = r"\t\n\v\f\r\x1c-\x1f\x{85}\p{Z}"
_UNICODE_DASHES = r"\x{2010}-\x{2015}\x{2212}\x{fe58}\x{fe63}"
UNICODE_CANDIDATE_PATTERN = r"[\x{ff01}-\x{ff5e}\x{130}\x{131}\x{17f}\x{212a}]|" + (
    CANDIDATE_PATTERN.replace(r"[\s().\-/]", rf"[{_UNICODE_SPACES}().\-{_UNICODE_DASHES}/]")
    .replace("0-9A-Fa-f", r"\p{Nd}A-Fa-f")
    .replace(r"\d", r"\p{Nd}")
    .replace(" ", r"[ \p{Z}]")
)
# Python's re tries a long alternation at every position (~90 us a message); for ASCII text the
# same test is a shape regex plus plain substring checks on the lowered text (~5 us).
_CANDIDATE_SHAPE = re.compile(_CANDIDATE_SHAPES)
_TRIGGER_ABBREVIATION = re.compile(r"\b(?:" + "|".join(_TRIGGER_ABBREVIATIONS) + r")\b")

# Unicode letters too ("jürgen.müller@example.de"), and "_" in the local part.
_EMAIL = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]{1,4}){3,9}(?![A-Za-z0-9])")
_IBAN_LENGTH = range(15, 35)
# Digit groups separated by one or two spaces or a dash, not glued to other digits; a card is
# 13-19 digits of consecutive groups in such a run ("4111 1111 1111 1111 123" is a card and its CVV).
_CARD = re.compile(r"(?<![\d-])\d+(?:(?: {1,2}|-)\d+)*(?![\d-])")
_DIGIT_GROUP = re.compile(r"\d+")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_SSN_CONTEXT = re.compile(r"(?i:\bssn\b|social security(?: number)?)[^\d\n]{0,20}(?<!\d)(\d{9}|\d{3}[- ]\d{2}[- ]\d{4})(?!\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_CLOCK = re.compile(r"\d{1,2}(?::\d{2}){1,2}")
_DIGIT_RUN = re.compile(r"\d(?:[\s().\-/]*\d){6,}")
_PHONE_SHAPE = re.compile(r"\+?\(?\d[\d ().\-/]*\d")

_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|"
    r"Terrace|Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy)"
)
_STREET = re.compile(
    r"(?<![\w/])\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'\-]*\.?\s+){1,3}" + _STREET_SUFFIX + r"\b\.?"
    r"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"
    r"(?:,\s*(?:Apt|Unit|Flat|Suite)\.?\s*\w+)?"
    r"(?:,\s*[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)?"
)
_ADDRESS_TRIGGER = re.compile(
    r"(?i:\b(?:i live at|i live on|my (?:home )?address(?: is|:)|i'm at|i am at|deliver(?:y)? (?:it )?to|"
    r"ship (?:it )?to|send (?:it|them) to)\s+)"
    # an address starts with a house number (optionally after a flat/unit) and a word that is
    # not a unit: "I live at 5000 feet" is not an address.
    r"((?:(?:Flat|Apt|Apartment|Unit|Suite)\.?\s*\w+,?\s+)?\d{1,5}[A-Za-z]?,?\s+"
    r"(?!(?:feet|ft|foot|m|meters|metres|miles|km|degrees|minutes|mins|hours|people|servings)\b)"
    r"[A-Za-z][^.;!?\n\[\]]{1,60})"
)
_NAME_STOPWORDS = {
    "a", "an", "the", "and", "or", "but", "not", "when", "if", "back", "later", "asap", "tomorrow",
    "tonight", "now", "please", "at", "on", "in", "to", "for", "with", "chef", "hungry", "new",
    "here", "there", "just", "really", "so", "very", "still", "also", "too", "going", "trying",
    "i", "i'm", "im", "from", "by", "thanks", "thank",
}
# Words after a first name that are not part of the name, whatever their case: the start of what
# the writer says next ("my name is bob need help", "My name is Sarah Can you…"). In lower case,
# the stopwords too; "An" stays a surname ("Nguyễn Văn An").
_NOT_SURNAMES = {
    "i", "i'm", "im", "and", "but", "or", "the", "please", "thanks", "thank", "can", "could", "would", "will", "should",
    "what", "how", "who", "where", "when", "why", "which", "is", "am", "are", "was", "do", "does", "did", "have", "has",
    "need", "want", "help", "here", "hi", "hello", "hey", "my", "we", "you", "your", "it", "this", "that", "let", "any",
    "ok", "okay", "lol", "so", "just", "not", "now", "also", "really", "very", "still", "going", "trying", "a", "from",
}
_NOT_SURNAMES_IN_LOWER_CASE = _NOT_SURNAMES | _NAME_STOPWORDS
# A word of a name: letters of any script ("José", "Zoë"), apostrophes and hyphens.
_NAME_WORD = r"[^\W\d_](?:[^\W\d_]|['\-])+"
_NAME_WORD_PATTERN = re.compile(_NAME_WORD)
_NAME = re.compile(
    r"(?i:\b(?:my name is|my name's|my names|i am called|i'm called|im called|name's|they call me|you can call me|call me)\s+)"
    rf"({_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}})"  # on one line
)


# Per kind, an RE2 pattern (run over a whole column by pyarrow) that matches every ASCII text in
# which that kind's detector can find anything: its detector's core without lookarounds and
# validation. Python's \s on ASCII also takes \v and \x1c-\x1f. Non-ASCII text (Unicode case
# folding and \s differ between the engines) goes through every detector.
_SPACE = r"[\t\n\v\f\r \x1c-\x1f]"
KIND_HINTS = {
    "EMAIL": "@",
    "IBAN": r"[A-Za-z]{2}\d{2}",
    "CARD": r"\d(?:(?: {1,2}|-)?\d){12}",
    "SSN": r"\d{3}[- ]\d{2}[- ]\d{4}|(?i:ssn|social security)",
    "IP": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]*:[0-9A-Fa-f]*:",
    "PHONE": r"\d(?:[" + _SPACE[1:-1] + r"().\-/]*\d){6}",
    "ADDRESS": r"\d[A-Za-z]?,?" + _SPACE + r"+[A-Z]|(?i:i live at|i live on|my address|my home address|i'm at|i am at"
    r"|deliver(?:y)? (?:it )?to|ship (?:it )?to|send (?:it|them) to)",
    "NAME": r"(?i:my name is|my name's|my names|i am called|i'm called|im called|name's|they call me|you can call me|call me)",
}
_ANY_HINT = "|".join(f"(?:{hint})" for hint in KIND_HINTS.values())


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


def iban_valid(candidate: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    compact = candidate.replace(" ", "").upper()
    if len(compact) not in _IBAN_LENGTH or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    except ValueError:
        return False


@dataclass(frozen=True)
class PIISpan:
    kind: str
    start: int
    end: int


def _iban_spans(text: str) -> list[PIISpan]:
    spans = []
    for match in _IBAN.finditer(text):
        # Grouped IBANs can swallow a following word: keep the longest prefix that validates.
        value = match.group()
        groups = value.split(" ")
        for count in range(len(groups), 0, -1):
            candidate = " ".join(groups[:count])
            if iban_valid(candidate):
                spans.append(PIISpan("IBAN", match.start(), match.start() + len(candidate)))
                break
    return spans


def _card_spans(text: str) -> list[PIISpan]:
    spans = []
    for match in _CARD.finditer(text):
        if sum(c.isdigit() for c in match.group()) < 13:
            continue
        groups = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(text, match.start(), match.end())]
        for first in range(len(groups)):
            digits = ""
            for last in range(first, len(groups)):
                digits += text[groups[last][0] : groups[last][1]]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_valid(digits):
                    spans.append(PIISpan("CARD", groups[first][0], groups[last][1]))
    return spans


def _ssn_spans(text: str) -> list[PIISpan]:
    spans = [PIISpan("SSN", m.start(), m.end()) for m in _SSN.finditer(text)]
    for match in _SSN_CONTEXT.finditer(text):
        digits = re.sub(r"[- ]", "", match.group(1))
        # The never-issued ranges: area 000, 666, 900-999; group 00; serial 0000.
        if digits[:3] not in ("000", "666") and digits[0] != "9" and digits[3:5] != "00" and digits[5:] != "0000":
            spans.append(PIISpan("SSN", match.start(1), match.end(1)))
    return spans


def _ip_spans(text: str) -> list[PIISpan]:
    spans = []
    for match in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        spans.append(PIISpan("IP", match.start(), match.end()))
    if text.count(":") >= 2:
        for match in _IPV6.finditer(text):
            value = match.group()
            # "::" alone ("Ingredients::") and all-letter ones ("std::cout") are punctuation, not
            # addresses; a real address written in chat carries digits.
            if value.count(":") < 2 or _CLOCK.fullmatch(value) or not any(c.isdigit() for c in value):
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            spans.append(PIISpan("IP", match.start(), match.end()))
    return spans


# People write these countries' national numbers with their trunk "0" (or in + form); without it,
# a 9-10 digit run ("250-300-350 calories") is far more likely not a phone number.
_TRUNK_ZERO_REGIONS = {"GB", "AU", "IN"}


def _is_phone(match: phonenumbers.PhoneNumberMatch, region: str) -> bool:
    raw = match.raw_string.lstrip("(")
    if region in _TRUNK_ZERO_REGIONS and not raw.startswith(("+", "0")):
        return False
    # Numbers people type from fiction and docs ("(555) 123-4567", "07700 900123") are not
    # assigned, so libphonenumber calls them invalid; a full-length national number written in
    # phone shape is still someone's number as far as privacy goes. (Checked first: it is cheap,
    # and is_valid_number walks every region sharing the country code.)
    digits = sum(c.isdigit() for c in match.raw_string)
    if digits >= 10 and _PHONE_SHAPE.fullmatch(match.raw_string) is not None:
        return True
    return phonenumbers.is_valid_number(match.number)


# Where a number written with its trunk "0" or in "+" form could start: a "+", or a "0" that
# opens a digit group. Without one, the trunk-zero regions cannot yield a phone (``_is_phone``).
_TRUNK_OR_PLUS = re.compile(r"\+|(?<!\d)0")


def _phone_spans(text: str) -> list[PIISpan]:
    if not _DIGIT_RUN.search(text):
        return []
    spans: dict[tuple[int, int], PIISpan] = {}
    # libphonenumber is the costly part: skip the regions whose every match would be rejected.
    regions = PHONE_REGIONS if _TRUNK_OR_PLUS.search(text) else [r for r in PHONE_REGIONS if r not in _TRUNK_ZERO_REGIONS]
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            if _is_phone(match, region):
                spans.setdefault((match.start, match.end), PIISpan("PHONE", match.start, match.end))
    return list(spans.values())


def _address_spans(text: str) -> list[PIISpan]:
    spans = [PIISpan("ADDRESS", m.start(), m.end()) for m in _STREET.finditer(text)]
    for match in _ADDRESS_TRIGGER.finditer(text):
        spans.append(PIISpan("ADDRESS", match.start(1), match.end(1)))
    return spans


def _name_spans(text: str) -> list[PIISpan]:
    spans = []
    for match in _NAME.finditer(text):
        found = list(_NAME_WORD_PATTERN.finditer(text, match.start(1), match.end(1)))
        words = [word.group() for word in found]
        if words[0].lower() in _NAME_STOPWORDS:
            continue
        trigger = text[match.start() : match.start(1)].lower()
        if trigger.strip().endswith("call me") and not words[0][0].isupper():
            continue  # "call me back", "call me when…": only a capitalized word is a name here
        # Further words are the name's while capitalized ("Nguyễn Văn An"), or, for a name
        # begun in lower case, one more ("my name is sarah connor"); "my name is Bob lol" is Bob.
        lower_case = words[0][0].islower()
        not_surnames = _NOT_SURNAMES_IN_LOWER_CASE if lower_case else _NOT_SURNAMES
        kept = 1
        for word in words[1 : 2 if lower_case else 3]:
            if word.lower() in not_surnames or (word[0].islower() and not lower_case):
                break
            kept += 1
        spans.append(PIISpan("NAME", match.start(1), found[kept - 1].end()))
    return spans


_DETECTORS = (
    ("EMAIL", lambda t: [PIISpan("EMAIL", m.start(), m.end()) for m in _EMAIL.finditer(t)] if "@" in t else []),
    ("IBAN", _iban_spans),
    ("CARD", _card_spans),
    ("SSN", _ssn_spans),
    ("IP", _ip_spans),
    ("PHONE", _phone_spans),
    ("ADDRESS", _address_spans),
    ("NAME", _name_spans),
)


def _without_overlaps(spans: list[PIISpan]) -> list[PIISpan]:
    """Earlier-listed kinds win overlaps (spans arrive grouped in ``PII_KINDS`` order)."""
    kept: list[PIISpan] = []
    for span in spans:
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


# What the detectors read in a non-ASCII text: people paste numbers with no-break or thin spaces,
# non-breaking hyphens or full-width digits ("212\u00a0736\u00a05000", "５５５-１２３-４５６７"), and the
# detectors, libphonenumber and the Luhn check read ASCII digits and separators. Each such
# character is replaced by its ASCII counterpart, one for one, so spans in the view are spans in
# the text.
_FOLDED = re.compile(r"(?![\x00-\x7f])[\d\s]|[\u2010-\u2015\u2212\ufe58\ufe63\uff01-\uff5e]")


@functools.cache
def _ascii_counterpart(char: str) -> str:
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    if char in "\x85\u2028\u2029":  # line breaks: a clause ends there
        return "\n"
    if char.isspace():
        return " "
    if "\uff01" <= char <= "\uff5e":  # full-width forms of ASCII
        return chr(ord(char) - 0xFEE0)
    return "-"  # a dash or the minus sign


def detection_view(text: str) -> str:
    """``text`` as the detectors read it: the same length, non-ASCII digits, spaces and dashes
    and full-width forms replaced by their ASCII counterparts."""
    return text if text.isascii() else _FOLDED.sub(lambda match: _ascii_counterpart(match.group()), text)


def could_hold_pii(text: str) -> bool:
    """Whether ``text`` matches ``CANDIDATE_PATTERN`` (the pre-filter every kind passes)."""
    if not text:
        return False
    if not text.isascii():
        # Unicode case folding ("ſ" matches "s") and Unicode \s, \d: the regex decides.
        return _CANDIDATE.search(text) is not None
    if _CANDIDATE_SHAPE.search(text):
        return True
    lowered = text.lower()
    return any(phrase in lowered for phrase in _TRIGGER_PHRASES) or _TRIGGER_ABBREVIATION.search(lowered) is not None


def find_pii(text: str, kinds: Collection[str] = PII_KINDS) -> list[PIISpan]:
    """PII spans in ``text``, non-overlapping, in text order. ``kinds`` limits the detectors run:
    the batch path passes the kinds whose ``KIND_HINTS`` match (any other finds nothing)."""
    text = detection_view(text)
    if not could_hold_pii(text):
        return []
    spans: list[PIISpan] = []
    for kind, detect in _DETECTORS:
        if kind not in kinds:
            continue
        if kind == "PHONE" and not _free_digit_run(text, spans):
            continue  # libphonenumber is the costly matcher; digits already taken cannot be a phone
        # Within a kind the longest span wins ("Flat 3, 12 Oak Avenue" over "12 Oak Avenue").
        spans += sorted(detect(text), key=lambda s: s.start - s.end)
    return _without_overlaps(spans)


def _free_digit_run(text: str, spans: list[PIISpan]) -> bool:
    """A run of 7+ digits (a phone number's least) not inside a span found already."""
    return any(
        not any(span.start <= run.start() and run.end() <= span.end for span in spans) for run in _DIGIT_RUN.finditer(text)
    )


def scrub_text(text: str, first_kinds: Collection[str] = PII_KINDS) -> tuple[str, list[str]]:
    """``text`` with each PII span replaced by ``[KIND]``, and the kinds replaced.

    Replacing a span can expose a neighbour its context hid ("jo@x.com12 Oak Avenue": the street
    number was glued to the address before it), so scrubbing repeats until nothing is found. Each
    pass replaces original characters with placeholders that never match, so this ends. The first
    pass looks for ``first_kinds`` only (see ``find_pii``); later passes, on changed text, for all."""
    kinds: list[str] = []
    spans = find_pii(text, first_kinds)
    while spans:
        pieces, last = [], 0
        for span in spans:
            pieces.append(text[last : span.start])
            pieces.append(f"[{span.kind}]")
            last = span.end
        pieces.append(text[last:])
        text = "".join(pieces)
        kinds += [span.kind for span in spans]
        spans = find_pii(text)
    return text, kinds


# Below this many flagged messages (in one call) the work stays in this process.
PARALLEL_SCRUB_FROM = 500


def _scrub_chunk(work: list[tuple[str, Collection[str]]]) -> list[tuple[str, list[str]]]:
    return [scrub_text(text, kinds) for text, kinds in work]


class ScrubWorkers:
    """``scrub_text`` over many texts, on every core when there are enough of them.

    libphonenumber (pure Python) dominates the cost of a flagged message, so a large day spreads
    its flagged messages over worker processes: started on first need, shared by every batch of
    the day, stopped on exit. Work is submitted without waiting, so the caller can prepare the
    next batch while the workers scrub this one. The results are the same, in the same order."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, work: list[tuple[str, Collection[str]]]) -> Callable[[], list[tuple[str, list[str]]]]:
        """Start ``scrub_text`` on each (text, first kinds); the returned function waits for and
        returns the results."""
        workers = cores()
        if workers < 2 or len(work) < PARALLEL_SCRUB_FROM:
            results = _scrub_chunk(work)
            return lambda: results
        if self._pool is None:
            # fork: workers start at once with the matchers loaded and run pure Python only, so
            # the Arrow and DuckDB thread pools a fork copies are never touched (spawn would
            # re-run __main__).
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        size = max(1, len(work) // (workers * 4))
        futures = [self._pool.submit(_scrub_chunk, work[i : i + size]) for i in range(0, len(work), size)]
        return lambda: [result for future in futures for result in future.result()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ScrubWorkers:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _column(messages: Iterable[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(messages, (pa.Array, pa.ChunkedArray)):
        return one_array(messages)
    return pa.array(list(messages), pa.string())


def _matches(texts: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(texts, pattern), False)


def kinds_to_look_for(messages: Iterable[str | None] | pa.Array | pa.ChunkedArray) -> tuple[pa.Array, list[Collection[str]]]:
    """The rows that could hold PII (as indices) and, per such row, the kinds worth looking for,
    decided for the whole column by RE2: ``KIND_HINTS`` for ASCII text, and for the rest
    ``UNICODE_CANDIDATE_PATTERN`` (and then every kind)."""
    texts = _column(messages)
    ascii_ = pc.fill_null(pc.string_is_ascii(texts), True)
    flagged = pc.and_(ascii_, _matches(texts, _ANY_HINT))
    if not pc.all(ascii_).as_py():
        flagged = pc.or_(flagged, pc.and_(pc.invert(ascii_), _matches(texts, UNICODE_CANDIDATE_PATTERN)))
    rows = pc.indices_nonzero(flagged)
    candidates = texts.take(rows)
    hinted = {kind: _matches(candidates, hint).to_pylist() for kind, hint in KIND_HINTS.items()}
    kinds = [
        tuple(kind for kind in PII_KINDS if hinted[kind][i]) if is_ascii else PII_KINDS
        for i, is_ascii in enumerate(ascii_.take(rows).to_pylist())
    ]
    return rows, kinds


def candidate_mask(messages: Iterable[str | None] | pa.Array | pa.ChunkedArray) -> list[bool]:
    """Which messages could hold PII (see ``kinds_to_look_for``)."""
    texts = _column(messages)
    mask = [False] * len(texts)
    for row in kinds_to_look_for(texts)[0].to_pylist():
        mask[row] = True
    return mask


@dataclass(frozen=True)
class ScrubResult:
    texts: pa.Array  # the column, PII replaced
    redactions: pa.Array  # int32: spans replaced, per message
    counts: Counter  # spans replaced, per kind


class PendingScrub:
    """A column's scrub under way (``start_scrub``); ``result()`` waits for it."""

    def __init__(self, texts: pa.Array, rows: pa.Array, work: list[tuple[str, Collection[str]]], results: Callable[[], list]) -> None:
        self._texts, self._rows, self._work, self._results = texts, rows, work, results

    def result(self) -> ScrubResult:
        counts: Counter = Counter({kind: 0 for kind in PII_KINDS})
        done = dict(zip((text for text, _ in self._work), self._results()))
        changed_rows, changed_texts, redactions = [], [], [0] * len(self._texts)
        for row, text in zip(self._rows.to_pylist(), self._texts.take(self._rows).to_pylist()):
            scrubbed, kinds = done[text]
            if kinds:
                changed_rows.append(row)
                changed_texts.append(scrubbed)
                redactions[row] = len(kinds)
                counts.update(kinds)
        texts = self._texts
        if changed_rows:
            mask = pc.is_in(pa.array(range(len(texts)), pa.int64()), pa.array(changed_rows, pa.int64()))
            texts = pc.replace_with_mask(texts, mask, pa.array(changed_texts, pa.string()))
        return ScrubResult(texts, pa.array(redactions, pa.int32()), counts)


def start_scrub(messages: Iterable[str | None] | pa.Array | pa.ChunkedArray, workers: ScrubWorkers) -> PendingScrub:
    """Pick a column's messages that could hold PII and the kinds to look for (vectorized), and
    hand them (each distinct text once: templated messages repeat) to ``workers`` without waiting."""
    texts = _column(messages)
    rows, kinds = kinds_to_look_for(texts)
    work = list(dict(zip(texts.take(rows).to_pylist(), kinds)).items())
    return PendingScrub(texts, rows, work, workers.submit(work))


def scrub_messages(messages: Iterable[str | None] | pa.Array | pa.ChunkedArray, workers: ScrubWorkers | None = None) -> ScrubResult:
    """Scrub a column of messages. Only the messages the vectorized pre-filter flags reach the
    matchers, and only the matchers their kinds' hints call for, which keeps a day of mostly
    cooking chat cheap. ``workers`` shares one process pool across the batches of a day; without
    it a pool lives for this call only."""
    if workers is None:
        with ScrubWorkers() as own:
            return scrub_messages(messages, own)
    return start_scrub(messages, workers).result()


def scan_for_pii(messages: Iterable[str | None] | pa.Array | pa.ChunkedArray) -> tuple[Counter, list[int]]:
    """PII spans left in a column, per kind, and the rows that hold them (the leak check's core)."""
    texts = _column(messages)
    rows, kinds = kinds_to_look_for(texts)
    found: Counter = Counter()
    leaking: list[int] = []
    for row, text, hinted in zip(rows.to_pylist(), texts.take(rows).to_pylist(), kinds):
        spans = find_pii(text, hinted)
        if spans:
            found.update(span.kind for span in spans)
            leaking.append(row)
    return found, leaking
