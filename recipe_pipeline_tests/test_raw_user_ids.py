"""Finding the day's raw user ids inside texts, and replacing them."""

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe_pipeline.raw_user_ids import id_automaton, rows_containing, without_raw_user_ids


# -- finding raw ids inside texts ---------------------------------------------------------------
def test_rows_containing_finds_ids_within_one_text_only():
    automaton = id_automaton(["user-123456", "üser-7890ab", "short"])
    texts = pa.array(["I'm user-123456!", "ends with user-12", "3456 starts here", None, "ich bin üser-7890ab", "short", "xuser-123456x"])
    assert rows_containing(texts, automaton) == [0, 4, 6]  # not across 1-2; "short" is too short to search
    assert rows_containing(texts.slice(2), automaton) == [2, 4]
    assert rows_containing(texts.cast(pa.large_string()), automaton) == [0, 4, 6]
    assert rows_containing(pa.array([], pa.string()), automaton) == []
    assert id_automaton(["short", "abc"]) is None


def test_a_null_text_is_not_searched_even_if_its_slot_holds_bytes():
    texts = pa.array(["user-123456", "plain"])
    hidden = pa.Array.from_buffers(pa.string(), 2, [pa.array([False, True]).buffers()[1], *texts.buffers()[1:]])
    assert hidden.to_pylist() == [None, "plain"]
    assert rows_containing(hidden, id_automaton(["user-123456"])) == []


def test_a_match_across_two_texts_hides_no_match_within_the_next():
    # A search that resumed after each match would take bytes 3-12 for the first id and never
    # see the second, whole in the second text.
    texts = pa.array(["...zzz", "abcdefgh"])
    assert rows_containing(texts, id_automaton(["zzzabcdef", "abcdefgh"])) == [1]


def test_texts_are_searched_a_slice_of_rows_at_a_time(monkeypatch):
    monkeypatch.setattr("recipe_pipeline.raw_user_ids.SEARCH_ROWS", 2)
    texts = pa.array(["user-123456", "x", "y user-1", "23456", None, "user-123456 again"]).slice(1)
    assert rows_containing(texts, id_automaton(["user-123456"])) == [4]


# Two or three letters make matches (and matches across texts) common; "é" makes bytes differ
# from characters.
_ID_TEXT = st.text(alphabet="abé", max_size=12)


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.text(alphabet="abé", min_size=6, max_size=8), min_size=1, max_size=5), texts=st.lists(st.none() | _ID_TEXT, max_size=10),
       start=st.integers(0, 3), cut_end=st.integers(0, 3), large=st.booleans(), search_rows=st.integers(1, 4))
def test_rows_containing_is_substring_search(ids, texts, start, cut_end, large, search_rows):
    column = pa.array(texts, pa.large_string() if large else pa.string())
    start = min(start, len(texts))
    column = column.slice(start, max(0, len(texts) - start - cut_end))
    expected = [row for row, text in enumerate(column.to_pylist()) if text is not None and any(i in text for i in ids)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("recipe_pipeline.raw_user_ids.SEARCH_ROWS", search_rows)
        assert rows_containing(column, id_automaton(ids)) == expected


def test_ids_in_texts_become_placeholders_and_are_counted():
    automaton = id_automaton(["user-123456", "üser-7890ab", "short"])
    texts = pa.array(["I'm user-123456!", "plain", None, "üser-7890ab and user-123456", "short", "user-123456user-123456"])
    replaced, counts = without_raw_user_ids(texts, automaton)
    assert replaced.to_pylist() == ["I'm [USER_ID]!", "plain", None, "[USER_ID] and [USER_ID]", "short", "[USER_ID][USER_ID]"]
    assert counts.to_pylist() == [1, 0, 0, 2, 0, 2]
    assert without_raw_user_ids(pa.array(["plain"]), automaton) == (pa.array(["plain"]), None)
    clean = pa.array(["user-123456"])
    assert without_raw_user_ids(clean, None)[0] is clean


def test_overlapping_ids_go_together_leaving_no_part_of_either():
    automaton = id_automaton(["abcdef", "defghi", "abcdefgh"])
    replaced, counts = without_raw_user_ids(pa.array(["xx abcdefghi yy", "é-defghi-é"]), automaton)
    assert replaced.to_pylist() == ["xx [USER_ID] yy", "é-[USER_ID]-é"] and counts.to_pylist() == [1, 1]


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.text(alphabet="abé", min_size=6, max_size=8), min_size=1, max_size=5), texts=st.lists(st.none() | _ID_TEXT, max_size=10))
def test_no_id_is_left_once_replaced(ids, texts):
    automaton = id_automaton(ids)
    replaced, _ = without_raw_user_ids(pa.array(texts, pa.string()), automaton)
    assert rows_containing(replaced, automaton) == []
    assert [text is None for text in replaced.to_pylist()] == [text is None for text in texts]


def test_an_automaton_of_an_arrow_array_reads_the_ids_in_place():
    ids = pa.array(["xx", "user-123456", None, "üser-7890ab", "short"]).slice(1)
    automaton = id_automaton(ids)
    texts = pa.array(["I'm user-123456!", "ich bin üser-7890ab", "short", "plain"])
    assert rows_containing(texts, automaton) == [0, 1] == rows_containing(texts, id_automaton(["user-123456", "üser-7890ab"]))
    assert id_automaton(ids.cast(pa.large_string())) is not None
    assert id_automaton(pa.array(["short", None])) is None and id_automaton(pa.array([], pa.string())) is None
