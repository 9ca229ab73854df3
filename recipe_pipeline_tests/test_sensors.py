"""``dynamodb_export_sensor`` evaluated for real (``build_sensor_context`` + ``evaluate_tick``)
over exports written in AWS's layout, and the planning logic behind it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.export_runs import ExportCursor, plan_export_runs
from recipe_pipeline.export_writer import Change, ExportWriter
from recipe_pipeline.exports import ExportStore
from recipe_pipeline.sensors import SENSOR_NAME
from recipe_pipeline.simulate import planned_exports
from recipe_pipeline_tests.conftest import SMALL_SIMULATION


def tick(project, instance, cursor: str | None) -> dg.SensorResult:
    defs = build_definitions(project.settings)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources, sensor_name=SENSOR_NAME
    ) as context:
        return sensor.evaluate_tick(context)


def item(conversation_id: str, timestamp: str, message: str = "hello") -> dict:
    return {"conversation_id": conversation_id, "timestamp": timestamp, "user_id": "u1", "role": "user", "message": message}


def test_new_exports_request_every_day_they_touch_with_stable_run_keys(project, simulated, instance):
    first = tick(project, instance, None)
    assert sorted(r.partition_key for r in first.run_requests) == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert all(r.job_name in (None, "daily_pipeline") for r in first.run_requests)
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
    first = tick(project, instance, None)
    cursor = first.cursor
    # Next day's export: a new message on Jan 2 and a deletion (erasure) of a Jan 1 message.
    changes = [
        Change(("c2", "2025-01-02T08:00:00.000001Z"), 1735804800000000, item("c2", "2025-01-02T08:00:00.000001Z"), None),
        Change(("c1", "2025-01-01T09:00:00.000001Z"), 1735808400000000, None, item("c1", "2025-01-01T09:00:00.000001Z")),
    ]
    writer.write_incremental_export(changes, start, start + timedelta(days=1))
    result = tick(project, instance, cursor)
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
    assert [r.partition_key for r in tick(project, instance, None).run_requests] == ["2025-01-02"]


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
    assert [r.partition_key for r in tick(project, instance, pending.cursor).run_requests] == ["2025-01-01"]


def test_an_unreadable_export_is_not_handled_and_is_retried(project, instance):
    writer = ExportWriter(project.exports)
    export_id = writer.write_full_export([item("c1", "2025-01-01T09:00:00Z")], datetime(2025, 1, 2, tzinfo=UTC))
    store = ExportStore(project.exports)
    data_file = next(f for f in store.data_files(store.summary(export_id)) if f.item_count)
    good = project.exports.read_bytes(data_file.path)
    project.exports.write_bytes(good + b"garbage", data_file.path)

    broken = tick(project, instance, None)
    assert not broken.run_requests
    cursor = ExportCursor.parse(broken.cursor)
    assert export_id not in cursor.handled
    assert export_id in cursor.failed and data_file.key in cursor.failed[export_id]
    assert "unreadable export" in broken.skip_message

    project.exports.write_bytes(good, data_file.path)  # fixed (e.g. re-uploaded)
    fixed = tick(project, instance, broken.cursor)
    assert [r.partition_key for r in fixed.run_requests] == ["2025-01-01"]
    assert ExportCursor.parse(fixed.cursor).failed == {}


def test_days_that_are_not_yet_partitions_are_deferred_until_they_end(project):
    writer = ExportWriter(project.exports)
    writer.write_full_export(
        [item("c1", "2025-03-01T09:00:00Z"), item("c2", "2025-03-02T00:00:10Z"), item("c0", "2024-12-31T23:00:00Z")],
        datetime(2025, 3, 2, 0, 5, tzinfo=UTC),
    )
    store = ExportStore(project.exports)
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
    store = ExportStore(project.exports)
    plan = plan_export_runs(store, project.lake, ExportCursor(), first_day="2025-01-01", now=datetime(2025, 3, 2, 1, tzinfo=UTC))
    assert [r.day for r in plan.requests] == ["2025-03-01"]
    stored = ExportCursor.parse(plan.cursor.to_json())
    later = plan_export_runs(store, project.lake, stored, first_day="2025-01-01", now=datetime(2025, 3, 3, 1, tzinfo=UTC))
    assert [r.day for r in later.requests] == ["2025-03-02"]


def test_cursor_round_trips_and_stays_small(simulated, project):
    plan = plan_export_runs(
        ExportStore(project.exports), project.lake, ExportCursor(), first_day="2025-01-01", now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    text = plan.cursor.to_json()
    assert ExportCursor.parse(text) == plan.cursor
    assert len(json.loads(text)["handled"]) == len(planned_exports(SMALL_SIMULATION))
    assert len(text) < 2000

    early = plan_export_runs(
        ExportStore(project.exports), project.lake, ExportCursor(), first_day="2025-01-01", now=datetime(2025, 1, 2, 1, tzinfo=UTC)
    )
    assert sorted(early.cursor.deferred) == ["2025-01-02", "2025-01-03"]
    assert ExportCursor.parse(early.cursor.to_json()) == early.cursor
