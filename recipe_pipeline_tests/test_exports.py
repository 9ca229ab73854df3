"""DynamoDB exports in AWS's S3 layout: written by the real ``ExportWriter`` (the simulator's writer),
read back by ``ExportStore``, and indexed by day with ``export_index``.

Layout, manifests, checksums and line shapes follow design/aws-reference.md §2 (real AWS samples
are quoted below verbatim); semantics follow ARCHITECTURE.md "Semantics of the data".
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recipe_pipeline import lake as layout
from recipe_pipeline.export_index import INDEX_VERSION, ExportIndex, build_export_index, item_day, load_or_build_export_index, parse_item_timestamp
from recipe_pipeline.export_writer import Change, ExportWriter, TableHistory, iso_millis, micros
from recipe_pipeline.exports import (
    FULL_EXPORT,
    INCREMENTAL_EXPORT,
    DataFile,
    ExportError,
    ExportStore,
    ExportSummary,
    MalformedLine,
    parse_record,
)
from recipe_pipeline.storage import Location

FULL_AT = datetime(2025, 1, 2, tzinfo=UTC)
DAY = timedelta(days=1)

# -- real AWS samples (design/aws-reference.md §2, from a real export) ---------------------------
REAL_FULL_SUMMARY = b"""{"version":"2020-06-30","exportArn":"arn:aws:dynamodb:eu-north-1:123456789123:table/test/export/01768385930622-efd1a093","startTime":"2026-01-14T10:18:50.622Z","endTime":"2026-01-14T10:24:58.984Z","tableArn":"arn:aws:dynamodb:eu-north-1:123456789123:table/test","tableId":"cf263806-6bf1-4e51-a242-7067dcdecc72","exportTime":"2026-01-14T10:18:50.622Z","s3Bucket":"test-1231x1x","s3Prefix":null,"s3SseAlgorithm":"AES256","s3SseKmsKeyId":null,"manifestFilesS3Key":"AWSDynamoDB/01768385930622-efd1a093/manifest-files.json","billedSizeBytes":0,"itemCount":3,"outputFormat":"DYNAMODB_JSON"}"""
REAL_INCREMENTAL_SUMMARY = b"""{"version":"2023-08-01","exportArn":"arn:aws:dynamodb:eu-north-1:123456789123:table/test/export/01768386924000-d339e52d","startTime":"2026-01-14T10:35:24.000Z","endTime":"2026-01-14T10:40:27.622Z","tableArn":"arn:aws:dynamodb:eu-north-1:123456789123:table/test","tableId":"cf263806-6bf1-4e51-a242-7067dcdecc72","exportFromTime":"2026-01-14T10:20:00.000Z","exportToTime":"2026-01-14T10:35:00.000Z","s3Bucket":"test-1231x1x","s3Prefix":null,"s3SseAlgorithm":"AES256","s3SseKmsKeyId":null,"manifestFilesS3Key":"AWSDynamoDB/01768386924000-d339e52d/manifest-files.json","billedSizeBytes":10000000,"itemCount":6,"outputFormat":"DYNAMODB_JSON","outputView":"NEW_AND_OLD_IMAGES","exportType":"INCREMENTAL_EXPORT"}"""
REAL_MANIFEST_FILES = (
    b'{"itemCount":3,"md5Checksum":"c2c8Ly/xdhzeH92qunsAvQ==","etag":"cadeac813d83753935d9e4aae8c4427f-1","dataFileS3Key":"AWSDynamoDB/data/u2wov2dg246wzitouzsnk6jbd4.json.gz"}\n'
    b'{"itemCount":0,"md5Checksum":"FjvgqIxwymKf1RbbqtrZag==","etag":"7deb4078f238dd87d6af0538152c04e9-1","dataFileS3Key":"AWSDynamoDB/data/vortt3w45u2w7glaexsiwnz4li.json.gz"}\n'
)
# AWS's 20-byte gzip of an empty partition (its md5 is the manifest's "FjvgqIxwymKf1RbbqtrZag==").
AWS_EMPTY_GZIP = bytes.fromhex("1f8b08000000000000ff03000000000000000000")
# Real data lines, with the sample table's keys pk/sk renamed to our table's keys.
REAL_LINES = {
    "full": b'{"Item":{"pk":{"S":"1"},"sk":{"S":"3"},"test2":{"S":"2"},"test1":{"S":"1"}}}',
    "insert": b'{"Metadata":{"WriteTimestampMicros":{"N":"1768386096366933"}},"Keys":{"pk":{"S":"2"},"sk":{"S":"1"}},"NewImage":{"pk":{"S":"2"},"sk":{"S":"1"},"test":{"S":"test2"}}}',
    "update": b'{"Metadata":{"WriteTimestampMicros":{"N":"1768387673917155"}},"Keys":{"pk":{"S":"1"},"sk":{"S":"3"}},"OldImage":{"pk":{"S":"1"},"sk":{"S":"3"},"test1":{"S":"1"},"test2":{"S":"2"}},"NewImage":{"bin_update":{"BS":["0000","0001"]},"pk":{"S":"1"},"sk":{"S":"3"},"test1":{"S":"1"},"test2":{"S":"2"}}}',
    "delete": b'{"Metadata":{"WriteTimestampMicros":{"N":"1768387654350448"}},"Keys":{"pk":{"S":"1"},"sk":{"S":"1"}},"OldImage":{"pk":{"S":"1"},"sk":{"S":"1"},"test":{"S":"test"}}}',
}
REAL_LINES = {k: v.replace(b'"pk"', b'"conversation_id"').replace(b'"sk"', b'"timestamp"') for k, v in REAL_LINES.items()}

EXPORT_ID = re.compile(r"^\d{14}-[0-9a-f]{8}$")
DATA_FILE_NAME = re.compile(r"^[a-z2-7]{26}\.json\.gz$")
AWS_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def md5_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def message(conversation_id: str, timestamp: str, text: str = "hi", **extra) -> dict:
    return {"conversation_id": conversation_id, "timestamp": timestamp, "user_id": "u1", "role": "user", "message": text, **extra}


@pytest.fixture
def exports(tmp_path) -> Location:
    return Location(str(tmp_path / "exports"))


@pytest.fixture
def lake(tmp_path) -> Location:
    return Location(str(tmp_path / "lake"))


@pytest.fixture
def writer(exports) -> ExportWriter:
    return ExportWriter(exports, files_per_export=3)


@pytest.fixture
def store(exports) -> ExportStore:
    return ExportStore(exports)


def read_all(store: ExportStore, summary: ExportSummary) -> list[bytes]:
    return [line for f in store.data_files(summary) for line in store.iter_lines(summary, f)]


def first_nonempty(store: ExportStore, export_id: str) -> tuple[ExportSummary, DataFile]:
    summary = store.summary(export_id)
    return summary, next(f for f in store.data_files(summary) if f.item_count)


def manifest_entries(exports: Location, export_id: str) -> list[dict]:
    return [json.loads(line) for line in exports.read_bytes(f"AWSDynamoDB/{export_id}/manifest-files.json").splitlines()]


def replace_data_file(exports: Location, export_id: str, data_file: DataFile, body: bytes, *, item_count: int | None = None, fix_md5: bool = True) -> None:
    """Put ``body`` in place of a data file and make the manifests agree (md5, counts), so that
    only what the test means to break is broken."""
    exports.write_bytes(body, data_file.path)
    entries = manifest_entries(exports, export_id)
    for entry in entries:
        if entry["dataFileS3Key"] == data_file.key:
            if fix_md5:
                entry["md5Checksum"] = md5_b64(body)
            if item_count is not None:
                entry["itemCount"] = item_count
    exports.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in entries), f"AWSDynamoDB/{export_id}/manifest-files.json")
    summary_path = f"AWSDynamoDB/{export_id}/manifest-summary.json"
    doc = json.loads(exports.read_bytes(summary_path))
    doc["itemCount"] = sum(e["itemCount"] for e in entries)
    exports.write_bytes(json.dumps(doc).encode(), summary_path)


def gzip_lines(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(line + b"\n" for line in lines))


# -- layout ---------------------------------------------------------------------------------------


def test_full_export_layout_is_exactly_awss(exports, writer, store):
    items = [message(f"c{i}", f"2025-01-01T10:00:{i:02d}Z") for i in range(10)]
    export_id = writer.write_full_export(items, FULL_AT)
    assert EXPORT_ID.match(export_id) and int(export_id[:14]) == micros(FULL_AT) // 1000
    base = f"AWSDynamoDB/{export_id}"
    files = exports.list_files(recursive=True)
    data = [f for f in files if f.startswith(f"{base}/data/")]
    assert sorted(set(files) - set(data)) == [f"{base}/{n}" for n in ("_started", "manifest-files.json", "manifest-files.md5", "manifest-summary.json", "manifest-summary.md5")]
    assert len(data) == 3 and all(DATA_FILE_NAME.match(f.rsplit("/", 1)[1]) for f in data)
    assert exports.read_bytes(base, "_started") == b""

    files_body = exports.read_bytes(base, "manifest-files.json")
    summary_body = exports.read_bytes(base, "manifest-summary.json")
    assert exports.read_bytes(base, "manifest-files.md5") == md5_b64(files_body).encode() + b"\n"
    assert exports.read_bytes(base, "manifest-summary.md5") == md5_b64(summary_body).encode() + b"\n"

    summary = json.loads(summary_body)
    assert summary["version"] == "2020-06-30" and "exportType" not in summary
    assert "exportFromTime" not in summary and "outputView" not in summary
    assert summary["exportTime"] == summary["startTime"] == "2025-01-02T00:00:00.000Z"
    assert all(AWS_TIME.match(summary[k]) for k in ("startTime", "endTime", "exportTime"))
    assert summary["exportArn"].endswith(f"/export/{export_id}") and summary["exportArn"].startswith(summary["tableArn"])
    assert summary["s3Prefix"] == "exports" and summary["outputFormat"] == "DYNAMODB_JSON" and summary["itemCount"] == 10
    assert summary["manifestFilesS3Key"] == f"exports/{base}/manifest-files.json"  # keys include the S3 prefix

    entries = [json.loads(line) for line in files_body.splitlines()]
    assert files_body.endswith(b"\n") and sum(e["itemCount"] for e in entries) == 10
    assert sorted(e["dataFileS3Key"] for e in entries) == sorted(f"exports/{f}" for f in data)
    for entry in entries:
        assert set(entry) == {"itemCount", "md5Checksum", "etag", "dataFileS3Key"}
        body = exports.read_bytes(entry["dataFileS3Key"].removeprefix("exports/"))
        assert entry["md5Checksum"] == md5_b64(body)
        assert entry["etag"] == hashlib.md5(hashlib.md5(body).digest()).hexdigest() + "-1"
        lines = gzip.decompress(body).splitlines()
        assert len(lines) == entry["itemCount"] and all(json.loads(line).keys() == {"Item"} for line in lines)


def test_an_empty_partition_still_gets_a_valid_empty_data_file(exports, writer, store):
    export_id = writer.write_full_export([], FULL_AT)
    entries = manifest_entries(exports, export_id)
    assert len(entries) == 3 and all(e["itemCount"] == 0 for e in entries)
    summary = store.summary(export_id)
    for data_file in store.data_files(summary):
        assert gzip.decompress(exports.read_bytes(data_file.path)) == b""
        assert list(store.iter_lines(summary, data_file)) == []
    assert summary.item_count == 0


def test_incremental_data_goes_to_the_shared_folder_and_manifests_say_which_files(exports, writer, store):
    writer.write_full_export([message("c0", "2025-01-01T09:00:00Z")], FULL_AT)
    ids = []
    for n in range(2):
        item = message(f"c{n + 1}", f"2025-01-0{n + 2}T10:00:00Z")
        start = FULL_AT + n * DAY
        ids.append(writer.write_incremental_export([Change(("c", item["timestamp"]), micros(start) + 5, item, None)], start, start + DAY))
    shared = exports.list_files("AWSDynamoDB/data")
    assert len(shared) == 6  # both exports' files, side by side
    listed = []
    for export_id in ids:
        base = f"AWSDynamoDB/{export_id}"
        assert sorted(exports.list_files(base, recursive=True)) == [f"{base}/{n}" for n in ("_started", "manifest-files.json", "manifest-files.md5", "manifest-summary.json", "manifest-summary.md5")]
        doc = json.loads(exports.read_bytes(base, "manifest-summary.json"))
        assert doc["version"] == "2023-08-01" and doc["exportType"] == "INCREMENTAL_EXPORT" and "exportTime" not in doc
        assert doc["outputView"] == "NEW_AND_OLD_IMAGES" and AWS_TIME.match(doc["exportFromTime"]) and AWS_TIME.match(doc["exportToTime"])
        summary = store.summary(export_id)
        keys = [f.key for f in store.data_files(summary)]
        assert all(k.startswith("exports/AWSDynamoDB/data/") for k in keys)
        assert len(read_all(store, summary)) == 1  # only its own item, although the folder holds more
        listed.append(set(f.path for f in store.data_files(summary)))
    assert not (listed[0] & listed[1]) and listed[0] | listed[1] == set(shared)
    assert "data" not in store.export_ids() and len(store.export_ids()) == 3


@pytest.mark.parametrize("prefix", [None, "exports", "raw/ddb-exports", "20230919-prefix", "team/AWSDynamoDB/recipes", "myAWSDynamoDB"])
def test_manifest_keys_carry_the_s3_prefix_and_resolve_against_the_folder_holding_awsdynamodb(exports, store, prefix):
    writer = ExportWriter(exports, s3_prefix=prefix, files_per_export=2)
    full_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    item = message("c2", "2025-01-02T10:00:00Z")
    inc_id = writer.write_incremental_export([Change(("c2", item["timestamp"]), micros(FULL_AT) + 1, item, None)], FULL_AT, FULL_AT + DAY)
    expected_start = f"{prefix}/AWSDynamoDB/" if prefix else "AWSDynamoDB/"
    for export_id in (full_id, inc_id):
        summary = store.summary(export_id)
        assert summary.manifest_files_key == f"{expected_start}{export_id}/manifest-files.json"
        data_files = store.data_files(summary)
        assert all(f.key.startswith(expected_start) and f.path.startswith("AWSDynamoDB/") for f in data_files)
        assert all(exports.exists(f.path) for f in data_files)
        assert len(read_all(store, summary)) == 1


def test_a_manifest_key_outside_awsdynamodb_is_an_error(exports, writer, store):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    path = f"AWSDynamoDB/{export_id}/manifest-summary.json"
    doc = json.loads(exports.read_bytes(path))
    doc["manifestFilesS3Key"] = "somewhere/else/manifest-files.json"
    exports.write_bytes(json.dumps(doc).encode(), path)
    with pytest.raises(ExportError, match="does not contain 'AWSDynamoDB/'") as error:
        store.data_files(store.summary(export_id))
    assert error.value.export_id == export_id


def test_the_real_aws_empty_partition_file_verifies_against_its_real_manifest_line(exports, store):
    # A real incremental export's files, as AWS wrote them, trimmed to its empty partition.
    export_id = "01768386924000-d339e52d"
    empty_entry = REAL_MANIFEST_FILES.splitlines()[1]
    exports.write_bytes(b"", f"AWSDynamoDB/{export_id}/_started")
    exports.write_bytes(empty_entry + b"\n", f"AWSDynamoDB/{export_id}/manifest-files.json")
    exports.write_bytes(AWS_EMPTY_GZIP, "AWSDynamoDB/data/vortt3w45u2w7glaexsiwnz4li.json.gz")
    exports.write_bytes(REAL_INCREMENTAL_SUMMARY.replace(b'"itemCount":6', b'"itemCount":0'), f"AWSDynamoDB/{export_id}/manifest-summary.json")
    [summary] = store.completed()
    [data_file] = store.data_files(summary)
    assert data_file == DataFile("AWSDynamoDB/data/vortt3w45u2w7glaexsiwnz4li.json.gz", "AWSDynamoDB/data/vortt3w45u2w7glaexsiwnz4li.json.gz", 0, "FjvgqIxwymKf1RbbqtrZag==")
    assert store.read_verified(summary, data_file) == AWS_EMPTY_GZIP
    assert list(store.iter_lines(summary, data_file)) == []


def test_real_manifest_files_lines_fail_loudly_when_their_data_is_absent(exports, store):
    export_id = "01768386924000-d339e52d"
    exports.write_bytes(REAL_MANIFEST_FILES, f"AWSDynamoDB/{export_id}/manifest-files.json")
    exports.write_bytes(REAL_INCREMENTAL_SUMMARY.replace(b'"itemCount":6', b'"itemCount":3'), f"AWSDynamoDB/{export_id}/manifest-summary.json")
    summary = store.summary(export_id)
    files = store.data_files(summary)
    assert [(f.item_count, f.md5_checksum) for f in files] == [(3, "c2c8Ly/xdhzeH92qunsAvQ=="), (0, "FjvgqIxwymKf1RbbqtrZag==")]
    with pytest.raises(ExportError, match="missing") as error:
        store.read_verified(summary, files[0])
    assert str(error.value).startswith(f"export {export_id}, file AWSDynamoDB/data/u2wov2dg246wzitouzsnk6jbd4.json.gz:")


# -- summaries ----------------------------------------------------------------------------------


def test_real_aws_full_summary_parses():
    full = ExportSummary.from_manifest("01768385930622-efd1a093", REAL_FULL_SUMMARY)
    assert full.export_type == FULL_EXPORT and full.is_full
    assert full.start_time == full.export_time == datetime(2026, 1, 14, 10, 18, 50, 622000, tzinfo=UTC)
    assert full.end_time == datetime(2026, 1, 14, 10, 24, 58, 984000, tzinfo=UTC)
    assert full.item_count == 3 and full.manifest_files_key == "AWSDynamoDB/01768385930622-efd1a093/manifest-files.json"
    assert full.export_from is None and full.export_to is None and full.output_view is None
    assert full.covered_until == full.export_time
    assert full.snapshot_micros == 1768385930622000


def test_real_aws_incremental_summary_parses():
    incremental = ExportSummary.from_manifest("01768386924000-d339e52d", REAL_INCREMENTAL_SUMMARY)
    assert incremental.export_type == INCREMENTAL_EXPORT and not incremental.is_full
    assert incremental.output_view == "NEW_AND_OLD_IMAGES" and incremental.export_time is None
    assert (incremental.export_from, incremental.export_to) == (datetime(2026, 1, 14, 10, 20, tzinfo=UTC), datetime(2026, 1, 14, 10, 35, tzinfo=UTC))
    assert incremental.start_time == datetime(2026, 1, 14, 10, 35, 24, tzinfo=UTC)
    assert incremental.end_time == datetime(2026, 1, 14, 10, 40, 27, 622000, tzinfo=UTC)
    assert incremental.item_count == 6 and incremental.covered_until == incremental.export_to
    assert incremental.start_time.tzinfo is not None and incremental.start_time.utcoffset() == timedelta(0)


def test_aws_documentation_example_with_an_s3_prefix_parses():
    body = REAL_INCREMENTAL_SUMMARY.replace(b'"s3Prefix":null', b'"s3Prefix":"20230919-prefix"').replace(
        b'"manifestFilesS3Key":"AWSDynamoDB/', b'"manifestFilesS3Key":"20230919-prefix/AWSDynamoDB/'
    )
    summary = ExportSummary.from_manifest("01768386924000-d339e52d", body)
    assert summary.manifest_files_key == "20230919-prefix/AWSDynamoDB/01768386924000-d339e52d/manifest-files.json"


DESIGN_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "design" / "aws-reference.md"


def test_the_manifest_samples_quoted_in_the_design_reference_parse():
    if not DESIGN_REFERENCE.exists():
        pytest.skip("design/aws-reference.md is not beside this checkout")
    blocks = re.findall(r"```json\n(.*?)```", DESIGN_REFERENCE.read_text(), re.S)
    kinds = []
    for block in blocks:
        try:
            doc = json.loads(block)
        except ValueError:
            lines = [json.loads(line) for line in block.strip().splitlines() if line.startswith('{"itemCount"')]
            assert all({"itemCount", "md5Checksum", "dataFileS3Key"} <= set(entry) for entry in lines)
            continue
        if isinstance(doc, dict) and "manifestFilesS3Key" in doc:
            export_id = doc["exportArn"].rsplit("/", 1)[1]
            summary = ExportSummary.from_manifest(export_id, block.encode())
            assert summary.item_count == doc["itemCount"]
            kinds.append(summary.export_type)
    assert sorted(kinds) == [FULL_EXPORT, INCREMENTAL_EXPORT]


def test_summaries_written_by_the_writer_parse_into_the_same_facts(writer, store):
    export_time = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    full = store.summary(writer.write_full_export([message("c", "2025-01-01T00:00:00Z")], export_time, duration=timedelta(minutes=7)))
    assert full.is_full and full.export_time == full.start_time == export_time
    assert full.end_time == export_time + timedelta(minutes=7) and full.item_count == 1
    assert full.snapshot_micros == micros(export_time) and full.covered_until == export_time

    start, end = datetime(2025, 1, 3, tzinfo=UTC), datetime(2025, 1, 4, tzinfo=UTC)
    started = datetime(2025, 1, 4, 0, 12, tzinfo=UTC)
    inc = store.summary(writer.write_incremental_export([], start, end, view="NEW_IMAGE", started=started))
    assert not inc.is_full and inc.export_type == INCREMENTAL_EXPORT
    assert (inc.export_from, inc.export_to, inc.output_view) == (start, end, "NEW_IMAGE")
    assert inc.start_time == started and inc.end_time == started + timedelta(minutes=5)
    assert inc.export_time is None and inc.covered_until == end and inc.item_count == 0


def test_iso_millis_is_the_aws_manifest_time_style():
    assert iso_millis(datetime(2026, 1, 14, 10, 18, 50, 622999, tzinfo=UTC)) == "2026-01-14T10:18:50.622Z"
    assert iso_millis(datetime(2026, 1, 14, 11, 18, 50, tzinfo=UTC).astimezone(UTC)) == "2026-01-14T11:18:50.000Z"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "unreadable summary"),
        (b"", "unreadable summary"),
        (b"[1, 2]", "unreadable summary"),
        (b'"a string"', "unreadable summary"),
        (REAL_FULL_SUMMARY.replace(b'"startTime":"2026-01-14T10:18:50.622Z",', b""), "unreadable summary"),
        (REAL_FULL_SUMMARY.replace(b'"startTime":"2026-01-14T10:18:50.622Z"', b'"startTime":1768385930'), "unreadable summary"),
        (REAL_FULL_SUMMARY.replace(b'"startTime":"2026-01-14T10:18:50.622Z"', b'"startTime":"yesterday"'), "unreadable summary"),
        (REAL_FULL_SUMMARY.replace(b'"manifestFilesS3Key"', b'"manifestKey"'), "unreadable summary"),
        (REAL_FULL_SUMMARY.replace(b'"itemCount":3', b'"itemCount":"three"'), "unreadable summary"),
        (REAL_FULL_SUMMARY.replace(b'"exportTime":"2026-01-14T10:18:50.622Z",', b""), "full export without exportTime"),
        (REAL_INCREMENTAL_SUMMARY.replace(b'"exportToTime":"2026-01-14T10:35:00.000Z",', b""), "without exportFromTime/exportToTime"),
        (REAL_INCREMENTAL_SUMMARY.replace(b'"exportFromTime":"2026-01-14T10:20:00.000Z",', b""), "without exportFromTime/exportToTime"),
        (REAL_INCREMENTAL_SUMMARY.replace(b'"INCREMENTAL_EXPORT"', b'"DIFFERENTIAL"'), "unknown exportType"),
        (REAL_FULL_SUMMARY.replace(b'"DYNAMODB_JSON"', b'"ION"'), "outputFormat"),
    ],
)
def test_bad_summaries_are_export_errors_naming_the_export_and_file(body, problem):
    with pytest.raises(ExportError, match=problem) as error:
        ExportSummary.from_manifest("01768385930622-efd1a093", body)
    assert str(error.value).startswith("export 01768385930622-efd1a093, file manifest-summary.json: ")
    assert (error.value.export_id, error.value.file) == ("01768385930622-efd1a093", "manifest-summary.json")


# -- completed exports ----------------------------------------------------------------------------


def test_an_export_still_running_is_ignored_until_its_summary_lands(exports, writer, store):
    done = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    running = writer.write_full_export([message("c2", "2025-01-02T10:00:00Z")], FULL_AT + DAY)
    summary_body = exports.read_bytes(f"AWSDynamoDB/{running}/manifest-summary.json")
    exports.delete(f"AWSDynamoDB/{running}/manifest-summary.json")
    exports.write_bytes(b"", "AWSDynamoDB/01999999999999-00000000/_started")  # just begun
    assert set(store.export_ids()) == {done, running, "01999999999999-00000000"}
    assert store.is_complete(done) and not store.is_complete(running)
    assert [s.export_id for s in store.completed()] == [done]
    exports.write_bytes(summary_body, f"AWSDynamoDB/{running}/manifest-summary.json")  # it finishes
    assert [s.export_id for s in store.completed()] == [done, running]


def test_completed_exports_come_oldest_first_by_start_time_not_by_name(writer, store):
    late = writer.write_full_export([], FULL_AT + DAY, export_id="00000000000000-aaaaaaaa")
    early = writer.write_full_export([], FULL_AT, export_id="99999999999999-ffffffff")
    middle = writer.write_incremental_export([], FULL_AT, FULL_AT + DAY / 2, started=FULL_AT + DAY / 2, export_id="55555555555555-55555555")
    assert [s.export_id for s in store.completed()] == [early, middle, late]


def _set_summary(exports, export_id: str, **fields) -> None:
    path = f"AWSDynamoDB/{export_id}/manifest-summary.json"
    exports.write_bytes(json.dumps({**json.loads(exports.read_bytes(path)), **fields}).encode(), path)


def test_an_export_whose_summary_cannot_be_used_is_left_out_and_named(exports, writer, store):
    # outputFormat ION is a legal AWS option; completed() raised on it, failing every day's run.
    good = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    ion = writer.write_incremental_export([], FULL_AT, FULL_AT + DAY)
    _set_summary(exports, ion, outputFormat="ION")
    garbled = writer.write_full_export([], FULL_AT + DAY)
    exports.write_bytes(b"{not json", f"AWSDynamoDB/{garbled}/manifest-summary.json")
    assert [s.export_id for s in store.completed()] == [good]
    summaries, unusable = store.completed_and_unusable()
    assert [s.export_id for s in summaries] == [good]
    by_id = {u.error.export_id: u for u in unusable}
    assert "outputFormat 'ION' is not supported" in str(by_id[ion].error)
    assert by_id[ion].covered_until == FULL_AT + DAY  # its exportToTime: which days it may hold
    assert "unreadable summary" in str(by_id[garbled].error) and by_id[garbled].covered_until is None


def test_no_exports_yet(store):
    assert store.export_ids() == [] and store.completed() == []


# -- records ----------------------------------------------------------------------------------------


def test_a_full_export_line_is_an_item_versioned_at_the_export_time():
    summary = ExportSummary.from_manifest("x", REAL_FULL_SUMMARY)
    record = parse_record(REAL_LINES["full"], summary)
    assert (record.conversation_id, record.timestamp, record.kind) == ("1", "3", "item")
    assert record.version_micros == summary.snapshot_micros == 1768385930622000
    assert record.image == json.loads(REAL_LINES["full"])["Item"] and record.old_ttl is None


def test_real_incremental_lines_in_the_new_and_old_images_view():
    summary = ExportSummary.from_manifest("x", REAL_INCREMENTAL_SUMMARY)
    insert, update, delete = (parse_record(REAL_LINES[k], summary) for k in ("insert", "update", "delete"))
    assert (insert.kind, insert.conversation_id, insert.timestamp, insert.version_micros) == ("put", "2", "1", 1768386096366933)
    assert insert.image == {"conversation_id": {"S": "2"}, "timestamp": {"S": "1"}, "test": {"S": "test2"}}
    assert (update.kind, update.version_micros) == ("put", 1768387673917155)
    assert update.image["bin_update"] == {"BS": ["0000", "0001"]}  # the NEW image, kept as DynamoDB JSON
    assert (delete.kind, delete.conversation_id, delete.timestamp, delete.version_micros) == ("delete", "1", "1", 1768387654350448)
    assert delete.image is None and delete.old_ttl is None  # no ttl attribute in the old image


def test_new_image_view_lines_insert_update_and_keys_only_delete():
    summary = ExportSummary.from_manifest("x", REAL_INCREMENTAL_SUMMARY.replace(b"NEW_AND_OLD_IMAGES", b"NEW_IMAGE"))
    assert summary.output_view == "NEW_IMAGE"
    upsert = b'{"Metadata":{"WriteTimestampMicros":{"N":"1768387673917155"}},"Keys":{"conversation_id":{"S":"c"},"timestamp":{"S":"t"}},"NewImage":{"conversation_id":{"S":"c"},"timestamp":{"S":"t"},"message":{"S":"v2"}}}'
    delete = b'{"Metadata":{"WriteTimestampMicros":{"N":"1768387673917156"}},"Keys":{"conversation_id":{"S":"c"},"timestamp":{"S":"t"}}}'
    put = parse_record(upsert, summary)
    assert (put.kind, put.image["message"], put.old_ttl) == ("put", {"S": "v2"}, None)
    gone = parse_record(delete, summary)
    assert (gone.kind, gone.image, gone.old_ttl, gone.version_micros) == ("delete", None, None, 1768387673917156)
    assert (gone.conversation_id, gone.timestamp) == ("c", "t")


def test_a_delete_carries_the_old_images_ttl_for_telling_expiry_from_erasure():
    summary = ExportSummary.from_manifest("x", REAL_INCREMENTAL_SUMMARY)
    line = json.loads(REAL_LINES["delete"])
    line["OldImage"]["ttl"] = {"N": "1700000000"}
    assert parse_record(json.dumps(line).encode(), summary).old_ttl == 1700000000
    line["OldImage"]["ttl"] = {"S": "not a number"}
    assert parse_record(json.dumps(line).encode(), summary).old_ttl is None


def _history_with_every_change() -> tuple[TableHistory, dict]:
    t0 = FULL_AT
    items = {
        "updated": message("c1", "2025-01-01T10:00:00Z", "before", ttl=1900000000),
        "erased": message("c1", "2025-01-01T10:05:00Z", ttl=1900000000),
        "expired": message("c2", "2025-01-01T11:00:00Z", ttl=1700000000),
        "inserted": message("c3", "2025-01-02T12:00:00Z"),
        "transient": message("c4", "2025-01-02T13:00:00Z"),
        "untouched": message("c5", "2025-01-01T09:00:00Z"),
    }
    history = TableHistory()
    for name in ("updated", "erased", "expired", "untouched"):
        history.put(items[name], t0 - timedelta(hours=3))
    history.put({**items["updated"], "message": "after"}, t0 + timedelta(hours=1))
    history.delete(("c1", items["erased"]["timestamp"]), t0 + timedelta(hours=2))
    history.delete(("c2", items["expired"]["timestamp"]), t0 + timedelta(hours=3))
    history.put(items["inserted"], t0 + timedelta(hours=4))
    history.put(items["transient"], t0 + timedelta(hours=5))
    history.delete(("c4", items["transient"]["timestamp"]), t0 + timedelta(hours=6))
    return history, items


@pytest.mark.parametrize("view", ["NEW_AND_OLD_IMAGES", "NEW_IMAGE"])
def test_incremental_lines_have_awss_shape_in_each_view_and_parse_back(exports, writer, store, view):
    history, items = _history_with_every_change()
    export_id = writer.write_incremental_export(history.changes_between(FULL_AT, FULL_AT + DAY), FULL_AT, FULL_AT + DAY, view=view)
    summary = store.summary(export_id)
    assert summary.output_view == view and summary.item_count == 4  # transient + untouched: no line
    lines = {(d := json.loads(line))["Keys"]["timestamp"]["S"]: d for line in read_all(store, summary)}
    by_name = {name: lines.get(item["timestamp"]) for name, item in items.items()}
    assert by_name["transient"] is None and by_name["untouched"] is None
    for doc in lines.values():
        assert doc["Metadata"] == {"WriteTimestampMicros": {"N": doc["Metadata"]["WriteTimestampMicros"]["N"]}}
        assert set(doc["Keys"]) == {"conversation_id", "timestamp"}
    with_old = view == "NEW_AND_OLD_IMAGES"
    assert set(by_name["updated"]) == {"Metadata", "Keys", "NewImage"} | ({"OldImage"} if with_old else set())
    assert set(by_name["inserted"]) == {"Metadata", "Keys", "NewImage"}
    assert set(by_name["erased"]) == {"Metadata", "Keys"} | ({"OldImage"} if with_old else set())
    assert by_name["updated"]["NewImage"]["message"] == {"S": "after"}
    if with_old:
        assert by_name["updated"]["OldImage"]["message"] == {"S": "before"}
    assert by_name["updated"]["Metadata"]["WriteTimestampMicros"]["N"] == str(micros(FULL_AT + timedelta(hours=1)))

    records = {r.timestamp: r for r in (parse_record(line, summary) for line in read_all(store, summary))}
    assert {name: records[items[name]["timestamp"]].kind for name in ("updated", "erased", "expired", "inserted")} == {
        "updated": "put", "erased": "delete", "expired": "delete", "inserted": "put",
    }
    assert records[items["inserted"]["timestamp"]].version_micros == micros(FULL_AT + timedelta(hours=4))
    assert records[items["expired"]["timestamp"]].old_ttl == (1700000000 if with_old else None)
    assert records[items["erased"]["timestamp"]].old_ttl == (1900000000 if with_old else None)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b'{"Keys": {"conversation_id": {"S": "c"}}, "Metadata": {"WriteTimestampMicros": {"N": "1"}}}', "'timestamp'"),
        (b'{"Keys": {"conversation_id": {"S": ""}, "timestamp": {"S": "t"}}, "Metadata": {"WriteTimestampMicros": {"N": "1"}}}', "'conversation_id'"),
        (b'{"Keys": {"conversation_id": {"S": "c"}, "timestamp": {"N": "1"}}, "Metadata": {"WriteTimestampMicros": {"N": "1"}}}', "'timestamp'"),
        (b'{"Keys": {"conversation_id": {"S": "c"}, "timestamp": {"S": "t"}}}', "WriteTimestampMicros"),
        (b'{"Keys": {"conversation_id": {"S": "c"}, "timestamp": {"S": "t"}}, "Metadata": {"WriteTimestampMicros": 1}}', "WriteTimestampMicros"),
        (b'{"Keys": {"conversation_id": {"S": "c"}, "timestamp": {"S": "t"}}, "Metadata": {"WriteTimestampMicros": {"N": "soon"}}}', "WriteTimestampMicros"),
        (b'{"Metadata": {"WriteTimestampMicros": {"N": "1"}}}', "without a Keys object"),
        (b'{"Keys": [], "Metadata": {"WriteTimestampMicros": {"N": "1"}}}', "without a Keys object"),
        (b'{"Keys": {"conversation_id": {"S": "c"}, "timestamp": {"S": "t"}}, "Metadata": {"WriteTimestampMicros": {"N": "1"}}, "NewImage": "x"}', "NewImage is not an object"),
        (b'{"Item": {"conversation_id": {"S": "c"}, "timestamp": {"S": "t"}}}', "without a Keys object"),  # a full line in an incremental
    ],
)
def test_malformed_incremental_lines_say_why(line, problem):
    summary = ExportSummary.from_manifest("x", REAL_INCREMENTAL_SUMMARY)
    with pytest.raises(MalformedLine, match=problem):
        parse_record(line, summary)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"NewImage": {}}', "without an Item"),
        (b'{"Item": "x"}', "without an Item"),
        (b'{"Item": {"timestamp": {"S": "t"}}}', "'conversation_id'"),
        (b'{"Item": {"conversation_id": {"S": "c"}}}', "'timestamp'"),
    ],
)
def test_malformed_full_export_lines_say_why(line, problem):
    summary = ExportSummary.from_manifest("x", REAL_FULL_SUMMARY)
    with pytest.raises(MalformedLine, match=problem):
        parse_record(line, summary)


# -- integrity errors -------------------------------------------------------------------------------


def test_checksum_mismatch_names_export_and_file_and_yields_nothing(exports, writer, store):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary, data_file = first_nonempty(store, export_id)
    body = exports.read_bytes(data_file.path)
    exports.write_bytes(body[:-1] + bytes([body[-1] ^ 1]), data_file.path)  # one bit flipped
    lines = store.iter_lines(summary, data_file)
    with pytest.raises(ExportError, match="checksum mismatch") as error:
        next(lines)  # checked before a single line is handed out
    assert str(error.value).startswith(f"export {export_id}, file {data_file.key}:")
    assert (error.value.export_id, error.value.file) == (export_id, data_file.key)


def test_a_valid_gzip_from_another_export_still_fails_the_checksum(exports, writer, store):
    one = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    two = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z", "different")], FULL_AT + DAY)
    (s1, f1), (_, f2) = first_nonempty(store, one), first_nonempty(store, two)
    exports.write_bytes(exports.read_bytes(f2.path), f1.path)
    with pytest.raises(ExportError, match="checksum mismatch"):
        store.read_verified(s1, f1)


def test_truncated_gzip_is_an_export_error(exports, writer, store):
    export_id = writer.write_full_export([message("c1", f"2025-01-01T10:00:{s:02d}Z") for s in range(50)], FULL_AT)
    summary, data_file = first_nonempty(store, export_id)
    replace_data_file(exports, export_id, data_file, exports.read_bytes(data_file.path)[:-12])  # md5 agrees: only gzip is bad
    summary, data_file = first_nonempty(store, export_id)
    with pytest.raises(ExportError, match="corrupt gzip") as error:
        list(store.iter_lines(summary, data_file))
    assert error.value.export_id == export_id and error.value.file == data_file.key


def test_a_data_file_that_is_not_gzip_is_an_export_error(exports, writer, store):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary, data_file = first_nonempty(store, export_id)
    replace_data_file(exports, export_id, data_file, b'{"Item":{}}\n')
    summary, data_file = first_nonempty(store, export_id)
    with pytest.raises(ExportError, match="corrupt gzip"):
        list(store.iter_lines(summary, data_file))


def test_a_missing_data_file_is_an_export_error(exports, writer, store):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary, data_file = first_nonempty(store, export_id)
    exports.delete(data_file.path)
    with pytest.raises(ExportError, match="data file listed in manifest-files.json is missing") as error:
        list(store.iter_lines(summary, data_file))
    assert error.value.file == data_file.key


def test_a_missing_manifest_files_json_is_an_export_error(exports, writer, store):
    export_id = writer.write_full_export([], FULL_AT)
    exports.delete(f"AWSDynamoDB/{export_id}/manifest-files.json")
    with pytest.raises(ExportError, match="manifest-files.json is missing") as error:
        store.data_files(store.summary(export_id))
    assert error.value.export_id == export_id


def test_summary_and_manifest_item_counts_must_agree(exports, writer, store):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary_path = f"AWSDynamoDB/{export_id}/manifest-summary.json"
    doc = json.loads(exports.read_bytes(summary_path))
    doc["itemCount"] = 7
    exports.write_bytes(json.dumps(doc).encode(), summary_path)
    with pytest.raises(ExportError, match="data files list 1 items but the summary says 7") as error:
        store.data_files(store.summary(export_id))
    assert error.value.file == f"AWSDynamoDB/{export_id}/manifest-files.json"


def test_a_data_file_must_hold_as_many_items_as_its_manifest_line_says(exports, writer, store):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z"), message("c1", "2025-01-01T10:00:01Z")], FULL_AT)
    summary, data_file = first_nonempty(store, export_id)
    replace_data_file(exports, export_id, data_file, exports.read_bytes(data_file.path), item_count=data_file.item_count + 1)
    summary, data_file = first_nonempty(store, export_id)
    with pytest.raises(ExportError, match=f"holds {data_file.item_count - 1} items but manifest-files.json says {data_file.item_count}") as error:
        list(store.iter_lines(summary, data_file))
    assert error.value.file == data_file.key


def test_blank_lines_in_a_data_file_are_not_items(exports, writer, store):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary, data_file = first_nonempty(store, export_id)
    original = gzip.decompress(exports.read_bytes(data_file.path))
    replace_data_file(exports, export_id, data_file, gzip.compress(b"\n" + original + b"\n  \n"))
    summary, data_file = first_nonempty(store, export_id)
    assert list(store.iter_lines(summary, data_file)) == [original.rstrip(b"\n")]


@pytest.mark.parametrize(
    "bad_line",
    [
        b"{oops",
        b"[]",
        b"42",
        b'{"itemCount":1,"md5Checksum":"x"}',  # no dataFileS3Key
        b'{"itemCount":"one","md5Checksum":"x","dataFileS3Key":"AWSDynamoDB/data/x.json.gz"}',
        b'{"itemCount":1,"dataFileS3Key":"AWSDynamoDB/data/x.json.gz"}',  # no md5Checksum
        b'{"itemCount":1,"md5Checksum":"x","dataFileS3Key":7}',
    ],
)
def test_a_bad_manifest_files_line_is_an_export_error(exports, writer, store, bad_line):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    manifest_path = f"AWSDynamoDB/{export_id}/manifest-files.json"
    exports.write_bytes(exports.read_bytes(manifest_path) + bad_line + b"\n", manifest_path)
    with pytest.raises(ExportError) as error:
        store.data_files(store.summary(export_id))
    assert error.value.export_id == export_id
    if bad_line != b'{"itemCount":1,"md5Checksum":"x","dataFileS3Key":7}':
        assert "line 4 is not a valid manifest entry" in str(error.value) and error.value.file == manifest_path


def test_lines_are_streamed_from_gzip_and_counts_are_conserved(exports, writer, store):
    export_id = writer.write_full_export([message(f"c{i}", "2025-01-01T10:00:00Z", "x" * 500) for i in range(300)], FULL_AT)
    summary = store.summary(export_id)
    assert len(read_all(store, summary)) == summary.item_count == 300
    for f in store.data_files(summary):
        assert gzip.decompress(exports.read_bytes(f.path)).count(b"\n") == f.item_count


# -- TableHistory: how DynamoDB compacts a window -----------------------------------------------------


def test_history_compaction_follows_dynamodb():
    history, items = _history_with_every_change()
    changes = {c.key: c for c in history.changes_between(FULL_AT, FULL_AT + DAY)}
    key = {name: (item["conversation_id"], item["timestamp"]) for name, item in items.items()}
    assert set(changes) == {key["updated"], key["erased"], key["expired"], key["inserted"]}  # transient, untouched: nothing
    updated = changes[key["updated"]]
    assert updated.old_image == items["updated"] and updated.new_image == {**items["updated"], "message": "after"}
    assert changes[key["erased"]].new_image is None and changes[key["erased"]].old_image == items["erased"]
    assert changes[key["inserted"]].old_image is None and changes[key["inserted"]].new_image == items["inserted"]
    assert changes[key["inserted"]].write_micros == micros(FULL_AT + timedelta(hours=4))


def test_history_keeps_the_last_write_in_the_window_and_the_state_before_it():
    history = TableHistory()
    a = message("c1", "t1", "v1")
    history.put(a, FULL_AT - timedelta(hours=1))
    history.put({**a, "message": "v2"}, FULL_AT + timedelta(minutes=1))
    history.put({**a, "message": "v3"}, FULL_AT + timedelta(minutes=2))
    [change] = history.changes_between(FULL_AT, FULL_AT + DAY)
    assert change.old_image == a and change.new_image["message"] == "v3"  # OldImage: before the window, not the previous write
    assert change.write_micros == micros(FULL_AT + timedelta(minutes=2))


def test_history_window_is_start_inclusive_and_end_exclusive():
    history = TableHistory()
    history.put(message("c1", "at-start"), FULL_AT)
    history.put(message("c1", "at-end"), FULL_AT + DAY)
    history.put(message("c1", "just-before"), FULL_AT - timedelta(microseconds=1))
    assert [c.key for c in history.changes_between(FULL_AT, FULL_AT + DAY)] == [("c1", "at-start")]
    assert set(history.state_at(FULL_AT)) == {("c1", "just-before")}  # state_at is exclusive too
    assert set(history.state_at(FULL_AT + DAY + timedelta(microseconds=1))) == {("c1", "at-start"), ("c1", "at-end"), ("c1", "just-before")}


def test_history_delete_then_reinsert_inside_a_window_is_an_update():
    history = TableHistory()
    a = message("c1", "t1", "v1")
    history.put(a, FULL_AT - timedelta(hours=1))
    history.delete(("c1", "t1"), FULL_AT + timedelta(minutes=1))
    history.put({**a, "message": "v2"}, FULL_AT + timedelta(minutes=2))
    [change] = history.changes_between(FULL_AT, FULL_AT + DAY)
    assert change.old_image == a and change.new_image["message"] == "v2"
    # ... and an item deleted before the window then re-inserted inside it is an insert.
    history.delete(("c1", "t1"), FULL_AT + DAY + timedelta(hours=1))
    history.put(a, FULL_AT + 2 * DAY + timedelta(hours=1))
    [change] = history.changes_between(FULL_AT + 2 * DAY, FULL_AT + 3 * DAY)
    assert change.old_image is None and change.new_image == a


def test_history_equal_timestamps_keep_write_order():
    history = TableHistory()
    a = message("c1", "t1", "first")
    history.put(a, FULL_AT + timedelta(hours=1))
    history.put({**a, "message": "second"}, FULL_AT + timedelta(hours=1))
    assert history.state_at(FULL_AT + DAY)[("c1", "t1")]["message"] == "second"


def test_a_full_export_is_a_snapshot_of_the_history(writer, store):
    history, _ = _history_with_every_change()
    state = history.state_at(FULL_AT + DAY)
    export_id = writer.write_full_export(state.values(), FULL_AT + DAY)
    summary = store.summary(export_id)
    records = [parse_record(line, summary) for line in read_all(store, summary)]
    assert {(r.conversation_id, r.timestamp) for r in records} == set(state)
    assert all(r.kind == "item" and r.version_micros == micros(FULL_AT + DAY) for r in records)


# -- export index ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "day"),
    [
        ("2025-01-01T23:59:59.999999", "2025-01-01"),  # the seed's naive utcnow().isoformat()
        ("2025-01-01T23:59:59", "2025-01-01"),
        ("2025-01-02T00:00:00", "2025-01-02"),
        ("2025-01-02T00:00:00Z", "2025-01-02"),
        ("2025-01-02T00:00:00.5Z", "2025-01-02"),
        ("2025-01-01T23:59:59.123Z", "2025-01-01"),
        ("2025-01-02T00:30:00+01:00", "2025-01-01"),  # an offset is converted to UTC first
        ("2025-01-01T20:00:00-05:00", "2025-01-02"),
    ],
)
def test_item_day_is_the_utc_day_of_the_items_own_timestamp(timestamp, day):
    assert item_day(timestamp) == day
    assert parse_item_timestamp(timestamp).utcoffset() == timedelta(0)


def test_index_counts_items_by_their_own_day(writer, store, lake):
    items = [
        message("c1", "2025-01-01T23:59:59.999999"),
        message("c1", "2025-01-02T00:00:00.5Z"),
        message("c2", "2025-01-01T12:00:00+00:00"),
        message("c3", "2024-12-31T23:00:00Z"),
        message("c4", "2025-01-02T00:30:00+01:00"),
    ]
    export_id = writer.write_full_export(items, FULL_AT)
    summary = store.summary(export_id)
    index = build_export_index(store, lake, summary)
    assert index.days == {"2024-12-31": 1, "2025-01-01": 3, "2025-01-02": 1}
    assert list(index.days) == sorted(index.days)
    assert (index.export_id, index.export_type, index.items, index.quarantined) == (export_id, FULL_EXPORT, 5, 0)
    assert index.covered_until == FULL_AT.isoformat() and index.quarantine_reasons == {}
    assert lake.list_files("quarantine", recursive=True) == []


def test_an_item_written_after_midnight_belongs_to_the_previous_day(writer, store, lake):
    history = TableHistory()
    late = message("c1", "2025-01-01T23:59:59.950000")  # the app's clock: still Jan 1
    history.put(late, datetime(2025, 1, 2, 0, 0, 0, 300000, tzinfo=UTC))  # lands in DynamoDB on Jan 2
    history.put(message("c2", "2025-01-02T08:00:00Z"), datetime(2025, 1, 2, 8, tzinfo=UTC))
    history.delete(("c1", late["timestamp"]), datetime(2025, 1, 3, 9, tzinfo=UTC))  # erased a day later
    day2 = writer.write_incremental_export(history.changes_between(FULL_AT, FULL_AT + DAY), FULL_AT, FULL_AT + DAY)
    day3 = writer.write_incremental_export(history.changes_between(FULL_AT + DAY, FULL_AT + 2 * DAY), FULL_AT + DAY, FULL_AT + 2 * DAY)
    index2 = build_export_index(store, lake, store.summary(day2))
    assert index2.days == {"2025-01-01": 1, "2025-01-02": 1} and index2.export_type == INCREMENTAL_EXPORT
    assert index2.covered_until == (FULL_AT + DAY).isoformat()
    # The Jan 3 export's only line is a delete of a Jan 1 item: it touches Jan 1, not Jan 3.
    assert build_export_index(store, lake, store.summary(day3)).days == {"2025-01-01": 1}


def test_index_quarantines_lines_it_cannot_attribute_with_a_reason(exports, writer, store, lake):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT, export_id="01735776000000-0000abcd")
    summary, data_file = first_nonempty(store, export_id)
    good = gzip.decompress(exports.read_bytes(data_file.path)).splitlines()
    lines = good + [
        b'{"Item":{"conversation_id":{"S":"c2"},"message":{"S":"no timestamp key"}}}',
        b'{"Item":{"conversation_id":{"S":"c3"},"timestamp":{"S":"31/12/2024 10:00"}}}',
        b'{"Item":{"conversation_id":{"S":"c4"},"timestamp":{"S":"2025-13-45T10:00:00"}}}',
        b"{broken json",
        b'{"Item":{"conversation_id":{"S":"c5"},"timestamp":{"S":"2025-01-01T11:00:00"}}}',
    ]
    replace_data_file(exports, export_id, data_file, gzip_lines(lines), item_count=len(lines))
    summary, data_file = first_nonempty(store, export_id)

    index = build_export_index(store, lake, summary)
    assert index.days == {"2025-01-01": 2}
    assert index.items == 6 and index.quarantined == 4
    assert sum(index.days.values()) + index.quarantined == index.items == summary.item_count  # nothing vanishes
    # Reasons are categories: both bad timestamps (one with ':' in it) share one, values stay out.
    assert index.quarantine_reasons == {
        "key attribute 'timestamp' missing or not a non-empty string": 1,
        "timestamp is not ISO 8601": 2,
        "not JSON": 1,
    }

    path = layout.export_quarantine_path(export_id, data_file.key)
    assert path == f"quarantine/exports/{export_id}/{data_file.key.rsplit('/', 1)[1].split('.')[0]}.jsonl"
    quarantined = [json.loads(line) for line in lake.read_bytes(path).splitlines()]
    assert [q["line_number"] for q in quarantined] == [2, 3, 4, 5]
    assert all(q["export_id"] == export_id and q["data_file"] == data_file.key for q in quarantined)
    assert quarantined[0]["line"] == lines[1].decode() and "'timestamp' missing" in quarantined[0]["reason"]
    assert quarantined[1]["reason"].startswith("timestamp is not ISO 8601") and quarantined[3]["reason"].startswith("not JSON")


def test_index_quarantines_incremental_lines_without_keys(exports, writer, store, lake):
    item = message("c1", "2025-01-02T10:00:00Z")
    export_id = writer.write_incremental_export([Change(("c1", item["timestamp"]), micros(FULL_AT) + 1, item, None)], FULL_AT, FULL_AT + DAY)
    summary, data_file = first_nonempty(store, export_id)
    lines = gzip.decompress(exports.read_bytes(data_file.path)).splitlines() + [
        b'{"Metadata":{"WriteTimestampMicros":{"N":"1735776000000002"}},"NewImage":{"conversation_id":{"S":"c9"}}}',
        b'{"Metadata":{"WriteTimestampMicros":{"N":"1735776000000003"}},"Keys":{"conversation_id":{"S":"c9"}}}',
    ]
    replace_data_file(exports, export_id, data_file, gzip_lines(lines), item_count=len(lines))
    index = build_export_index(store, lake, store.summary(export_id))
    assert index.days == {"2025-01-02": 1} and index.quarantined == 2
    assert index.quarantine_reasons == {"incremental line without a Keys object": 1, "key attribute 'timestamp' missing or not a non-empty string": 1}


def test_index_stops_on_an_export_that_fails_its_checksum(exports, writer, store, lake):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary, data_file = first_nonempty(store, export_id)
    exports.write_bytes(gzip.compress(b"tampered\n"), data_file.path)
    with pytest.raises(ExportError, match="checksum mismatch"):
        build_export_index(store, lake, summary)
    assert not lake.exists(layout.export_index_path(export_id))


def test_index_is_built_once_then_read_from_the_lake(exports, writer, store, lake):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z"), message("c2", "2025-01-02T10:00:00")], FULL_AT)
    summary = store.summary(export_id)
    first = load_or_build_export_index(store, lake, summary)
    assert first.days == {"2025-01-01": 1, "2025-01-02": 1}
    cached = lake.read_bytes(layout.export_index_path(export_id))
    assert json.loads(cached)["version"] == INDEX_VERSION and ExportIndex.from_json(cached) == first
    for data_file in store.data_files(summary):  # exports never change: the cache must not re-read them
        exports.delete(data_file.path)
    assert load_or_build_export_index(store, lake, summary) == first


def test_an_index_cached_by_another_version_is_rebuilt(exports, writer, store, lake):
    export_id = writer.write_full_export([message("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    summary = store.summary(export_id)
    lake.write_bytes(json.dumps({"version": INDEX_VERSION - 1, "days": {"1999-01-01": 9}}).encode(), layout.export_index_path(export_id))
    index = load_or_build_export_index(store, lake, summary)
    assert index.days == {"2025-01-01": 1}
    assert json.loads(lake.read_bytes(layout.export_index_path(export_id)))["version"] == INDEX_VERSION


def test_export_index_json_round_trips():
    index = ExportIndex("e1", INCREMENTAL_EXPORT, "2025-01-03T00:00:00+00:00", {"2025-01-01": 2}, 3, 1, {"not JSON": 1})
    assert ExportIndex.from_json(index.to_json()) == index
    assert ExportIndex.from_json(json.dumps({"version": 99}).encode()) is None
