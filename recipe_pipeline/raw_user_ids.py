"""The day's raw user ids inside text: the anonymizer replaces them (``without_raw_user_ids``),
and the blocking check ``anonymized_has_no_raw_user_ids`` looks for any left.

A user who types their own account id ("I'm user-6dbc46c71619, I got logged out"), or another
user's, would otherwise carry a raw id into the analytics zone, where the check then fails the
day on every run. One Aho-Corasick pass over a batch's texts, searched in place in Arrow's
buffer, finds the few that hold one; only those are rewritten.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

import ahocorasick_rs
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recipe_pipeline.storage import parquet_batches

USER_ID_KIND = "USER_ID"  # counted beside the PII kinds
USER_ID_PLACEHOLDER = f"[{USER_ID_KIND}]"


# Ids shorter than this would match ordinary words; the user_id column check covers them.
MIN_SEARCHED_ID_CHARS = 6


def day_user_ids(file: pq.ParquetFile, batch_rows: int) -> pa.Array:
    """The distinct user ids of a raw day's file, read a batch at a time (its user_id column is
    120 MB at 5M messages), kept in Arrow: 165,000 of them as Python strings and a set took
    about 40 MB that the process did not hand back."""
    distinct = [pc.unique(batch.column("user_id")).drop_null() for batch in parquet_batches(file, batch_rows, ["user_id"])]
    return pc.unique(pa.chunked_array(distinct, pa.string()))


def id_automaton(ids: Iterable[str] | pa.Array) -> ahocorasick_rs.BytesAhoCorasick | None:
    """An Aho-Corasick automaton over the ids' UTF-8 bytes, one pass over a text finding any of
    them, however many the day has (an RE2 alternation of 33,000 ids took 4.3 s over a million
    messages, and fails to compile from about 50,000). The Rust crate's contiguous NFA: for the
    165,000 ids of 5M messages, 23 MB and 0.65 s of searching, against pyahocorasick's 64 MB and
    4.1 s. An Arrow array's ids are read in place, as views of its buffer. None when no id is long
    enough."""
    if isinstance(ids, pa.Array):
        long_enough = ids.filter(pc.fill_null(pc.greater_equal(pc.utf8_length(ids), MIN_SEARCHED_ID_CHARS), False))
        patterns: Iterable = _views(long_enough) if len(long_enough) else None
    else:
        patterns = [user_id.encode() for user_id in ids if len(user_id) >= MIN_SEARCHED_ID_CHARS] or None
    if patterns is None:
        return None
    return ahocorasick_rs.BytesAhoCorasick(patterns, implementation=ahocorasick_rs.Implementation.ContiguousNFA)


def _views(texts: pa.Array) -> Iterator[memoryview]:
    """Each text of ``texts`` (none null) as a view of the bytes in its buffer."""
    offsets, data = _in_buffer(texts)
    return (data[offsets[row] : offsets[row + 1]] for row in range(len(texts)))


def _in_buffer(texts: pa.Array) -> tuple[list[int], memoryview | None]:
    """Where each of ``texts`` starts in the one buffer Arrow keeps them in (and where the last
    ends), and that buffer's bytes (None when it has none)."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise TypeError(f"texts must be string or large_string, not {texts.type}")
    offset_type = pa.int64() if pa.types.is_large_string(texts.type) else pa.int32()
    offsets = pa.Array.from_buffers(offset_type, len(texts) + 1, [None, texts.buffers()[1]], offset=texts.offset).to_pylist()
    data = texts.buffers()[2]
    return offsets, None if data is None else memoryview(data).cast("B")


# Texts searched per call: the matches come back as one list, so a leak repeated in every
# message (the check's failing case) must not hold a whole batch's matches at once.
SEARCH_ROWS = 16_384


def rows_containing(texts: pa.Array, automaton: ahocorasick_rs.BytesAhoCorasick) -> list[int]:
    """Positions of the non-null ``texts`` that contain a word of ``automaton``. The texts are
    searched in place in the one buffer Arrow keeps them in, ``SEARCH_ROWS`` at a time; a match
    across two of them is not one (every match is reported, overlapping ones too, so one across a
    boundary hides none within a text)."""
    offsets, data = _in_buffer(texts)
    if data is None or offsets[-1] == offsets[0]:
        return []
    found = set()
    for first in range(0, len(texts), SEARCH_ROWS):
        last = min(first + SEARCH_ROWS, len(texts))
        base = offsets[first]
        for _, start, end in automaton.find_matches_as_indexes(data[base : offsets[last]], overlapping=True):
            row = bisect.bisect_right(offsets, base + start, first, last) - 1
            if base + end <= offsets[row + 1]:
                found.add(row)
    return sorted(row for row in found if texts[row].is_valid)


def without_raw_user_ids(texts: pa.Array, automaton: ahocorasick_rs.BytesAhoCorasick | None) -> tuple[pa.Array, pa.Array | None]:
    """``texts`` with every raw user id of ``automaton`` replaced by ``[USER_ID]``, and how many
    were replaced per text (None when none was: the usual case costs one search)."""
    rows = rows_containing(texts, automaton) if automaton is not None and len(texts) else []
    if not rows:
        return texts, None
    replaced = [0] * len(texts)
    new_texts = []
    for row in rows:
        text, replaced[row] = _ids_replaced(texts[row].as_py(), automaton)
        new_texts.append(text)
    mask = pc.is_in(pa.array(range(len(texts)), pa.int64()), pa.array(rows, pa.int64()))
    return pc.replace_with_mask(texts, mask, pa.array(new_texts, texts.type)), pa.array(replaced, pa.int32())


_PLACEHOLDER_BYTES = USER_ID_PLACEHOLDER.encode()


def _ids_replaced(text: str, automaton: ahocorasick_rs.BytesAhoCorasick) -> tuple[str, int]:
    """``text`` with each run of overlapping ids in it as one placeholder, and how many runs.
    Overlapping ids are taken together, so no part of either is left."""
    data = text.encode()
    runs: list[list[int]] = []
    for start, end in sorted((start, end) for _, start, end in automaton.find_matches_as_indexes(data, overlapping=True)):
        if runs and start < runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    pieces, last = [], 0
    for start, end in runs:
        pieces += [data[last:start], _PLACEHOLDER_BYTES]
        last = end
    pieces.append(data[last:])
    return b"".join(pieces).decode(), len(runs)
