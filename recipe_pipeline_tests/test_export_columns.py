"""The columnar reading of exports gives exactly what the line-by-line path gives.

Messy exports (odd types, extra attributes, every timestamp form, deletes, TTL expiries,
overlapping exports, malformed lines, oversized items) are resolved twice, columnar and exact;
days, counts, quarantine and export indexes must be identical."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from recipe_pipeline.export_columns import read_data_file
from recipe_pipeline import lake as layout
from recipe_pipeline.export_index import build_export_index, item_day, load_or_build_export_index, write_export_index
from recipe_pipeline.export_writer import Change, ExportWriter, micros
from recipe_pipeline.exports import ExportStore, parse_record
from recipe_pipeline.raw import RAW_SCHEMA, build_raw_day, resolve_raw_day

FULL_AT = datetime(2025, 1, 3, tzinfo=UTC)
DAYS = ("2025-01-01", "2025-01-02", "2025-01-03")


def _timestamp(rng: random.Random, day: str, n: int) -> str:
    base = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(seconds=n * 37 % 86_000, microseconds=n)
    form = rng.choice(["z", "z", "naive", "millis", "offset", "utc_offset", "space"])
    return {
        "z": base.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "naive": base.replace(tzinfo=None).isoformat(),
        "millis": base.strftime("%Y-%m-%dT%H:%M:%S.") + f"{base.microsecond // 1000:03d}Z",
        "offset": (base.astimezone(UTC) + timedelta(hours=-3)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "-03:00",
        "utc_offset": base.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00",
        "space": base.replace(tzinfo=None).isoformat(sep=" "),
    }[form]


ODD_ATTRIBUTES = [
    {},
    {"metadata": {"M": {}}},
    {"metadata": {"M": {"tools_used": {"L": [{"S": "timer"}, {"S": "web_search"}]}, "rating": {"N": "4"}}}},
    {"metadata": {"M": {"tool": {"S": "cookware_check"}, "tags": {"SS": ["b", "a"]}, "flag": {"NULL": True}}}},
    {"metadata": {"M": {"blob": {"B": "aGk="}, "nums": {"NS": ["2.5", "-1"]}, "inner": {"M": {"deep": {"BOOL": False}}}}}},
    {"metadata": {"M": {"x": {"N": "abc"}}}},  # undecodable: quarantined
    {"metadata": {"S": "not a map"}},  # quarantined
    {"metadata": {"M": {"empty": {"M": {}}}}},
    {"lang": {"S": "en"}, "score": {"N": "1.5"}},  # extra attributes
    {"ttl": {"N": "1735700000"}},
    {"ttl": {"N": "1.7e9"}},
    {"ttl": {"S": "soon"}},
    {"has_recipe": {"BOOL": True}, "recipe_name": {"S": "pho"}, "date_str": {"S": "2025-01-01"}},
    {"date_str": {"N": "5"}},
    {"message": {"N": "5"}},  # quarantined
    {"message": None},  # absent message: an empty one
    {"user_id": {"N": "7"}},  # quarantined
    {"message": {"S": "bell\u0007 and nul\u0000 gone\ttab kept"}},
    {"message": {"S": "x" * 200_000}},  # large, within the limit
    {"message": {"S": "y" * 420_000}},  # over DynamoDB's 400 KB limit: quarantined
]
MALFORMED_LINES = [b"not json at all", b'{"Item": {"conversation_id": {"N": "1"}, "timestamp": {"S": "2025-01-01T00:00:00Z"}}}',
                   b'{"Item": {"conversation_id": {"S": "c"}, "timestamp": {"S": "yesterday"}}}', b'["a list"]']


def _image(rng: random.Random, conversation_id: str, timestamp: str, odd: bool) -> dict:
    image = {
        "conversation_id": {"S": conversation_id}, "timestamp": {"S": timestamp}, "user_id": {"S": f"user-{rng.randrange(5)}"},
        "role": {"S": rng.choice(["user", "assistant", "tool"])}, "message": {"S": f"message {rng.random():.6f}"},
    }
    if odd:
        for name, value in rng.choice(ODD_ATTRIBUTES).items():
            if value is None:
                image.pop(name, None)
            else:
                image[name] = value
    return image


def _line(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def messy_exports(writer: ExportWriter, seed: int, *, whole_file_faults: bool) -> None:
    rng = random.Random(seed)
    keys = [(f"conv-{rng.randrange(40)}", _timestamp(rng, rng.choice(DAYS), n)) for n in range(300)]
    keys = list(dict.fromkeys(keys))
    images = {key: _image(rng, *key, odd=rng.random() < 0.35) for key in keys}
    full_lines = [_line({"Item": images[key]}) for key in keys if rng.random() < 0.8]
    malformed = rng.sample(MALFORMED_LINES, 2) if whole_file_faults else []
    writer.write_full_export([], FULL_AT - timedelta(days=1), extra_lines=full_lines + malformed)

    # Two overlapping incremental exports: edits, deletes (some of them TTL expiries), re-inserts.
    for window in range(2):
        start = FULL_AT - timedelta(hours=12) + timedelta(hours=6 * window)
        lines = []
        for key in rng.sample(keys, 80):
            write = micros(start) + rng.randrange(6 * 3600 * 1_000_000)
            record = {"Metadata": {"WriteTimestampMicros": {"N": str(write)}},
                      "Keys": {"conversation_id": {"S": key[0]}, "timestamp": {"S": key[1]}}}
            action = rng.random()
            if action < 0.6:
                record["NewImage"] = _image(rng, *key, odd=rng.random() < 0.3)
                if rng.random() < 0.5:
                    record["OldImage"] = images[key]
            elif action < 0.8:
                expired = rng.random() < 0.5
                record["OldImage"] = {**images[key], "ttl": {"N": str(write // 1_000_000 - (60 if expired else -60))}}
            lines.append(_line(record))
            if rng.random() < 0.1:
                lines.append(_line(record))  # the same change in both overlapping windows
        writer.write_incremental_export([], start, start + timedelta(hours=12), extra_lines=lines)
    # A later full snapshot that lacks some items (deleted since) of one day.
    if seed % 2:
        later = [_line({"Item": images[key]}) for key in keys if rng.random() < 0.7]
        writer.write_full_export([], FULL_AT + timedelta(days=1), extra_lines=later)


@pytest.mark.parametrize("seed", range(6))
def test_columnar_and_exact_reading_give_the_same_days(project, seed, monkeypatch):
    writer = ExportWriter(project.exports, files_per_export=3)
    messy_exports(writer, seed, whole_file_faults=seed % 3 == 0)
    store = ExportStore(project.exports)
    for summary in store.completed():
        assert build_export_index(store, project.lake, summary) == build_export_index(store, project.lake, summary, columnar=False)
    monkeypatch.setattr("recipe_pipeline.raw.ROW_GROUPS_PER_SPILL_FILE", 1)
    for day in DAYS:
        columnar = build_raw_day(store, project.lake, day)
        exact = build_raw_day(store, project.lake, day, columnar=False)
        assert columnar.counts == exact.counts
        assert columnar.table.equals(exact.table), day
        assert columnar.quarantine == exact.quarantine
        assert columnar.exports_read == exact.exports_read
        # Resolved in many small time buckets (a bucket per ~7 versions, in a spill file per row
        # group), the day is the same.
        for bucketed in (build_raw_day(store, project.lake, day, bucket_rows=7), build_raw_day(store, project.lake, day, columnar=False, bucket_rows=7)):
            assert bucketed.counts == columnar.counts
            assert bucketed.table.equals(columnar.table), day
            assert bucketed.quarantine == columnar.quarantine


@pytest.mark.parametrize("seed", range(4))
def test_a_full_export_cut_by_day_gives_the_days_its_data_files_give(project, seed, monkeypatch):
    # Row groups of 5 rows, files of 2 row groups, and a buffer that sends the largest day out
    # after almost every file.
    monkeypatch.setattr("recipe_pipeline.export_index.DAY_FILE_ROW_GROUP", 5)
    monkeypatch.setattr("recipe_pipeline.export_index.ROW_GROUPS_PER_DAY_FILE", 2)
    monkeypatch.setattr("recipe_pipeline.export_index.DAY_FILE_BUFFER_BYTES", 4096)
    monkeypatch.setattr("recipe_pipeline.export_index.OPEN_DAY_FILES", 1 + seed % 2)  # days take turns with the files
    writer = ExportWriter(project.exports, files_per_export=3)
    messy_exports(writer, seed, whole_file_faults=seed % 3 == 0)
    store = ExportStore(project.exports)
    full = [s for s in store.completed() if s.is_full]
    for summary in store.completed():
        assert load_or_build_export_index(store, project.lake, summary).day_files == summary.is_full
    cut = {day: build_raw_day(store, project.lake, day) for day in DAYS}
    day_files = project.lake.list_files(layout.EXPORT_DAYS, recursive=True)
    assert {path.split("/")[2] for path in day_files} == {s.export_id for s in full}
    assert any("/lines-" in path for path in day_files)  # odd items: both kinds
    assert any(path.endswith("rows-00001.parquet") for path in day_files)  # a day over several files
    for path in day_files:
        export_id, day, name = path.split("/")[-3:]
        table = project.lake.read_parquet(path)
        if name.startswith("lines-"):  # lines the exact path reads, each of its day
            summary = next(s for s in full if s.export_id == export_id)
            assert {item_day(parse_record(line, summary).timestamp) for line in table.column("line").to_pylist()} == {day}
        else:
            assert pc.all(pc.starts_with(table.column("timestamp"), day)).as_py()
            metadata = project.lake.parquet_file(path).metadata
            assert metadata.num_row_groups <= 2 and max(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)) <= 5
    # Indexed without the cut, the days read the data files.
    project.lake.delete_dir(layout.EXPORT_DAYS)
    for summary in full:
        assert not write_export_index(store, project.lake, summary, cut_by_day=False).day_files
    for day in DAYS:
        again = build_raw_day(store, project.lake, day)
        assert again.counts == cut[day].counts
        assert again.table.equals(cut[day].table), day
        assert again.quarantine == cut[day].quarantine
    assert not project.lake.list_files(layout.EXPORT_DAYS, recursive=True)  # read from the data files, not cut again


def test_messy_exports_exercise_both_paths(project):
    """The equivalence above would be empty if one path never ran."""
    writer = ExportWriter(project.exports, files_per_export=3)
    messy_exports(writer, 1, whole_file_faults=False)
    store = ExportStore(project.exports)
    fast = exact = 0
    for summary in store.completed():
        for data_file in store.data_files(summary):
            candidates = read_data_file(store, summary, data_file)
            fast += candidates.table.num_rows
            exact += len(candidates.exact_lines)
    assert fast > 200 and 20 < exact < fast
    raw = build_raw_day(store, project.lake, "2025-01-01")
    assert raw.counts["quarantined"] and raw.counts["deleted"] and raw.counts["superseded_versions"]


def test_a_file_the_vectorized_parser_rejects_is_read_line_by_line(project):
    writer = ExportWriter(project.exports, files_per_export=1)
    good = _line({"Item": {"conversation_id": {"S": "c1"}, "timestamp": {"S": "2025-01-01T10:00:00Z"}, "user_id": {"S": "u"},
                           "role": {"S": "user"}, "message": {"S": "hi"}}})
    writer.write_full_export([], FULL_AT, extra_lines=[good, b"not json"])
    store = ExportStore(project.exports)
    [summary] = store.completed()
    [data_file] = store.data_files(summary)
    candidates = read_data_file(store, summary, data_file)
    assert candidates.table.num_rows == 0 and len(candidates.exact_lines) == 2
    raw = build_raw_day(store, project.lake, "2025-01-01")
    assert raw.table.column("message").to_pylist() == ["hi"]
    assert isinstance(raw.table, pa.Table)


def _message(conversation_id: str, timestamp: str) -> dict:
    return {"conversation_id": conversation_id, "timestamp": timestamp, "user_id": "u1", "role": "user", "message": "hi"}


# Shaped like a plain UTC timestamp, but no real instant (or none Python can hold).
IMPOSSIBLE_TIMESTAMPS = ["2025-02-30T10:00:00Z", "2025-01-01T25:00:00Z", "2025-01-01T10:00:60Z", "2025-01-01T10:61:00",
                         "2025-01-01T24:00:00", "2025-02-29T10:00:00.5+00:00", "0000-01-01T00:00:00"]


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
@pytest.mark.parametrize("timestamp", IMPOSSIBLE_TIMESTAMPS)
def test_a_timestamp_that_is_no_real_instant_is_quarantined_by_the_exact_path(project, timestamp, full):
    # Its first ten characters are no day (2025-02-30 wedged the sensor) and Arrow's cast fails
    # on it (25:00 failed the raw run): the index quarantines it, as the line-by-line path does.
    writer = ExportWriter(project.exports, files_per_export=1)
    good, bad = _message("c1", "2025-01-01T10:00:00Z"), _message("c2", timestamp)
    if full:
        writer.write_full_export([good, bad], FULL_AT)
    else:
        start = datetime(2025, 1, 1, tzinfo=UTC)
        writer.write_full_export([], start)
        writer.write_incremental_export(
            [Change(("c1", good["timestamp"]), micros(start + timedelta(hours=1)), good, None),
             Change(("c2", timestamp), micros(start + timedelta(hours=2)), bad, None)], start, start + timedelta(days=1))
    store = ExportStore(project.exports)
    summary = store.completed()[-1]
    [data_file] = store.data_files(summary)
    assert [n for n, _ in read_data_file(store, summary, data_file).exact_lines] == [2]
    index = load_or_build_export_index(store, project.lake, summary)
    assert index.days == {"2025-01-01": 1}
    assert index.quarantine_reasons == {"timestamp is not ISO 8601": 1}
    day = build_raw_day(store, project.lake, "2025-01-01")
    assert day.table.column("conversation_id").to_pylist() == ["c1"]
    exact = build_raw_day(store, project.lake, "2025-01-01", columnar=False)
    assert day.table.equals(exact.table) and day.counts == exact.counts


@pytest.mark.parametrize("seed", range(3))
def test_a_day_streamed_in_small_batches_over_many_buckets_is_the_same_day(project, seed):
    # Several batches per bucket, drawn ahead on DuckDB's thread: none lost, none repeated.
    writer = ExportWriter(project.exports, files_per_export=3)
    messy_exports(writer, seed, whole_file_faults=seed % 3 == 0)
    store = ExportStore(project.exports)
    for day in DAYS:
        whole = build_raw_day(store, project.lake, day)
        for bucket_rows, batch_rows in ((1, 1), (3, 2), (7, 3)):
            with resolve_raw_day(store, project.lake, day, bucket_rows=bucket_rows, batch_rows=batch_rows) as stream:
                batches = list(stream.batches)
            assert pa.Table.from_batches(batches, schema=RAW_SCHEMA).equals(whole.table), (day, bucket_rows, batch_rows)
            assert (stream.counts, stream.quarantine) == (whole.counts, whole.quarantine)
            assert all(batch.num_rows <= batch_rows for batch in batches)


@pytest.mark.parametrize("taken", [0, 1, 2, 3, 5, 8, 13])
def test_leaving_a_streamed_day_after_any_batch_is_clean(project, taken):
    # Wherever the caller stops, DuckDB's thread is mid-bucket or between buckets: leaving waits
    # for it before the connection closes (else DuckDB refuses to close a busy connection).
    writer = ExportWriter(project.exports, files_per_export=3)
    messy_exports(writer, 1, whole_file_faults=False)
    store = ExportStore(project.exports)
    for day in DAYS:
        for _ in range(3):
            with resolve_raw_day(store, project.lake, day, bucket_rows=2, batch_rows=1) as stream:
                for _batch in zip(range(taken), stream.batches):
                    pass


def test_in_order_ahead_keeps_the_order_and_holds_at_most_ahead_plus_one():
    import threading
    import time

    from recipe_pipeline.export_columns import in_order_ahead

    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        time.sleep(0.01 * (5 - n % 5))  # later items finish first
        return n * n

    taken = []
    for value in in_order_ahead(work, range(12), ahead=2):
        # When item k is handed over, at most k + 2 more have been started.
        assert len(started) <= len(taken) + 3
        taken.append(value)
    assert taken == [n * n for n in range(12)]


def test_drawn_ahead_keeps_the_order_and_draws_at_most_capacity_plus_two_ahead():
    import time

    from recipe_pipeline.export_columns import drawn_ahead

    drawn: list[int] = []

    def items():
        for n in range(20):
            drawn.append(n)
            yield n

    taken = []
    for value in drawn_ahead(items(), capacity=2):
        time.sleep(0.005)  # a slow caller: the worker fills the queue and waits
        # Held: the queue's two, the one the worker waits to put, and the caller's.
        assert len(drawn) <= len(taken) + 4
        taken.append(value)
    assert taken == list(range(20))


def test_drawn_ahead_raises_the_items_error_and_closes_them_on_their_thread_when_left_early():
    import threading

    from recipe_pipeline.export_columns import drawn_ahead

    def failing():
        yield 1
        raise ValueError("bad bucket")

    with pytest.raises(ValueError, match="bad bucket"):
        list(drawn_ahead(failing(), capacity=1))

    closed_on: list[str] = []

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed_on.append(threading.current_thread().name)

    ahead = drawn_ahead(endless(), capacity=1)
    assert next(ahead) == 0
    ahead.close()  # returns once the worker has stopped and closed ``endless``
    assert closed_on == ["drawn-ahead"]
