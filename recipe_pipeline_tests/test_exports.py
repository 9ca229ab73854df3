"""Reading DynamoDB exports in AWS's S3 layout, and writing them (the simulator's writer)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from recipe_pipeline.export_index import build_export_index, load_or_build_export_index
from recipe_pipeline.export_writer import Change, ExportWriter, TableHistory, micros
from recipe_pipeline.exports import ExportError, ExportStore, ExportSummary, MalformedLine, parse_record

FULL_AT = datetime(2025, 1, 2, tzinfo=UTC)

# Real manifests from AWS (design/aws-reference.md §2).
REAL_FULL_SUMMARY = b"""{"version":"2020-06-30","exportArn":"arn:aws:dynamodb:eu-north-1:123456789123:table/test/export/01768385930622-efd1a093","startTime":"2026-01-14T10:18:50.622Z","endTime":"2026-01-14T10:24:58.984Z","tableArn":"arn:aws:dynamodb:eu-north-1:123456789123:table/test","tableId":"cf263806-6bf1-4e51-a242-7067dcdecc72","exportTime":"2026-01-14T10:18:50.622Z","s3Bucket":"test-1231x1x","s3Prefix":null,"s3SseAlgorithm":"AES256","s3SseKmsKeyId":null,"manifestFilesS3Key":"AWSDynamoDB/01768385930622-efd1a093/manifest-files.json","billedSizeBytes":0,"itemCount":3,"outputFormat":"DYNAMODB_JSON"}"""
REAL_INCREMENTAL_SUMMARY = b"""{"version":"2023-08-01","exportArn":"arn:aws:dynamodb:eu-north-1:123456789123:table/test/export/01768386924000-d339e52d","startTime":"2026-01-14T10:35:24.000Z","endTime":"2026-01-14T10:40:27.622Z","tableArn":"arn:aws:dynamodb:eu-north-1:123456789123:table/test","tableId":"cf263806-6bf1-4e51-a242-7067dcdecc72","exportFromTime":"2026-01-14T10:20:00.000Z","exportToTime":"2026-01-14T10:35:00.000Z","s3Bucket":"test-1231x1x","s3Prefix":null,"s3SseAlgorithm":"AES256","s3SseKmsKeyId":null,"manifestFilesS3Key":"AWSDynamoDB/01768386924000-d339e52d/manifest-files.json","billedSizeBytes":10000000,"itemCount":6,"outputFormat":"DYNAMODB_JSON","outputView":"NEW_AND_OLD_IMAGES","exportType":"INCREMENTAL_EXPORT"}"""


def item(conversation_id: str, timestamp: str, message: str = "hi", **extra) -> dict:
    return {"conversation_id": conversation_id, "timestamp": timestamp, "user_id": "u1", "role": "user", "message": message, **extra}


@pytest.fixture
def writer(project):
    return ExportWriter(project.exports, files_per_export=3)


@pytest.fixture
def store(project):
    return ExportStore(project.exports)


def test_real_aws_summaries_parse():
    full = ExportSummary.from_manifest("01768385930622-efd1a093", REAL_FULL_SUMMARY)
    assert full.is_full and full.item_count == 3
    assert full.export_time == datetime(2026, 1, 14, 10, 18, 50, 622000, tzinfo=UTC)
    incremental = ExportSummary.from_manifest("01768386924000-d339e52d", REAL_INCREMENTAL_SUMMARY)
    assert not incremental.is_full and incremental.output_view == "NEW_AND_OLD_IMAGES"
    assert (incremental.export_from, incremental.export_to) == (
        datetime(2026, 1, 14, 10, 20, tzinfo=UTC), datetime(2026, 1, 14, 10, 35, tzinfo=UTC),
    )
    assert incremental.covered_until == incremental.export_to


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "unreadable summary"),
        (REAL_FULL_SUMMARY.replace(b'"exportTime":"2026-01-14T10:18:50.622Z",', b""), "without exportTime"),
        (REAL_INCREMENTAL_SUMMARY.replace(b'"exportToTime":"2026-01-14T10:35:00.000Z",', b""), "without exportFromTime/exportToTime"),
        (REAL_FULL_SUMMARY.replace(b'"DYNAMODB_JSON"', b'"ION"'), "outputFormat"),
    ],
)
def test_bad_summaries_are_errors_naming_the_export(body, problem):
    with pytest.raises(ExportError, match=problem) as error:
        ExportSummary.from_manifest("01768385930622-efd1a093", body)
    assert "export 01768385930622-efd1a093, file manifest-summary.json" in str(error.value)


def test_full_export_layout_matches_aws(project, writer, store):
    export_id = writer.write_full_export([item("c1", "2025-01-01T10:00:00Z"), item("c2", "2025-01-01T11:00:00Z")], FULL_AT)
    base = f"AWSDynamoDB/{export_id}"
    names = sorted(project.exports.list_files(base))
    assert names == sorted(f"{base}/{n}" for n in ["_started", "manifest-files.json", "manifest-files.md5", "manifest-summary.json", "manifest-summary.md5"])
    summary = json.loads(project.exports.read_bytes(base, "manifest-summary.json"))
    assert "exportType" not in summary and summary["version"] == "2020-06-30"
    assert summary["manifestFilesS3Key"] == f"exports/{base}/manifest-files.json"  # keys include the S3 prefix
    files_body = project.exports.read_bytes(base, "manifest-files.json")
    assert project.exports.read_bytes(base, "manifest-files.md5").strip() == base64.b64encode(hashlib.md5(files_body).digest())
    entries = [json.loads(line) for line in files_body.splitlines()]
    assert len(entries) == 3 and sum(e["itemCount"] for e in entries) == 2
    assert any(e["itemCount"] == 0 for e in entries)  # empty partitions still get a file
    for entry in entries:
        assert entry["dataFileS3Key"].startswith(f"exports/{base}/data/") and entry["dataFileS3Key"].endswith(".json.gz")
        assert len(entry["dataFileS3Key"].rsplit("/", 1)[1]) == len("u2wov2dg246wzitouzsnk6jbd4.json.gz")
        body = project.exports.read_bytes(entry["dataFileS3Key"].removeprefix("exports/"))
        assert base64.b64encode(hashlib.md5(body).digest()).decode() == entry["md5Checksum"]
        assert entry["etag"] == hashlib.md5(hashlib.md5(body).digest()).hexdigest() + "-1"
    [summary_obj] = store.completed()
    assert summary_obj.export_id == export_id and summary_obj.is_full


def test_incremental_data_goes_to_the_shared_folder(project, writer, store):
    writer.write_full_export([], FULL_AT)
    a = item("c1", "2025-01-01T10:00:00Z")
    export_id = writer.write_incremental_export([Change(("c1", a["timestamp"]), micros(FULL_AT) + 5, a, None)], FULL_AT, FULL_AT + timedelta(days=1))
    summary = store.summary(export_id)
    assert summary.export_type == "INCREMENTAL_EXPORT" and summary.output_view == "NEW_AND_OLD_IMAGES"
    keys = [f.key for f in store.data_files(summary)]
    assert keys and all(k.startswith("exports/AWSDynamoDB/data/") for k in keys)
    assert "data" not in store.export_ids()


def test_records_from_both_views_and_every_change_kind(writer, store):
    old = item("c1", "2025-01-01T10:00:00Z", "before", ttl=1900000000)
    new = {**old, "message": "after"}
    gone = item("c1", "2025-01-01T10:05:00Z", ttl=1700000000)
    fresh = item("c2", "2025-01-01T12:00:00Z")
    changes = [
        Change(("c1", old["timestamp"]), 1735776000000001, new, old),  # update
        Change(("c1", gone["timestamp"]), 1735776000000002, None, gone),  # delete
        Change(("c2", fresh["timestamp"]), 1735776000000003, fresh, None),  # insert
    ]
    writer.write_full_export([], FULL_AT)
    records = {}
    for view in ("NEW_AND_OLD_IMAGES", "NEW_IMAGE"):
        export_id = writer.write_incremental_export(changes, FULL_AT, FULL_AT + timedelta(days=1), view=view, export_id=f"01735869000000-{view[:8].lower().replace('_', '0')}")
        summary = store.summary(export_id)
        records[view] = {
            (r.conversation_id, r.timestamp): r
            for f in store.data_files(summary)
            for r in (parse_record(line, summary) for line in store.iter_lines(summary, f))
        }
    both, new_only = records["NEW_AND_OLD_IMAGES"], records["NEW_IMAGE"]
    assert both[("c1", old["timestamp"])].kind == new_only[("c1", old["timestamp"])].kind == "put"
    assert both[("c1", gone["timestamp"])].kind == new_only[("c1", gone["timestamp"])].kind == "delete"
    assert both[("c1", gone["timestamp"])].old_ttl == 1700000000 and new_only[("c1", gone["timestamp"])].old_ttl is None
    assert both[("c2", fresh["timestamp"])].version_micros == 1735776000000003
    assert both[("c1", old["timestamp"])].image["message"] == {"S": "after"}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"Keys": {"conversation_id": {"S": "c"}}, "Metadata": {"WriteTimestampMicros": {"N": "1"}}}', "'timestamp'"),
        (b'{"Keys": {"conversation_id": {"S": "c"}, "timestamp": {"S": "t"}}}', "WriteTimestampMicros"),
        (b'{"Metadata": {"WriteTimestampMicros": {"N": "1"}}}', "without a Keys object"),
    ],
)
def test_malformed_incremental_lines_say_why(line, problem):
    summary = ExportSummary.from_manifest("x", REAL_INCREMENTAL_SUMMARY)
    with pytest.raises(MalformedLine, match=problem):
        parse_record(line, summary)


def test_a_full_export_line_needs_an_item():
    summary = ExportSummary.from_manifest("x", REAL_FULL_SUMMARY)
    with pytest.raises(MalformedLine, match="without an Item"):
        parse_record(b'{"NewImage": {}}', summary)
    record = parse_record(b'{"Item": {"conversation_id": {"S": "c"}, "timestamp": {"S": "t"}}}', summary)
    assert record.kind == "item" and record.version_micros == summary.snapshot_micros


def _first_nonempty(store, export_id):
    summary = store.summary(export_id)
    return summary, next(f for f in store.data_files(summary) if f.item_count)


def test_checksum_mismatch_names_export_and_file(project, writer, store):
    export_id = writer.write_full_export([item("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary, data_file = _first_nonempty(store, export_id)
    body = project.exports.read_bytes(data_file.path)
    project.exports.write_bytes(body[:-1] + bytes([body[-1] ^ 1]), data_file.path)
    with pytest.raises(ExportError, match="checksum mismatch") as error:
        list(store.iter_lines(summary, data_file))
    assert str(error.value).startswith(f"export {export_id}, file {data_file.key}:")


def test_truncated_gzip_is_an_export_error(project, writer, store):
    export_id = writer.write_full_export([item("c1", f"2025-01-01T10:00:{s:02d}Z") for s in range(50)], FULL_AT)
    summary, data_file = _first_nonempty(store, export_id)
    truncated = project.exports.read_bytes(data_file.path)[:-12]
    project.exports.write_bytes(truncated, data_file.path)
    # Make the manifest agree with the truncated bytes, so only the gzip itself is wrong.
    manifest_path = f"AWSDynamoDB/{export_id}/manifest-files.json"
    lines = [json.loads(x) for x in project.exports.read_bytes(manifest_path).splitlines()]
    for entry in lines:
        if entry["dataFileS3Key"] == data_file.key:
            entry["md5Checksum"] = base64.b64encode(hashlib.md5(truncated).digest()).decode()
    project.exports.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in lines), manifest_path)
    summary, data_file = _first_nonempty(store, export_id)
    with pytest.raises(ExportError, match="corrupt gzip") as error:
        list(store.iter_lines(summary, data_file))
    assert export_id in str(error.value) and data_file.key in str(error.value)


def test_missing_data_file_and_bad_manifest_lines(project, writer, store):
    export_id = writer.write_full_export([item("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary, data_file = _first_nonempty(store, export_id)
    project.exports.delete(data_file.path)
    with pytest.raises(ExportError, match="missing"):
        list(store.iter_lines(summary, data_file))
    manifest_path = f"AWSDynamoDB/{export_id}/manifest-files.json"
    project.exports.write_bytes(project.exports.read_bytes(manifest_path) + b"{oops\n", manifest_path)
    with pytest.raises(ExportError, match="line 4 is not a valid manifest entry"):
        store.data_files(summary)


def test_item_counts_must_agree(project, writer, store):
    export_id = writer.write_full_export([item("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary_path = f"AWSDynamoDB/{export_id}/manifest-summary.json"
    doc = json.loads(project.exports.read_bytes(summary_path))
    doc["itemCount"] = 7
    project.exports.write_bytes(json.dumps(doc).encode(), summary_path)
    with pytest.raises(ExportError, match="list 1 items but the summary says 7"):
        store.data_files(store.summary(export_id))


def test_an_export_in_progress_is_not_completed(project, writer, store):
    done = writer.write_full_export([], FULL_AT)
    running = writer.write_full_export([], FULL_AT + timedelta(days=1))
    project.exports.delete(f"AWSDynamoDB/{running}/manifest-summary.json")
    assert set(store.export_ids()) == {done, running}
    assert [s.export_id for s in store.completed()] == [done]


def test_history_compaction_follows_dynamodb():
    history = TableHistory()
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    a, b = item("c1", "t1"), item("c1", "t2")
    history.put(a, t0 - timedelta(hours=1))
    history.put({**a, "message": "v2"}, t0 + timedelta(minutes=1))
    history.put({**a, "message": "v3"}, t0 + timedelta(minutes=2))
    history.put(b, t0 + timedelta(minutes=3))
    history.delete(("c1", "t2"), t0 + timedelta(minutes=4))  # inserted and deleted inside: nothing
    [change] = history.changes_between(t0, t0 + timedelta(days=1))
    assert change.old_image == a and change.new_image["message"] == "v3"
    assert change.write_micros == micros(t0 + timedelta(minutes=2))
    assert set(history.state_at(t0 + timedelta(days=1))) == {("c1", "t1")}


def test_export_index_counts_items_by_their_own_day_and_quarantines_the_rest(project, writer, store):
    items = [
        item("c1", "2025-01-01T23:59:59.999999"),  # naive isoformat: UTC
        item("c1", "2025-01-02T00:00:00.5Z"),
        item("c2", "2025-01-01T12:00:00+00:00"),
        item("c3", "not a time"),
    ]
    export_id = writer.write_full_export(items, FULL_AT)
    summary = store.summary(export_id)
    index = build_export_index(store, project.lake, summary)
    assert index.days == {"2025-01-01": 2, "2025-01-02": 1}
    assert index.quarantined == 1
    assert any("timestamp" in reason for reason in index.quarantine_reasons)
    assert load_or_build_export_index(store, project.lake, summary).days == index.days  # cached in the lake


def test_lines_are_streamed_from_gzip(project, writer, store):
    export_id = writer.write_full_export([item(f"c{i}", "2025-01-01T10:00:00Z", "x" * 500) for i in range(300)], FULL_AT)
    summary = store.summary(export_id)
    lines = [line for f in store.data_files(summary) for line in store.iter_lines(summary, f)]
    assert len(lines) == 300
    for f in store.data_files(summary):
        assert gzip.decompress(project.exports.read_bytes(f.path)).count(b"\n") == f.item_count
