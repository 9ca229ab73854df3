"""Resolving one day of raw conversations across overlapping exports (``build_raw_day``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from recipe_pipeline.export_writer import Change, ExportWriter, micros
from recipe_pipeline.exports import ExportError, ExportStore
from recipe_pipeline.raw import MAX_BUCKETS, RAW_SCHEMA, _BucketSpill, bucket_count, build_raw_day, resolve_raw_day

FULL_AT = datetime(2025, 1, 2, tzinfo=UTC)
DAY2_END = FULL_AT + timedelta(days=1)


def item(conversation_id: str, timestamp: str, message: str = "hello", **extra) -> dict:
    return {"conversation_id": conversation_id, "timestamp": timestamp, "user_id": "u1", "role": "user", "message": message, **extra}


@pytest.fixture
def writer(project):
    return ExportWriter(project.exports)


def raw_day(project, day: str):
    return build_raw_day(ExportStore(project.exports), project.lake, day)


def messages(result) -> dict[tuple[str, str], str]:
    rows = result.table.to_pylist()
    return {(r["conversation_id"], r["timestamp"]): r["message"] for r in rows}


def key(i: dict) -> tuple[str, str]:
    return (i["conversation_id"], i["timestamp"])


def assert_counts_conserve(result) -> None:
    # Against the rows actually resolved: ``counts["rows"]`` is derived from the others.
    counts = result.counts
    assert counts["unique_items"] == result.table.num_rows + counts["deleted"] + counts["quarantined"] + counts["erased"], counts
    assert counts["rows"] == result.table.num_rows


def test_newest_version_wins_and_each_item_appears_once(project, writer):
    a = item("c1", "2025-01-01T10:00:00.000001Z", "v1")
    writer.write_full_export([a], FULL_AT)
    edited = {**a, "message": "v2"}
    writer.write_incremental_export([Change(("c1", a["timestamp"]), micros(FULL_AT + timedelta(hours=1)), edited, a)], FULL_AT, DAY2_END)
    result = raw_day(project, "2025-01-01")
    assert messages(result) == {("c1", a["timestamp"]): "v2"}
    assert result.counts["superseded_versions"] == 1
    assert result.counts["unique_items"] == result.counts["rows"] == 1
    assert result.table.schema.equals(RAW_SCHEMA)
    assert result.exports_cover_day


def test_exports_processed_in_any_order_give_the_same_day(project, writer):
    a = item("c1", "2025-01-01T23:59:59.5Z", "late")
    # The incremental export (edit) is written first, the full export after it.
    writer.write_incremental_export([Change(("c1", a["timestamp"]), micros(FULL_AT + timedelta(minutes=30)), {**a, "message": "edited"}, a)], FULL_AT, DAY2_END)
    writer.write_full_export([a], FULL_AT)
    assert messages(raw_day(project, "2025-01-01")) == {("c1", a["timestamp"]): "edited"}


def test_a_deletion_in_a_later_export_removes_the_item(project, writer):
    a, b = item("c1", "2025-01-01T10:00:00Z"), item("c1", "2025-01-01T10:01:00Z")
    writer.write_full_export([a, b], FULL_AT)
    writer.write_incremental_export([Change(("c1", b["timestamp"]), micros(FULL_AT + timedelta(hours=2)), None, b)], FULL_AT, DAY2_END, view="NEW_IMAGE")
    result = raw_day(project, "2025-01-01")
    assert list(messages(result)) == [("c1", a["timestamp"])]
    assert result.counts["deleted"] == 1


def test_a_ttl_expiry_is_not_an_erasure(project, writer):
    expired_ttl = int((FULL_AT + timedelta(hours=1)).timestamp())
    a = item("c1", "2025-01-01T10:00:00Z", ttl=expired_ttl)
    writer.write_full_export([a], FULL_AT)
    # DynamoDB's TTL process deletes the item after its ttl passed.
    writer.write_incremental_export([Change(("c1", a["timestamp"]), micros(FULL_AT + timedelta(hours=3)), None, a)], FULL_AT, DAY2_END)
    result = raw_day(project, "2025-01-01")
    assert list(messages(result)) == [("c1", a["timestamp"])]
    assert result.counts["ttl_expiries_ignored"] == 1


def test_an_item_missing_from_a_newer_full_export_was_deleted(project, writer):
    a, b = item("c1", "2025-01-01T10:00:00Z"), item("c1", "2025-01-01T10:01:00Z")
    writer.write_full_export([a, b], FULL_AT)
    writer.write_full_export([a], FULL_AT + timedelta(days=3))
    result = raw_day(project, "2025-01-01")
    assert list(messages(result)) == [("c1", a["timestamp"])]
    assert result.counts["deleted_by_snapshot"] == result.counts["deleted"] == 1
    assert_counts_conserve(result)


def test_a_write_just_before_a_snapshot_and_missing_from_it_was_not_deleted(project, writer):
    # A snapshot is not consistent to the instant: a write minutes before it may be missing from it.
    # One an hour before, and missing, had been deleted by then.
    hour_before, minutes_before = item("c1", "2025-01-01T10:00:00Z"), item("c1", "2025-01-01T10:01:00Z")
    writer.write_incremental_export([Change(key(hour_before), micros(FULL_AT - timedelta(hours=1)), hour_before, None),
                                     Change(key(minutes_before), micros(FULL_AT - timedelta(minutes=2)), minutes_before, None)],
                                    FULL_AT - timedelta(days=1), FULL_AT)
    writer.write_full_export([], FULL_AT)
    result = raw_day(project, "2025-01-01")
    assert list(messages(result)) == [key(minutes_before)]
    assert result.counts["deleted_by_snapshot"] == result.counts["deleted"] == 1
    assert_counts_conserve(result)


def test_an_item_whose_ttl_passed_before_a_newer_snapshot_is_left_to_retention(project, writer):
    # Absent from the newer snapshot because DynamoDB's TTL process removed it: not an erasure.
    expiring = item("c1", "2025-01-01T10:00:00Z", ttl=int((FULL_AT + timedelta(hours=1)).timestamp()))
    kept = item("c1", "2025-01-01T10:01:00Z")
    writer.write_full_export([expiring, kept], FULL_AT)
    writer.write_full_export([kept], FULL_AT + timedelta(days=3))
    result = raw_day(project, "2025-01-01")
    assert set(messages(result)) == {key(expiring), key(kept)}
    assert result.counts["deleted_by_snapshot"] == result.counts["deleted"] == 0
    assert result.counts["ttl_expiries_ignored"] == 1  # shown, though nothing was removed
    assert_counts_conserve(result)


def test_a_ttl_expiry_seen_twice_is_counted_once(project, writer):
    # DynamoDB's TTL delete of the item in an incremental export, and its absence from a newer
    # snapshot: one expiry, left to retention, counted once.
    expiring = item("c1", "2025-01-01T10:00:00Z", ttl=int((FULL_AT + timedelta(hours=1)).timestamp()))
    writer.write_full_export([expiring], FULL_AT)
    writer.write_incremental_export([Change(key(expiring), micros(FULL_AT + timedelta(hours=3)), None, expiring)], FULL_AT, DAY2_END)
    writer.write_full_export([], FULL_AT + timedelta(days=3))
    result = raw_day(project, "2025-01-01")
    assert list(messages(result)) == [key(expiring)]
    assert result.counts["ttl_expiries_ignored"] == 1
    assert result.counts["deleted"] == 0
    assert_counts_conserve(result)


def test_an_item_seen_only_in_its_ttl_expiry_is_counted(project, writer):
    # The exports that held the item are gone; only DynamoDB's TTL delete of it remains.
    a = item("c1", "2025-01-01T10:00:00Z", ttl=int((FULL_AT + timedelta(hours=1)).timestamp()))
    writer.write_incremental_export([Change(key(a), micros(FULL_AT + timedelta(hours=3)), None, a)], FULL_AT, DAY2_END)
    result = raw_day(project, "2025-01-01")
    assert result.table.num_rows == 0
    assert result.counts["unique_items"] == result.counts["ttl_expiries_ignored"] == 1
    # Gone, and by DynamoDB's TTL rather than an erasure: the deletion says which.
    assert result.counts["deleted"] == result.counts["deleted_by_ttl"] == 1
    assert result.counts["deleted_by_snapshot"] == 0
    assert_counts_conserve(result)


def test_items_belong_to_the_day_of_their_own_timestamp(project, writer):
    naive_late = item("c1", "2025-01-01T23:59:59.999999")  # seed-style naive isoformat
    z_early = item("c1", "2025-01-02T00:00:00.000001Z")
    offset = item("c2", "2025-01-02T01:30:00+02:00")  # 23:30 UTC on Jan 1
    writer.write_full_export([], FULL_AT)
    changes = [Change(("c1", i["timestamp"]), micros(FULL_AT + timedelta(seconds=2)), i, None) for i in (naive_late, z_early)]
    changes.append(Change(("c2", offset["timestamp"]), micros(FULL_AT + timedelta(seconds=3)), offset, None))
    writer.write_incremental_export(changes, FULL_AT, DAY2_END)
    assert set(messages(raw_day(project, "2025-01-01"))) == {("c1", naive_late["timestamp"]), ("c2", offset["timestamp"])}
    assert set(messages(raw_day(project, "2025-01-02"))) == {("c1", z_early["timestamp"])}


def test_all_dynamodb_types_land_in_typed_columns(project, writer):
    a = item("c1", "2025-01-01T10:00:00Z", metadata={"tools_used": ["web_search"], "rating": 5, "score": 0.5}, ttl=1900000000,
             has_recipe=True, recipe_name="ramen", tags={"x", "y"}, blob=b"\x00\x01", nothing=None)
    writer.write_full_export([a], FULL_AT)
    [row] = raw_day(project, "2025-01-01").table.to_pylist()
    assert row["ttl"] == 1900000000 and row["has_recipe"] is True and row["recipe_name"] == "ramen"
    assert '"tools_used": ["web_search"]' in row["metadata"] and '"score": 0.5' in row["metadata"]
    assert '"tags": ["x", "y"]' in row["extra_attributes"] and '"blob": "AAE="' in row["extra_attributes"]
    assert row["message_ts"] == datetime(2025, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("columnar", [True, False], ids=["columnar", "exact"])
def test_a_legal_ttl_beyond_int64_is_held_at_the_bound_not_a_crash(project, writer, columnar):
    # DynamoDB numbers reach 38 digits and exponent 125: "1E+30" is legal, and failed the whole
    # day with OverflowError (outside the quarantine), on both paths.
    never, long_ago, plain = (item(f"c{n}", f"2025-01-01T1{n}:00:00Z", ttl=ttl)
                              for n, ttl in ((1, Decimal("1E+30")), (2, Decimal("-1E+30")), (3, 1900000000)))
    erased = item("c4", "2025-01-01T14:00:00Z", ttl=Decimal("1E+30"))
    writer.write_full_export([never, long_ago, plain, erased], FULL_AT)
    # Deleted with a ttl that never passes: an erasure, not a TTL expiry.
    writer.write_incremental_export([Change(key(erased), micros(FULL_AT) + 1, None, erased)], FULL_AT, DAY2_END)
    result = build_raw_day(ExportStore(project.exports), project.lake, "2025-01-01", columnar=columnar)
    ttls = {r["conversation_id"]: r["ttl"] for r in result.table.to_pylist()}
    assert ttls == {"c1": 2**63 - 1, "c2": -(2**63), "c3": 1900000000}
    assert result.counts["deleted"] == 1 and result.counts["ttl_expiries_ignored"] == 0 and not result.quarantine
    assert_counts_conserve(result)


@pytest.mark.parametrize("columnar", [True, False], ids=["columnar", "exact"])
def test_an_item_is_measured_against_the_400_kb_limit_as_dynamodb_measures_it(project, writer, columnar):
    # 70,000 CJK characters are 210,000 UTF-8 bytes, a legal item; measured as JSON text
    # (\u escapes, 6 bytes each) they were 420,000 and quarantined. 140,000 are over the limit.
    legal, too_big = item("c1", "2025-01-01T10:00:00Z", "食" * 70_000), item("c2", "2025-01-01T11:00:00Z", "食" * 140_000)
    blob = item("c3", "2025-01-01T12:00:00Z", blob=b"\x00" * 300_000)  # raw bytes count, not base64's 400,000
    writer.write_full_export([legal, too_big, blob], FULL_AT)
    result = build_raw_day(ExportStore(project.exports), project.lake, "2025-01-01", columnar=columnar)
    assert messages(result) == {key(legal): legal["message"], key(blob): "hello"}
    [quarantined] = result.quarantine
    assert quarantined["conversation_id"] == "c2" and quarantined["reason"] == f"item is {420_000 + 70} bytes, over DynamoDB's 400 KB item limit"  # + names and keys
    assert_counts_conserve(result)


def _make_unusable(project, export_id: str, body: bytes | None = None) -> None:
    path = f"AWSDynamoDB/{export_id}/manifest-summary.json"
    project.exports.write_bytes(body or json.dumps({**json.loads(project.exports.read_bytes(path)), "outputFormat": "ION"}).encode(), path)


def test_an_unusable_export_that_cannot_hold_the_day_is_left_out(project, writer):
    # An ION full export of the same moment as the JSON one, an incremental one the JSON one
    # supersedes, and one whose window ended before Jan 5 began: Jan 1 needs none of them (the
    # snapshot reflects the first two; the third is newer and may update it), Jan 5 none.
    a, e = item("c1", "2025-01-01T10:00:00Z"), item("c5", "2025-01-05T10:00:00Z")
    before = writer.write_incremental_export([], FULL_AT - timedelta(days=2), FULL_AT - timedelta(days=1))
    writer.write_full_export([a], FULL_AT)
    ion = writer.write_full_export([a], FULL_AT, export_id="01735776000001-deadbeef")
    after = writer.write_incremental_export([], FULL_AT, DAY2_END)
    writer.write_incremental_export([Change(key(e), micros(DAY2_END) + 3 * 86_400_000_000, e, None)], DAY2_END, DAY2_END + timedelta(days=3))
    for export_id in (before, ion):
        _make_unusable(project, export_id)
    with resolve_raw_day(ExportStore(project.exports), project.lake, "2025-01-01") as stream:
        assert [batch.num_rows for batch in stream.batches] == [1]
    assert sorted(stream.exports_left_out) == sorted([before, ion]) and "ION" in stream.exports_left_out[ion]
    _make_unusable(project, after)
    with pytest.raises(ExportError, match=f"export {after}.*may hold items of 2025-01-01"):
        raw_day(project, "2025-01-01")
    assert set(messages(raw_day(project, "2025-01-05"))) == {key(e)}


@pytest.mark.parametrize("summary", [None, b"{not json"], ids=["ion", "unreadable"])
def test_a_day_that_an_unusable_export_may_hold_fails_naming_it(project, writer, summary):
    # Its window reaches into the day (or its summary does not say): the day may lack items, or
    # their newest versions and deletes, without it.
    writer.write_full_export([item("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    later = writer.write_incremental_export([], FULL_AT, DAY2_END)
    _make_unusable(project, later, summary)
    with pytest.raises(ExportError, match=f"export {later}.*may hold items of 2025-01-02"):
        raw_day(project, "2025-01-02")
    with pytest.raises(ExportError, match=f"export {later}.*may hold items of 2025-01-01"):  # may update or delete earlier days' items
        raw_day(project, "2025-01-01")


def test_exports_that_do_not_yet_cover_the_day_are_reported(project, writer):
    writer.write_full_export([item("c1", "2025-01-01T10:00:00Z")], datetime(2025, 1, 1, 12, tzinfo=UTC))
    result = raw_day(project, "2025-01-01")
    assert not result.exports_cover_day
    assert result.covered_until == datetime(2025, 1, 1, 12, tzinfo=UTC)


def test_coverage_stops_at_a_gap_between_exports(project, writer):
    writer.write_full_export([item("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    # Nothing exports the writes of [FULL_AT, DAY2_END): the later window does not extend coverage.
    later = item("c1", "2025-01-03T10:00:00Z")
    writer.write_incremental_export([Change(key(later), micros(DAY2_END + timedelta(hours=10)), later, None)],
                                    DAY2_END, DAY2_END + timedelta(days=1))
    result = raw_day(project, "2025-01-02")
    assert result.covered_until == FULL_AT
    assert not result.exports_cover_day


def test_a_day_is_cut_into_more_buckets_as_it_grows_within_a_cap():
    assert bucket_count(0) == bucket_count(1) == 1
    assert bucket_count(200_000, bucket_rows=200_000) == 1
    assert bucket_count(1_000_000, bucket_rows=200_000) == 5
    assert bucket_count(10**12) == MAX_BUCKETS


def test_a_bucket_goes_on_in_a_new_spill_file_every_few_row_groups(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setattr("recipe_pipeline.raw.ROW_GROUPS_PER_SPILL_FILE", 2)
    at = [datetime(2025, 1, 1, hour, tzinfo=UTC) for hour in (1, 13)]  # one in each half of the day
    with _BucketSpill(str(tmp_path), "2025-01-01", buckets=2) as spill:
        for n in range(5):
            spill.write(pa.table({"message_ts": pa.array(at, pa.timestamp("us", tz="UTC")), "row_id": [2 * n, 2 * n + 1]}))
    assert [len(spill.paths(bucket)) for bucket in (0, 1)] == [3, 3]  # 2 + 2 + 1 row groups each
    assert pq.read_table(spill.paths(0)).column("row_id").to_pylist() == [0, 2, 4, 6, 8]
    assert pq.read_table(spill.paths(1)).column("row_id").to_pylist() == [1, 3, 5, 7, 9]


def test_a_caller_that_stops_early_or_fails_mid_day_leaves_cleanly(project, writer):
    # The next bucket is resolved on a worker thread: leaving must wait for it before the DuckDB
    # connection closes, and a caller's own error must come out as itself.
    writer.write_full_export([item(f"c{i}", f"2025-01-01T{i % 24:02d}:00:00Z") for i in range(48)], FULL_AT)
    store = ExportStore(project.exports)
    with resolve_raw_day(store, project.lake, "2025-01-01", bucket_rows=4, batch_rows=2) as stream:
        assert next(stream.batches).num_rows == 2
    with pytest.raises(KeyError, match="the caller's"):
        with resolve_raw_day(store, project.lake, "2025-01-01", bucket_rows=4, batch_rows=2) as stream:
            next(stream.batches)
            raise KeyError("the caller's")


def test_the_day_is_the_same_in_one_bucket_or_many(project, writer):
    # The day's edges, minute boundaries, a naive timestamp, an offset one (12:30 UTC, read line by
    # line) with a neighbour a minute later, an edit and a deletion: any bucket count, one day.
    times = ["2025-01-01T00:00:00Z", "2025-01-01T00:00:59.999999Z", "2025-01-01T00:01:00Z", "2025-01-01T11:59:59Z",
             "2025-01-01T12:00:00Z", "2025-01-01T23:59:59.999999Z", "2025-01-01T06:30:00", "2025-01-01T18:00:00+05:30", "2025-01-01T12:31:00Z"]
    items = [item(f"c{i % 3}", ts, message=f"m{i}") for i, ts in enumerate(times)]
    writer.write_full_export(items, FULL_AT)
    at = micros(FULL_AT + timedelta(minutes=30))
    writer.write_incremental_export([Change(("c0", times[0]), at, {**items[0], "message": "edited"}, items[0]),
                                     Change(("c1", times[1]), at, None, items[1])], FULL_AT, DAY2_END)
    store = ExportStore(project.exports)
    whole = build_raw_day(store, project.lake, "2025-01-01")
    assert messages(whole)[("c0", times[0])] == "edited" and ("c1", times[1]) not in messages(whole)
    for bucket_rows in (1, 2, 3):
        bucketed = build_raw_day(store, project.lake, "2025-01-01", bucket_rows=bucket_rows)
        assert bucketed.table.equals(whole.table) and bucketed.counts == whole.counts
    assert whole.table.column("message_ts").to_pylist() == sorted(whole.table.column("message_ts").to_pylist())
