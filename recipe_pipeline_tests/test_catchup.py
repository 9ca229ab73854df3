"""``catch-up``: the real sensor evaluated once, its runs executed in-process on the instance."""

from __future__ import annotations

import dagster as dg

from recipe_pipeline import lake as layout
from recipe_pipeline.catchup import RUN_KEY_TAG, catch_up, read_cursor, write_cursor
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.export_runs import ExportCursor


def test_catch_up_runs_every_requested_partition_then_does_nothing(project, simulated, instance):
    defs = build_definitions(project.settings)
    report = catch_up(defs, instance, log=lambda _: None)
    assert report.ok
    # First each new export's index, then the days the indexes list.
    indexing = [r for r in report.runs if r.job_name == "export_index"]
    assert report.runs[: len(indexing)] == indexing
    assert sorted(r.partition_key for r in indexing) == sorted(simulated.export_ids)
    assert all(r.status == "succeeded" for r in indexing)
    assert [(r.partition_key, r.status) for r in report.day_runs] == [
        ("2025-01-01", "succeeded"), ("2025-01-02", "succeeded"), ("2025-01-03", "succeeded"),
    ]
    for run in report.day_runs:
        stored = instance.get_run_by_id(run.run_id)
        assert stored.status == dg.DagsterRunStatus.SUCCESS
        assert stored.tags[RUN_KEY_TAG] == run.run_key
        assert stored.tags["dagster/partition"] == run.partition_key
        assert project.lake.exists(layout.daily_metrics_path(run.partition_key))
    assert sorted(ExportCursor.parse(read_cursor(instance)).handled) == sorted(simulated.export_ids)

    again = catch_up(defs, instance, log=lambda _: None)
    assert again.runs == [] and again.ok
    assert len(instance.get_runs()) == len(report.runs)


def test_a_run_key_already_launched_is_not_run_twice(project, simulated, instance):
    defs = build_definitions(project.settings)
    first = catch_up(defs, instance, log=lambda _: None)
    # Forget the cursor (as if the daemon had launched the runs but the cursor was lost).
    instance_cursor = read_cursor(instance)
    assert instance_cursor
    write_cursor(instance, None)
    second = catch_up(defs, instance, log=lambda _: None)
    # The indexes are written, so only the days are requested again, and none is run twice.
    assert [r.status for r in second.runs] == ["skipped (already launched)"] * len(first.day_runs)
    assert [r.run_id for r in second.runs] == [r.run_id for r in first.day_runs]
    assert len(instance.get_runs()) == len(first.runs)


def test_the_daemon_starting_from_its_own_cursor_reruns_no_day_catch_up_built_a_tick_at_a_time(project, instance):
    # catch-up keeps a cursor of its own: the daemon's first tick sees every export at once, and
    # must name the days catch-up built export by export with the keys catch-up used.
    from datetime import UTC, datetime, timedelta

    from recipe_pipeline.export_writer import Change, ExportWriter
    from recipe_pipeline_tests.test_sensors import item

    defs, writer, start = build_definitions(project.settings), ExportWriter(project.exports), datetime(2025, 1, 2, tzinfo=UTC)
    writer.write_full_export([item("c1", "2025-01-01T09:00:00.000001Z")], start)
    first = catch_up(defs, instance, log=lambda _: None)
    changes = [
        Change(("c2", "2025-01-02T08:00:00.000001Z"), 1735804800000000, item("c2", "2025-01-02T08:00:00.000001Z"), None),
        Change(("c1", "2025-01-01T09:00:00.000001Z"), 1735808400000000, item("c1", "2025-01-01T09:00:00.000001Z"), None),
    ]
    writer.write_incremental_export(changes, start, start + timedelta(days=1))
    second = catch_up(defs, instance, log=lambda _: None)
    built = [(r.partition_key, r.status) for r in first.day_runs + second.day_runs]
    assert built == [("2025-01-01", "succeeded"), ("2025-01-01", "succeeded"), ("2025-01-02", "succeeded")]

    write_cursor(instance, None)  # the daemon's cursor, which has seen nothing yet
    daemon = catch_up(defs, instance, log=lambda _: None)
    assert [(r.partition_key, r.status) for r in daemon.runs] == [
        ("2025-01-01", "skipped (already launched)"), ("2025-01-02", "skipped (already launched)")]


def test_an_export_finishing_after_a_newer_one_is_built_into_its_day_by_the_daemon_after_catch_up(project, instance):
    # DynamoDB names an export by when it started: E2 can finish after E3. A key naming only the
    # newest export of the request (E3) was one catch-up had used, and E2's update never reached
    # the day. (The reviewer's reproducer.)
    from datetime import UTC, datetime, timedelta

    from recipe_pipeline.export_writer import Change, ExportWriter
    from recipe_pipeline_tests.test_sensors import item

    day, ts1, ts3 = "2025-01-01", "2025-01-01T09:00:00.000001Z", "2025-01-01T11:00:00.000001Z"
    defs, writer, start = build_definitions(project.settings), ExportWriter(project.exports), datetime(2025, 1, 2, tzinfo=UTC)
    writer.write_full_export([item("c1", ts1, "v1")], start)
    e2 = writer.write_incremental_export([Change(("c1", ts1), 1735808400000000, item("c1", ts1, "v2 from E2"), item("c1", ts1, "v1"))],
                                         start, start + timedelta(days=1))
    e3 = writer.write_incremental_export([Change(("c3", ts3), 1735894800000000, item("c3", ts3, "from E3"), None)],
                                         start + timedelta(days=1), start + timedelta(days=2))
    assert e2 < e3
    summary = f"AWSDynamoDB/{e2}/manifest-summary.json"
    body = project.exports.read_bytes(summary)
    project.exports.delete(summary)  # E2 still running
    assert catch_up(defs, instance, log=lambda _: None).ok

    project.exports.write_bytes(body, summary)  # E2 completes
    write_cursor(instance, None)  # the daemon's own cursor, which has seen nothing yet
    daemon = catch_up(defs, instance, log=lambda _: None)
    assert [(r.partition_key, r.status) for r in daemon.day_runs] == [(day, "succeeded")]
    raw = project.lake.read_parquet(layout.raw_conversations_path(day))
    assert dict(zip(raw.column("conversation_id").to_pylist(), raw.column("message").to_pylist()))["c1"] == "v2 from E2"
