"""``dynamodb_export_sensor`` evaluated for real (``build_sensor_context`` + ``evaluate_tick``)
over exports written in AWS's layout, the planning logic behind it, and the real Dagster daemon
(``dagster dev``) running it end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from bench.backfill import ROOT, dagster_dev
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.export_runs import ExportCursor, plan_export_runs
from recipe_pipeline import lake as layout
from recipe_pipeline.export_writer import Change, ExportWriter
from recipe_pipeline.export_index import INDEX_VERSION, load_or_build_export_index
from recipe_pipeline.exports import ExportStore
from recipe_pipeline.sensors import SENSOR_NAME
from recipe_pipeline.simulate import planned_exports
from recipe_pipeline_tests.conftest import SMALL_SIMULATION, run_index_requests


def tick(project, instance, cursor: str | None) -> dg.SensorResult:
    defs = build_definitions(project.settings)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources=defs.resources,
        sensor_name=SENSOR_NAME,
    ) as context:
        return sensor.evaluate_tick(context)


def settled_tick(project, instance, cursor: str | None) -> dg.SensorResult:
    """A tick after the export_index runs the one before it requested have finished."""
    assert all(run.success for run in run_index_requests(project, instance, tick(project, instance, cursor)))
    return tick(project, instance, cursor)


def indexed(project) -> ExportStore:
    """The exports, each with its index written (what the export_index runs leave behind)."""
    store = ExportStore(project.exports)
    for summary in store.completed():
        load_or_build_export_index(store, project.lake, summary)
    return store


def item(conversation_id: str, timestamp: str, message: str = "hello") -> dict:
    return {"conversation_id": conversation_id, "timestamp": timestamp, "user_id": "u1", "role": "user", "message": message}


def test_new_exports_are_indexed_in_runs_of_their_own_before_their_days_are_requested(project, simulated, instance):
    # Reading an export takes as long as the export is large; a tick reads only manifests.
    indexing = tick(project, instance, None)
    assert sorted(r.partition_key for r in indexing.run_requests) == sorted(simulated.export_ids)
    assert {r.job_name for r in indexing.run_requests} == {"export_index"}
    assert [r.run_key for r in indexing.run_requests] == [f"index:v{INDEX_VERSION}:{r.partition_key}" for r in indexing.run_requests]
    [added] = indexing.dynamic_partitions_requests
    assert sorted(added.partition_keys) == sorted(simulated.export_ids)
    assert ExportCursor.parse(indexing.cursor).handled == []  # handled once indexed
    assert not project.lake.list_files("raw/export_index")
    assert [r.run_key for r in tick(project, instance, None).run_requests] == [r.run_key for r in indexing.run_requests]

    runs = run_index_requests(project, instance, indexing)
    assert all(run.success for run in runs)
    [materialization] = runs[0].asset_materializations_for_node("dynamodb_export_index")
    assert materialization.partition == indexing.run_requests[0].partition_key
    assert materialization.metadata["items"].value > 0
    first = tick(project, instance, None)
    assert not first.dynamic_partitions_requests  # the partitions exist now
    assert sorted(r.partition_key for r in first.run_requests) == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert all(r.job_name == "daily_pipeline" for r in first.run_requests)
    again = tick(project, instance, None)  # the same tick evaluated twice
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]
    assert len({r.run_key for r in first.run_requests}) == 3

    cursor = ExportCursor.parse(first.cursor)
    assert sorted(cursor.handled) == sorted(simulated.export_ids)
    after = tick(project, instance, first.cursor)
    assert not after.run_requests
    assert after.skip_message == "no new completed exports"


def test_an_incremental_export_that_updates_an_earlier_day_requests_that_day(project, instance):
    writer = ExportWriter(project.exports)
    start = datetime(2025, 1, 2, tzinfo=UTC)
    writer.write_full_export([item("c1", "2025-01-01T09:00:00.000001Z")], start)
    first = settled_tick(project, instance, None)
    cursor = first.cursor
    # Next day's export: a new message on Jan 2 and a deletion (erasure) of a Jan 1 message.
    changes = [
        Change(("c2", "2025-01-02T08:00:00.000001Z"), 1735804800000000, item("c2", "2025-01-02T08:00:00.000001Z"), None),
        Change(("c1", "2025-01-01T09:00:00.000001Z"), 1735808400000000, None, item("c1", "2025-01-01T09:00:00.000001Z")),
    ]
    writer.write_incremental_export(changes, start, start + timedelta(days=1))
    result = settled_tick(project, instance, cursor)
    assert sorted(r.partition_key for r in result.run_requests) == ["2025-01-01", "2025-01-02"]
    # The daemon drops a request whose run key it has seen: Jan 1 needs a new key to be rebuilt.
    first_key = {r.partition_key: r.run_key for r in first.run_requests}["2025-01-01"]
    second_key = {r.partition_key: r.run_key for r in result.run_requests}["2025-01-01"]
    assert second_key != first_key
    assert [r.run_key for r in tick(project, instance, cursor).run_requests] == [r.run_key for r in result.run_requests]


def test_a_message_written_after_midnight_belongs_to_its_own_day(project, instance):
    writer = ExportWriter(project.exports)
    start = datetime(2025, 1, 2, tzinfo=UTC)
    writer.write_full_export([], start)
    late = item("c9", "2025-01-02T23:59:59.999000")  # naive isoformat, written 00:00:01 on Jan 3
    writer.write_incremental_export([Change(("c9", late["timestamp"]), 1735862401000000, late, None)], start + timedelta(days=1), start + timedelta(days=2))
    assert [r.partition_key for r in settled_tick(project, instance, None).run_requests] == ["2025-01-02"]


def test_an_export_in_progress_is_ignored_until_its_summary_appears(project, instance):
    writer = ExportWriter(project.exports)
    export_id = writer.write_full_export([item("c1", "2025-01-01T09:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    summary_path = f"AWSDynamoDB/{export_id}/manifest-summary.json"
    body = project.exports.read_bytes(summary_path)
    project.exports.delete(summary_path)
    pending = tick(project, instance, None)
    assert not pending.run_requests
    assert ExportCursor.parse(pending.cursor).handled == []
    project.exports.write_bytes(body, summary_path)
    assert [r.partition_key for r in settled_tick(project, instance, pending.cursor).run_requests] == ["2025-01-01"]


def test_days_wait_while_any_export_is_being_indexed(project, instance):
    # A day's run reads every export's index and builds one it finds missing: requested while a
    # large full export is still being indexed, each would read the whole export again.
    writer = ExportWriter(project.exports)
    writer.write_full_export([item("c1", "2025-01-01T09:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    writer.write_incremental_export([Change(("c2", "2025-01-02T08:00:00Z"), 1735804800000000, item("c2", "2025-01-02T08:00:00Z"), None)],
                                    datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 3, tzinfo=UTC))
    first = tick(project, instance, None)
    slow, quick = first.run_requests
    [quick_run] = run_index_requests(project, instance, dg.SensorResult(run_requests=[quick]))
    assert quick_run.success
    waiting = tick(project, instance, first.cursor)  # one index written, one still running
    assert [r.job_name for r in waiting.run_requests] == ["export_index"]
    assert ExportCursor.parse(waiting.cursor).handled == []
    run_index_requests(project, instance, dg.SensorResult(run_requests=[slow]))
    assert sorted(r.partition_key for r in tick(project, instance, waiting.cursor).run_requests) == ["2025-01-01", "2025-01-02"]


def test_an_export_that_cannot_be_indexed_holds_its_days_until_it_is_fixed(project, instance):
    writer = ExportWriter(project.exports)
    export_id = writer.write_full_export([item("c1", "2025-01-01T09:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    store = ExportStore(project.exports)
    data_file = next(f for f in store.data_files(store.summary(export_id)) if f.item_count)
    good = project.exports.read_bytes(data_file.path)
    project.exports.write_bytes(good + b"garbage", data_file.path)

    broken = tick(project, instance, None)
    [failed_run] = run_index_requests(project, instance, broken)
    assert not failed_run.success  # the run's failure names the file (test_reliability)
    again = tick(project, instance, broken.cursor)
    assert not again.run_requests  # reported, not requested again (a no-op for the daemon)
    assert export_id in again.skip_message and failed_run.run_id in again.skip_message
    assert ExportCursor.parse(again.cursor).handled == []
    assert export_id in ExportCursor.parse(again.cursor).failed

    project.exports.write_bytes(good, data_file.path)  # fixed (e.g. re-uploaded), and re-indexed
    assert all(run.success for run in run_index_requests(project, instance, broken))
    fixed = tick(project, instance, again.cursor)
    assert [r.partition_key for r in fixed.run_requests] == ["2025-01-01"]
    assert ExportCursor.parse(fixed.cursor).handled == [export_id]


def test_an_export_that_cannot_be_indexed_holds_the_days_of_every_other_export_and_says_so(project, instance):
    # Every day's run reads every completed export: requested while one cannot be read, each would
    # fail on it, and a day built without it could lack its items' newest versions. So days wait,
    # but the export is reported (it was silently "to index" forever), and an index run still
    # under way is waited for without complaint.
    writer = ExportWriter(project.exports, files_per_export=1)
    start = datetime(2025, 1, 2, tzinfo=UTC)
    writer.write_full_export([item("c1", "2025-01-01T09:00:00Z")], start)
    first = settled_tick(project, instance, None)
    good = writer.write_incremental_export([Change(("c2", "2025-01-02T08:00:00Z"), 1735804800000000, item("c2", "2025-01-02T08:00:00Z"), None)],
                                           start, start + timedelta(days=1))
    bad = writer.write_incremental_export([Change(("c3", "2025-01-03T08:00:00Z"), 1735891200000000, item("c3", "2025-01-03T08:00:00Z"), None)],
                                          start + timedelta(days=1), start + timedelta(days=2))
    store = ExportStore(project.exports)
    [data_file] = store.data_files(store.summary(bad))
    body = project.exports.read_bytes(data_file.path)
    project.exports.write_bytes(b"garbage", data_file.path)

    indexing = tick(project, instance, first.cursor)
    runs = dict(zip([r.partition_key for r in indexing.run_requests], run_index_requests(project, instance, indexing)))
    assert runs[good].success and not runs[bad].success
    blocked = tick(project, instance, first.cursor)
    assert not blocked.run_requests
    assert bad in blocked.skip_message and runs[bad].run_id in blocked.skip_message and "1 newer export(s) wait" in blocked.skip_message
    cursor = ExportCursor.parse(blocked.cursor)
    assert list(cursor.failed) == [bad] and bad not in cursor.handled and good not in cursor.handled

    project.exports.write_bytes(body, data_file.path)
    assert all(run.success for run in run_index_requests(project, instance, dg.SensorResult(run_requests=[
        r for r in indexing.run_requests if r.partition_key == bad])))
    fixed = tick(project, instance, blocked.cursor)
    assert sorted(r.partition_key for r in fixed.run_requests) == ["2025-01-02", "2025-01-03"]
    assert ExportCursor.parse(fixed.cursor).failed == {}


def test_an_export_indexed_by_an_older_version_is_indexed_again_not_reported(project, instance):
    # Indexed before an upgrade and not handled yet: its index run succeeded, but the index it
    # wrote is of the older INDEX_VERSION, which reads as none.
    export_id = ExportWriter(project.exports).write_full_export([item("c1", "2025-01-01T09:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    first = tick(project, instance, None)
    assert all(run.success for run in run_index_requests(project, instance, first))
    path = layout.export_index_path(export_id)
    older = {**json.loads(project.lake.read_bytes(path)), "version": INDEX_VERSION - 1}
    project.lake.write_bytes(json.dumps(older).encode(), path)

    again = tick(project, instance, first.cursor)
    [run] = instance.get_runs()
    assert [(r.job_name, r.partition_key, r.run_key) for r in again.run_requests] == [
        ("export_index", export_id, f"index:v{INDEX_VERSION}:{export_id}:after:{run.run_id}")]
    assert ExportCursor.parse(again.cursor).failed == {}
    assert all(run.success for run in run_index_requests(project, instance, again))
    assert [r.partition_key for r in tick(project, instance, again.cursor).run_requests] == ["2025-01-01"]


def test_an_export_whose_index_is_removed_after_its_run_succeeded_is_indexed_again_under_a_new_run_key(project, instance):
    # The run key already used would make the request a no-op: the export, and every export
    # after it, would wait for an index nothing writes, with nothing reported.
    first_id = ExportWriter(project.exports).write_full_export([item("c1", "2025-01-01T09:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    first = tick(project, instance, None)
    assert all(run.success for run in run_index_requests(project, instance, first))
    project.lake.delete(layout.export_index_path(first_id))
    later_id = ExportWriter(project.exports).write_incremental_export(
        [Change(("c2", "2025-01-02T09:00:00Z"), 1735808400000000, item("c2", "2025-01-02T09:00:00Z"), None)],
        datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 3, tzinfo=UTC))

    again = tick(project, instance, first.cursor)
    keys = {r.partition_key: r.run_key for r in again.run_requests}
    [used] = [r.run_key for r in first.run_requests]
    assert set(keys) == {first_id, later_id} and keys[first_id] != used
    assert [r.run_key for r in tick(project, instance, first.cursor).run_requests] == list(keys.values())  # deterministic
    assert all(run.success for run in run_index_requests(project, instance, again))
    assert [r.partition_key for r in tick(project, instance, again.cursor).run_requests] == ["2025-01-01", "2025-01-02"]


def test_an_index_written_since_the_planner_looked_is_not_requested_again(project, instance):
    from recipe_pipeline.sensors import _index_run_key

    export_id = ExportWriter(project.exports).write_full_export([item("c1", "2025-01-01T09:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    assert _index_run_key(instance, project.lake, export_id) == f"index:v{INDEX_VERSION}:{export_id}"
    assert all(run.success for run in run_index_requests(project, instance, tick(project, instance, None)))
    assert _index_run_key(instance, project.lake, export_id) is None


def test_an_export_whose_manifest_cannot_be_read_is_retried_on_every_tick(project, instance):
    export_id = ExportWriter(project.exports).write_full_export([item("c1", "2025-01-01T09:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    manifest = f"AWSDynamoDB/{export_id}/manifest-files.json"
    good = project.exports.read_bytes(manifest)
    project.exports.write_bytes(good + b'{"itemCount": "many"\n', manifest)

    broken = tick(project, instance, None)
    assert not broken.run_requests
    cursor = ExportCursor.parse(broken.cursor)
    assert export_id not in cursor.handled
    assert export_id in cursor.failed and "manifest-files.json" in cursor.failed[export_id]
    assert "unreadable export" in broken.skip_message

    project.exports.write_bytes(good, manifest)
    fixed = settled_tick(project, instance, broken.cursor)
    assert [r.partition_key for r in fixed.run_requests] == ["2025-01-01"]
    assert ExportCursor.parse(fixed.cursor).failed == {}


def test_an_item_with_an_impossible_date_is_quarantined_and_its_export_still_requests_its_days(project, instance):
    writer = ExportWriter(project.exports)
    writer.write_full_export([item("c1", "2025-01-01T10:00:00Z"), item("c2", "2025-02-30T10:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    indexed(project)
    result = tick(project, instance, None)  # raised DagsterUnknownPartitionError on "2025-02-30"
    assert [r.partition_key for r in result.run_requests] == ["2025-01-01"]


def test_an_index_day_that_is_not_a_date_is_reported_and_never_requested(project, instance):
    # An index of an older version counted "2025-02-30T10:00:00Z" under its first ten characters;
    # a cursor may have deferred such a day.
    export_id = ExportWriter(project.exports).write_full_export([item("c1", "2025-01-01T10:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    index = load_or_build_export_index(ExportStore(project.exports), project.lake, ExportStore(project.exports).summary(export_id))
    index.days["2025-02-30"] = 1
    project.lake.write_bytes(index.to_json(), layout.export_index_path(export_id))
    result = tick(project, instance, ExportCursor(deferred={"2025-13-01": ["x"]}).to_json())
    assert [r.partition_key for r in result.run_requests] == ["2025-01-01"]
    plan = plan_export_runs(ExportStore(project.exports), project.lake, ExportCursor(deferred={"2025-13-01": ["x"]}), first_day="2025-01-01",
                            now=datetime(2025, 6, 1, tzinfo=UTC))
    assert [r.day for r in plan.requests] == ["2025-01-01"]
    assert plan.not_days == {"2025-02-30": 1, "2025-13-01": 0}
    assert plan.cursor.deferred == {} and plan.cursor.handled == [export_id]

    project.lake.write_bytes(json.dumps({**json.loads(index.to_json()), "days": {"2025-02-30": 1}}).encode(), layout.export_index_path(export_id))
    alone = tick(project, instance, None)
    assert not alone.run_requests and "2025-02-30" in alone.skip_message


@pytest.mark.parametrize("columnar", [True, False], ids=["columnar", "exact"])
def test_ttl_expiries_request_no_day_but_an_erasure_beside_them_does(project, columnar):
    # ARCHITECTURE: a TTL expiry needs no work. A daily incremental export is mostly TTL deletes
    # of 90-day-old items: each requested its day again, rebuilding days retention had dropped.
    writer = ExportWriter(project.exports)
    expires = int(datetime(2025, 4, 1, tzinfo=UTC).timestamp())
    old, other, erased = (dict(item(c, ts), ttl=expires) for c, ts in
                          (("c1", "2025-01-01T10:00:00Z"), ("c2", "2025-01-02T10:00:00Z"), ("c3", "2025-01-02T11:00:00Z")))
    writer.write_full_export([old, other, erased], datetime(2025, 1, 3, tzinfo=UTC))
    store = ExportStore(project.exports)
    now = datetime(2025, 4, 3, 1, tzinfo=UTC)
    [full] = store.completed()
    load_or_build_export_index(store, project.lake, full, columnar=columnar)
    first = plan_export_runs(store, project.lake, ExportCursor(), first_day="2025-01-01", now=now)
    deleted_at = datetime(2025, 4, 2, 3, tzinfo=UTC)  # after the ttl: DynamoDB's TTL
    erased_at = datetime(2025, 3, 30, tzinfo=UTC)  # before it: a user's erasure
    writer.write_incremental_export(
        [Change(("c1", old["timestamp"]), int(deleted_at.timestamp()) * 1_000_000, None, old),
         Change(("c2", other["timestamp"]), int(deleted_at.timestamp()) * 1_000_000, None, other),
         Change(("c3", erased["timestamp"]), int(erased_at.timestamp()) * 1_000_000, None, erased)],
        datetime(2025, 3, 29, tzinfo=UTC), datetime(2025, 4, 3, tzinfo=UTC))
    incremental = store.completed()[-1]
    index = load_or_build_export_index(store, project.lake, incremental, columnar=columnar)
    assert index.days == {"2025-01-01": 1, "2025-01-02": 2}  # a day's run still reads them all
    assert index.ttl_expiries == {"2025-01-01": 1, "2025-01-02": 1}
    plan = plan_export_runs(store, project.lake, first.cursor, first_day="2025-01-01", now=now)
    assert [r.day for r in plan.requests] == ["2025-01-02"]
    assert incremental.export_id in plan.cursor.handled


def test_days_that_are_not_yet_partitions_are_deferred_until_they_end(project):
    writer = ExportWriter(project.exports)
    writer.write_full_export(
        [item("c1", "2025-03-01T09:00:00Z"), item("c2", "2025-03-02T00:00:10Z"), item("c0", "2024-12-31T23:00:00Z")],
        datetime(2025, 3, 2, 0, 5, tzinfo=UTC),
    )
    store = indexed(project)
    plan = plan_export_runs(store, project.lake, ExportCursor(), first_day="2025-01-01", now=datetime(2025, 3, 2, 1, tzinfo=UTC))
    assert [r.day for r in plan.requests] == ["2025-03-01"]
    assert list(plan.cursor.deferred) == ["2025-03-02"]
    assert plan.ignored_days == {"2024-12-31": 1}
    later = plan_export_runs(store, project.lake, plan.cursor, first_day="2025-01-01", now=datetime(2025, 3, 3, 1, tzinfo=UTC))
    assert [r.day for r in later.requests] == ["2025-03-02"]
    assert later.cursor.deferred == {}


def test_deferred_days_survive_the_cursor_round_trip(project):
    # The sensor stores its cursor as JSON between ticks, so a deferral only holds if it parses back.
    writer = ExportWriter(project.exports)
    writer.write_full_export(
        [item("c1", "2025-03-01T09:00:00Z"), item("c2", "2025-03-02T00:00:10Z")], datetime(2025, 3, 2, 0, 5, tzinfo=UTC)
    )
    store = indexed(project)
    plan = plan_export_runs(store, project.lake, ExportCursor(), first_day="2025-01-01", now=datetime(2025, 3, 2, 1, tzinfo=UTC))
    assert [r.day for r in plan.requests] == ["2025-03-01"]
    stored = ExportCursor.parse(plan.cursor.to_json())
    later = plan_export_runs(store, project.lake, stored, first_day="2025-01-01", now=datetime(2025, 3, 3, 1, tzinfo=UTC))
    assert [r.day for r in later.requests] == ["2025-03-02"]


def test_cursor_round_trips_and_stays_small(simulated, project):
    plan = plan_export_runs(indexed(project), project.lake, ExportCursor(), first_day="2025-01-01", now=datetime(2026, 1, 1, tzinfo=UTC))
    text = plan.cursor.to_json()
    assert ExportCursor.parse(text) == plan.cursor
    assert len(json.loads(text)["handled"]) == len(planned_exports(SMALL_SIMULATION))
    assert len(text) < 2000

    early = plan_export_runs(indexed(project), project.lake, ExportCursor(), first_day="2025-01-01", now=datetime(2025, 1, 2, 1, tzinfo=UTC))
    assert sorted(early.cursor.deferred) == ["2025-01-02", "2025-01-03"]
    assert ExportCursor.parse(early.cursor.to_json()) == early.cursor


# -- the real daemon -------------------------------------------------------------------------------
SENSOR = {"repositoryLocationName": "recipe_pipeline", "repositoryName": "__repository__", "sensorName": "dynamodb_export_sensor"}
START_SENSOR = """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename ... on PythonError { message } } }"""
RUNS = """{ runsOrError { ... on Runs { results { jobName status tags { key value } } } } }"""
TICKS = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor {
  sensorState { ticks(limit: 10) { status error { message } } } } } }"""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, body, {"Content-Type": "application/json"}), timeout=30) as response:
        return json.loads(response.read())["data"]


def test_the_daemon_indexes_new_exports_then_runs_their_days(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "RECIPE_PIPELINE_LAKE": str(tmp_path / "lake"),
           "RECIPE_PIPELINE_EXPORTS": str(tmp_path / "exports"), "RECIPE_PIPELINE_START_DATE": "2025-01-01",
           "RECIPE_PIPELINE_PSEUDONYM_KEY": "test-key"}
    (tmp_path / "dagster_home").mkdir()
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster_home" / "dagster.yaml")
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "recipe-pipeline"), "simulate", "--days", "2", "--start", "2025-01-01", "--conversations-per-day", "10"],
                   env=env, check=True, capture_output=True)
    exports = sorted(p.name for p in (tmp_path / "exports" / "AWSDynamoDB").iterdir() if (p / "manifest-summary.json").exists())
    with open(tmp_path / "dagster-dev.log", "w") as log, dagster_dev(env, log=log) as url:
        assert graphql(url, START_SENSOR, {"s": SENSOR})["startSensor"]["__typename"] == "Sensor"

        # Two ticks a minute apart: the first indexes, the second launches the days.
        deadline = time.monotonic() + 600
        while True:
            runs = graphql(url, RUNS)["runsOrError"]["results"]
            done = {(r["jobName"], next(t["value"] for t in r["tags"] if t["key"] == "dagster/partition")) for r in runs if r["status"] == "SUCCESS"}
            failed = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
            assert not failed, failed
            if {day for job, day in done if job == "daily_pipeline"} == {"2025-01-01", "2025-01-02"}:
                break
            assert time.monotonic() < deadline, f"runs so far: {runs}"
            time.sleep(3)
        assert {partition for job, partition in done if job == "export_index"} == set(exports)
        ticks = graphql(url, TICKS, {"s": SENSOR})["sensorOrError"]["sensorState"]["ticks"]
        assert all(tick["error"] is None for tick in ticks), ticks
        assert (tmp_path / "lake" / "aggregated" / "daily" / "year=2025" / "month=01" / "day=02" / "daily-metrics-2025-01-02.json").exists()

