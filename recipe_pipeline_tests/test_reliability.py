"""Fault injection: corrupt exports, malformed items, crashes mid-write, concurrent runs of one
partition, transient and permanent AWS faults over the wire, late and out-of-order exports.
Each test injects the fault for real and checks that nothing is lost and every failure is loud."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import boto3
import dagster as dg
import pyarrow as pa
import pytest

from recipe_pipeline import lake as layout
from recipe_pipeline.assets.ingestion import raw_conversations
from recipe_pipeline.athena import AthenaRunner
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.export_runs import ExportCursor, plan_export_runs
from recipe_pipeline.partitions import export_partitions
from recipe_pipeline.export_writer import Change, ExportWriter, micros
from recipe_pipeline.exports import ExportStore
from recipe_pipeline.raw import build_raw_day
from recipe_pipeline.settings import load_settings
from recipe_pipeline.storage import Location

FULL_AT = datetime(2025, 1, 2, tzinfo=UTC)
DAY = "2025-01-01"


def item(conversation_id: str, timestamp: str, message: str = "hello", **extra) -> dict:
    return {"conversation_id": conversation_id, "timestamp": timestamp, "user_id": "u1", "role": "user", "message": message, **extra}


def run_day(project, instance, day: str = DAY):
    return build_definitions(project.settings).resolve_job_def("daily_pipeline").execute_in_process(
        partition_key=day, instance=instance, raise_on_error=False
    )


def step_events(result, kind: str):
    return [e for e in result.all_events if e.event_type_value == kind]


def failure_text(result) -> str:
    [failure] = step_events(result, "STEP_FAILURE")
    data = failure.step_failure_data
    return (data.user_failure_data.description if data.user_failure_data else "") + "\n" + data.error.to_string()


# -- corrupt input -------------------------------------------------------------------------------
def _rewrite_manifest(project, export_id: str, edit) -> None:
    path = f"AWSDynamoDB/{export_id}/manifest-files.json"
    entries = [json.loads(line) for line in project.exports.read_bytes(path).splitlines()]
    body = edit(entries)
    project.exports.write_bytes(body if isinstance(body, bytes) else b"".join(json.dumps(e).encode() + b"\n" for e in body), path)


def _corrupt(project, export_id: str, fault: str) -> str:
    """Inject ``fault`` into the export; returns the file the error must name."""
    store = ExportStore(project.exports)
    data_file = next(f for f in store.data_files(store.summary(export_id)) if f.item_count)
    body = project.exports.read_bytes(data_file.path)
    if fault == "checksum":
        project.exports.write_bytes(body[:-4] + b"\x00\x00\x00\x00", data_file.path)
    elif fault == "truncated gzip":
        truncated = body[: len(body) // 2]
        project.exports.write_bytes(truncated, data_file.path)
        checksum = base64.b64encode(hashlib.md5(truncated).digest()).decode()
        _rewrite_manifest(project, export_id, lambda es: [{**e, "md5Checksum": checksum} if e["dataFileS3Key"] == data_file.key else e for e in es])
    elif fault == "missing file":
        project.exports.delete(data_file.path)
    elif fault == "bad manifest line":
        _rewrite_manifest(project, export_id, lambda es: b"".join(json.dumps(e).encode() + b"\n" for e in es) + b'{"itemCount": "many"\n')
        return f"AWSDynamoDB/{export_id}/manifest-files.json"
    return data_file.key


FAULTS = ["checksum", "truncated gzip", "missing file", "bad manifest line"]


@pytest.mark.parametrize("fault", FAULTS)
def test_corrupt_exports_fail_the_run_naming_export_and_file_and_keep_the_old_day(project, instance, fault):
    ExportWriter(project.exports).write_full_export([item("c1", f"2025-01-01T10:00:{s:02d}Z") for s in range(40)], FULL_AT)
    assert run_day(project, instance).success
    before = project.lake.read_bytes(layout.raw_conversations_path(DAY))
    # A later export of the same day arrives corrupt.
    later = ExportWriter(project.exports).write_incremental_export(
        [Change(("c1", "2025-01-01T10:00:00Z"), micros(FULL_AT) + 10, item("c1", "2025-01-01T10:00:00Z", "edited"), None)], FULL_AT, FULL_AT + timedelta(days=1)
    )
    named = _corrupt(project, later, fault)
    result = run_day(project, instance)
    assert not result.success
    text = failure_text(result)
    assert later in text and named in text
    assert not step_events(result, "STEP_UP_FOR_RETRY")  # permanent: no retries, fails at once
    assert project.lake.read_bytes(layout.raw_conversations_path(DAY)) == before


@pytest.mark.parametrize("fault", FAULTS)
def test_the_sensor_does_not_advance_past_a_corrupt_export(project, instance, fault):
    export_id = ExportWriter(project.exports).write_full_export([item("c1", "2025-01-01T10:00:00Z")], FULL_AT)
    good = {p: project.exports.read_bytes(p) for p in project.exports.list_files("AWSDynamoDB", recursive=True)}
    named = _corrupt(project, export_id, fault)
    store, now = ExportStore(project.exports), datetime(2025, 2, 1, tzinfo=UTC)
    index_job = build_definitions(project.settings).resolve_job_def("export_index")
    instance.add_dynamic_partitions(export_partitions.name, [export_id])

    def index_run():
        return index_job.execute_in_process(partition_key=export_id, instance=instance, raise_on_error=False)

    plan = plan_export_runs(store, project.lake, ExportCursor(), first_day="2025-01-01", now=now)
    assert plan.requests == [] and export_id not in plan.cursor.handled
    if fault == "bad manifest line":  # seen by the sensor itself, retried on every tick
        assert named in plan.cursor.failed[export_id] and plan.to_index == []
    else:  # seen by the index run the sensor requests: it fails at once, naming the file
        assert plan.to_index == [export_id] and plan.cursor.failed == {}
        failed = index_run()
        assert not failed.success and export_id in failure_text(failed) and named in failure_text(failed)
        assert not step_events(failed, "STEP_UP_FOR_RETRY")
        assert plan_export_runs(store, project.lake, plan.cursor, first_day="2025-01-01", now=now).to_index == [export_id]
    for path, body in good.items():  # fixed, e.g. re-exported
        project.exports.write_bytes(body, path)
    assert index_run().success
    fixed = plan_export_runs(store, project.lake, plan.cursor, first_day="2025-01-01", now=now)
    assert [r.day for r in fixed.requests] == [DAY] and fixed.cursor.failed == {}


# -- malformed items -----------------------------------------------------------------------------
def test_malformed_items_are_quarantined_or_normalized_and_counted(project, instance, monkeypatch):
    monkeypatch.setenv("RECIPE_PIPELINE_QUARANTINE_THRESHOLD", "0.5")
    writer = ExportWriter(project.exports)
    export_id = writer.write_full_export(
        [
            item("c1", "2025-01-01T10:00:00Z", "line one\nbell\x07 and nul\x00 gone\ttab kept"),
            item("c1", "2025-01-01T10:01:00Z", "x" * 420_000),  # over DynamoDB's 400 KB item limit
            item("c1", "2025-01-01T10:02:00Z", "fine"),
            item("c1", "2025-01-01T10:03:00Z", "fine too"),
            item("c1", "2025-01-01T10:04:00Z", "fine as well"),
        ],
        FULL_AT,
    )
    # A line that is not UTF-8 in the same export.
    store = ExportStore(project.exports)
    data_file = next(f for f in store.data_files(store.summary(export_id)) if f.item_count)
    lines = gzip.decompress(project.exports.read_bytes(data_file.path)) + b'{"Item": {"conversation_id": {"S": "c\xff\xfe"}}}\n'
    body = gzip.compress(lines, mtime=0)
    project.exports.write_bytes(body, data_file.path)
    _rewrite_manifest(project, export_id, lambda es: [
        {**e, "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode(), "itemCount": e["itemCount"] + 1} if e["dataFileS3Key"] == data_file.key else e
        for e in es
    ])
    summary_path = f"AWSDynamoDB/{export_id}/manifest-summary.json"
    summary = json.loads(project.exports.read_bytes(summary_path))
    project.exports.write_bytes(json.dumps({**summary, "itemCount": summary["itemCount"] + 1}).encode(), summary_path)

    settings = load_settings()
    defs = build_definitions(settings)
    result = defs.resolve_job_def("daily_pipeline").execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
    [raw_event] = result.asset_materializations_for_node("raw_conversations")
    assert raw_event.metadata["dagster/row_count"].value == 4 and raw_event.metadata["quarantined"].value == 1
    quarantined = project.lake.read_bytes(layout.day_quarantine_path(DAY)).decode()
    assert "over DynamoDB's 400 KB item limit" in quarantined
    messages = project.lake.read_parquet(layout.raw_conversations_path(DAY)).column("message").to_pylist()
    assert "line one\nbell and nul gone\ttab kept" in messages
    export_quarantine = [p for p in project.lake.list_files("quarantine/exports", recursive=True)]
    assert export_quarantine and "not JSON" in project.lake.read_bytes(export_quarantine[0]).decode()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["raw_conversations_counts_conserved"].passed
    assert checks["raw_conversations_quarantine_rate"].passed  # 1 of 5 is under the configured 50%
    assert checks["raw_conversations_quarantine_rate"].metadata["threshold"].value == 0.5


# -- crashes mid-write ---------------------------------------------------------------------------
CRASHING_WRITER = textwrap.dedent(
    """
    import sys, pyarrow as pa
    from recipe_pipeline.storage import Location
    location = Location(sys.argv[1])
    schema = pa.schema([("x", pa.int64()), ("text", pa.string())])
    with location.open_parquet_writer(schema, "zone/day.parquet") as writer:
        print("writing", flush=True)
        while True:  # killed from outside half-way through
            writer.write(pa.table({"x": list(range(50_000)), "text": ["y" * 40] * 50_000}, schema=schema))
    """
)


def test_a_process_killed_mid_write_leaves_the_previous_partition(tmp_path):
    location = Location(str(tmp_path / "lake"))
    location.write_parquet(pa.table({"x": [1, 2, 3], "text": ["a", "b", "c"]}), "zone/day.parquet")
    process = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, location.url], stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"writing"
    time.sleep(1.0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert location.read_parquet("zone/day.parquet").column("x").to_pylist() == [1, 2, 3]
    leftovers = [p for p in location.list_files("zone") if p != "zone/day.parquet"]
    assert leftovers and all(p.rsplit("/", 1)[1].startswith(".") and p.endswith(".tmp") for p in leftovers)
    # Readers that glob the zone (DuckDB here; Athena skips dot-files) never see the half-written file.
    import duckdb

    assert duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{location.path('zone')}/*.parquet')").fetchall() == [(3,)]


def test_a_failed_s3_write_leaves_the_previous_object(s3_bucket):
    location = Location(f"s3://{s3_bucket}/lake")
    location.write_parquet(pa.table({"x": [1]}), "zone/day.parquet")

    class Unserializable:
        schema = pa.schema([("x", pa.int64())])

        def __getattr__(self, name):
            raise RuntimeError("the writer crashed")

    with pytest.raises(Exception):
        location.write_parquet(Unserializable(), "zone/day.parquet")
    assert location.read_parquet("zone/day.parquet").column("x").to_pylist() == [1]


# -- concurrent runs of one partition ------------------------------------------------------------
CONCURRENT_RUN = textwrap.dedent(
    """
    import dagster as dg
    from recipe_pipeline.definitions import build_definitions
    from recipe_pipeline.settings import load_settings
    instance = dg.DagsterInstance.get()
    job = build_definitions(load_settings()).resolve_job_def("daily_pipeline")
    result = job.execute_in_process(partition_key="2025-01-01", instance=instance, raise_on_error=False)
    print("ok" if result.success else "failed")
    """
)


def test_two_concurrent_runs_of_one_partition_neither_corrupt_nor_double_count(project, simulated):
    home = os.environ["DAGSTER_HOME"]
    with open(os.path.join(home, "dagster.yaml"), "w") as handle:
        handle.write("telemetry:\n  enabled: false\n")
    dg.DagsterInstance.get().dispose()  # create the instance's storage once, before both runs start
    processes = [subprocess.Popen([sys.executable, "-c", CONCURRENT_RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()) for _ in range(2)]
    finished = [p.communicate(timeout=300) for p in processes]
    outputs = [out.decode().strip().splitlines()[-1] if out.strip() else err.decode()[-2000:] for out, err in finished]
    assert outputs == ["ok", "ok"]
    expected = simulated.stats.messages_per_day[DAY]
    assert project.lake.read_parquet(layout.raw_conversations_path(DAY)).num_rows == expected
    assert project.lake.read_parquet(layout.conversations_path(DAY)).num_rows == expected
    assert json.loads(project.lake.read_bytes(layout.daily_metrics_path(DAY)))["total_messages"] == expected
    for zone in (layout.RAW_CONVERSATIONS, layout.CONVERSATIONS, layout.DAILY_METRICS):
        assert len(project.lake.list_files(zone, recursive=True)) == 1  # one object per day, nothing appended


def test_the_local_instance_never_runs_one_partition_twice_at_once(tmp_path):
    import shutil

    shutil.copy(os.path.join(os.path.dirname(__file__), "..", "dagster.yaml"), tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        limits = instance.run_coordinator.inst_data.config_dict["tag_concurrency_limits"]
        assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    finally:
        instance.dispose()


# -- transient and permanent AWS faults, over the wire -------------------------------------------
SLOW_DOWN = '<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>'


def test_s3_throttling_of_metadata_requests_is_retried_by_the_client(faulty_aws, s3_bucket, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)  # objects written straight to the endpoint
    Location(f"s3://{s3_bucket}/lake").write_bytes(b"payload", "zone/object.bin")
    monkeypatch.setenv("AWS_ENDPOINT_URL", faulty_aws.url)
    faulty_aws.fail_next(2, 503, SLOW_DOWN, match=lambda method, path, headers: method == "HEAD")
    faulty_aws.fail_next(1, 500, "<Error><Code>InternalError</Code><Message>internal error</Message></Error>",
                         match=lambda method, path, headers: method == "GET" and "list-type" in path)
    location = Location(f"s3://{s3_bucket}/lake")  # through the fault-injecting proxy
    assert location.exists("zone/object.bin")
    assert location.list_files("zone") == ["zone/object.bin"]
    assert [status for _, _, status in faulty_aws.injected] == [503, 503, 500]


def test_athena_throttling_is_retried(faulty_aws):
    faulty_aws.fail_next(2, 400, json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}),
                         match=lambda method, path, headers: "StartQueryExecution" in (headers.get("X-Amz-Target") or ""),
                         headers={"Content-Type": "application/x-amz-json-1.1"})
    from botocore.config import Config

    client = boto3.client("athena", config=Config(retries={"mode": "standard", "max_attempts": 8}))
    execution_id = AthenaRunner(client, "primary", sleep=lambda _: None).execute("SELECT 1")
    assert execution_id and len(faulty_aws.injected) == 2


def test_permanent_faults_fail_fast_with_the_aws_message(project, instance, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("RECIPE_PIPELINE_EXPORTS", "s3://no-such-bucket-anywhere/exports")
    monkeypatch.setenv("RECIPE_PIPELINE_LAKE", f"s3://{s3_bucket}/lake")
    monkeypatch.setenv("RECIPE_PIPELINE_DUCKDB", str(tmp_path / "w.duckdb"))
    settings = load_settings()
    from recipe_pipeline.resources import build_resources

    result = dg.materialize([raw_conversations], partition_key=DAY, resources=build_resources(settings), instance=instance, raise_on_error=False)
    assert not result.success
    assert not step_events(result, "STEP_UP_FOR_RETRY")
    assert "NoSuchBucket" in failure_text(result) or "NO_SUCH_BUCKET" in failure_text(result)


# -- late and out-of-order data ------------------------------------------------------------------
def test_an_incremental_export_arriving_after_a_full_export_of_the_same_window_does_not_double_count(project):
    writer = ExportWriter(project.exports)
    a = item("c1", "2025-01-01T10:00:00Z")
    b = item("c1", "2025-01-01T11:00:00Z")
    writer.write_full_export([a, b], FULL_AT)  # lands first, already holds both
    writer.write_incremental_export(  # the window's incremental export, delivered late
        [Change(("c1", a["timestamp"]), micros(datetime(2025, 1, 1, 10, 0, 1, tzinfo=UTC)), a, None),
         Change(("c1", b["timestamp"]), micros(datetime(2025, 1, 1, 11, 0, 1, tzinfo=UTC)), b, None)],
        datetime(2025, 1, 1, tzinfo=UTC), FULL_AT,
    )
    result = build_raw_day(ExportStore(project.exports), project.lake, DAY)
    assert result.table.num_rows == 2 and result.counts["superseded_versions"] == 2
