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
