"""Retention on a local lake and on S3, through the Dagster job, and as S3 lifecycle rules."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime, timedelta

import boto3
import dagster as dg
import pyarrow as pa
from click.testing import CliRunner

from recipe_pipeline import lake as layout
from recipe_pipeline.catchup import catch_up
from recipe_pipeline.cli import main
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.export_index import ExportIndex
from recipe_pipeline.export_writer import Change, ExportWriter, micros
from recipe_pipeline.retention import apply_retention, lifecycle_configuration
from recipe_pipeline.storage import Location
from recipe_pipeline_tests.test_analytics import msg


def test_the_job_deletes_expired_days_and_wipes_their_materializations(project, simulated, instance):
    defs = build_definitions(project.settings)
    assert catch_up(defs, instance, log=lambda _: None).ok
    # 2025-01-01..03 exist; on 2025-04-02 the first day is 91 days old, the others are not.
    result = defs.resolve_job_def("lake_retention").execute_in_process(
        instance=instance, run_config={"ops": {"apply_lake_retention": {"config": {"today": "2025-04-02"}}}}
    )
    assert result.success
    assert layout.days_present(project.lake, layout.RAW_CONVERSATIONS) == ["2025-01-02", "2025-01-03"]
    assert layout.days_present(project.lake, layout.CONVERSATIONS) == ["2025-01-02", "2025-01-03"]
    assert layout.days_present(project.lake, layout.DAILY_METRICS) == ["2025-01-01", "2025-01-02", "2025-01-03"]  # 2 years
    assert layout.days_present(project.lake, layout.USER_ACTIVITY) == ["2025-01-01", "2025-01-02", "2025-01-03"]  # first days: 2 years
    for asset in ("raw_conversations", "anonymized_conversations"):
        observed = instance.fetch_observations(dg.AssetKey(asset), limit=10).records
        assert [(r.partition_key, r.asset_observation.metadata["deleted_by_retention"].value) for r in observed] == [("2025-01-01", "2025-04-02")]
    assert not instance.fetch_observations(dg.AssetKey("daily_metrics"), limit=10).records

    report = apply_retention(project.lake, date(2027, 1, 5))
    assert report.expired[layout.DAILY_METRICS] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert not project.lake.exists(layout.daily_metrics_path("2025-01-01"))
    assert report.expired[layout.USER_ACTIVITY] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert report.partitions_by_asset["user_activity"] == ["2025-01-01", "2025-01-02", "2025-01-03"]


def test_retention_on_s3(s3_bucket):
    lake = Location(f"s3://{s3_bucket}/lake")
    for day in ("2025-01-01", "2025-06-01"):
        lake.write_bytes(b"x", layout.raw_conversations_path(day))
        lake.write_bytes(b"{}", layout.daily_metrics_path(day))
    report = apply_retention(lake, date(2025, 6, 2))
    assert report.expired[layout.RAW_CONVERSATIONS] == ["2025-01-01"]
    keys = sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert "lake/" + layout.raw_conversations_path("2025-01-01") not in keys
    assert "lake/" + layout.raw_conversations_path("2025-06-01") in keys
    assert "lake/" + layout.daily_metrics_path("2025-01-01") in keys


def test_quarantined_days_past_retention_are_deleted(tmp_path):
    # Quarantined items are raw images (text, user ids): they expire with the raw conversations.
    lake = Location(str(tmp_path / "lake"))
    for day in ("2025-01-01", "2025-06-01"):
        lake.write_bytes(b"{}\n", layout.day_quarantine_path(day))
    report = apply_retention(lake, date(2025, 6, 2))
    assert report.expired[layout.DAY_QUARANTINE] == ["2025-01-01"]
    assert not lake.exists(layout.day_quarantine_path("2025-01-01"))
    assert lake.exists(layout.day_quarantine_path("2025-06-01"))


def test_quarantined_export_lines_expire_with_their_export(tmp_path):
    # Lines no day could take are raw text too: they go once their export is past retention.
    lake = Location(str(tmp_path / "lake"))
    exports = {"01-old": "2025-03-03T23:59:59+00:00", "02-kept": "2025-03-04T00:00:00+00:00", "03-not-indexed": None}
    for export_id, covered_until in exports.items():
        lake.write_bytes(b"{}\n", layout.export_quarantine_path(export_id, "data/a.json.gz"))
        if covered_until:
            lake.write_bytes(json.dumps({"covered_until": covered_until}).encode(), layout.export_index_path(export_id))
    assert apply_retention(lake, date(2025, 6, 2), dry_run=True).expired_export_quarantine == ["01-old"]
    assert lake.exists(layout.export_quarantine_path("01-old", "data/a.json.gz"))
    assert apply_retention(lake, date(2025, 6, 2)).expired_export_quarantine == ["01-old"]
    assert lake.list_dirs(layout.EXPORT_QUARANTINE) == ["02-kept", "03-not-indexed"]


def test_a_full_exports_copy_cut_by_day_expires_with_the_export(tmp_path):
    # Raw messages too: the copy goes with the export it was cut from.
    lake = Location(str(tmp_path / "lake"))
    exports = {"01-old": "2025-03-03T23:59:59+00:00", "02-kept": "2025-03-04T00:00:00+00:00", "03-not-indexed": None}
    for export_id, covered_until in exports.items():
        lake.write_bytes(b"PAR1", layout.export_day_file(export_id, "2025-03-01", "rows", 0))
        if covered_until:
            index = ExportIndex(export_id, "FULL_EXPORT", covered_until, {"2025-03-01": 1}, items=1, day_files=True)
            lake.write_bytes(index.to_json(), layout.export_index_path(export_id))
    # Builds that stopped between the cut and the index, days ago: no index will replace theirs.
    lake.write_bytes(b"PAR1", layout.export_day_file("04-not-indexed-recent", "2025-03-03", "rows", 0))
    lake.write_bytes(b"PAR1", layout.export_day_file("04-not-indexed-recent", "2025-03-04", "rows", 0))
    written_long_ago = (datetime.now(UTC) - timedelta(days=3)).timestamp()
    for export_id in ("03-not-indexed", "04-not-indexed-recent"):
        for path in lake.list_files(layout.EXPORT_DAYS, export_id, recursive=True):
            os.utime(lake.path(path), (written_long_ago, written_long_ago))
    # A build writing its cut right now, oldest day first: no index yet, and only old days so far;
    # one of them was written long ago, but the cut's newest file is what counts.
    lake.write_bytes(b"PAR1", layout.export_day_file("05-being-written", "2025-03-01", "rows", 0))
    lake.write_bytes(b"PAR1", layout.export_day_file("05-being-written", "2025-03-02", "rows", 0))
    os.utime(lake.path(layout.export_day_file("05-being-written", "2025-03-01", "rows", 0)), (written_long_ago, written_long_ago))
    # A build whose first upload failed on a local lake leaves only directories: they count as
    # written when they last changed.
    for export_id, changed in (("06-empty-long-ago", written_long_ago), ("07-empty-recent", None)):
        os.makedirs(lake.path(layout.export_day_dir(export_id, "2025-03-01")))
        if changed:
            for path in (layout.export_day_dir(export_id, "2025-03-01"), f"{layout.EXPORT_DAYS}/{export_id}"):
                os.utime(lake.path(path), (changed, changed))
    expired = ["01-old", "03-not-indexed", "06-empty-long-ago"]
    assert apply_retention(lake, date(2025, 6, 2), dry_run=True).expired_export_days == expired
    assert lake.exists(layout.export_day_file("01-old", "2025-03-01", "rows", 0))
    assert apply_retention(lake, date(2025, 6, 2)).expired_export_days == expired
    assert lake.list_dirs(layout.EXPORT_DAYS) == ["02-kept", "04-not-indexed-recent", "05-being-written", "07-empty-recent"]
    # A late run of one of its days reads the export (if still there) rather than cutting it again.
    assert json.loads(lake.read_bytes(layout.export_index_path("01-old")))["day_files"] is False
    assert not lake.exists(layout.export_index_path("03-not-indexed"))


def test_temporary_files_of_killed_writers_go_a_day_after_they_were_last_written(tmp_path):
    lake = Location(str(tmp_path / "lake"))
    day = "2025-06-01"
    lake.write_bytes(b"PAR1", layout.raw_conversations_path(day))
    # A day run killed while streaming its file, and a forget-user killed while writing the new
    # day beside the old one: each leaves its temporary file beside the target.
    killed_run = lake.open_parquet_writer(pa.schema([("message", pa.string())]), layout.conversations_path(day)).__enter__()
    killed_sink = lake._tmp_path(lake.path(layout.raw_conversations_path(day)))
    with open(killed_sink, "wb") as file:
        file.write(b"PAR1")
    written_long_ago = (datetime.now(UTC) - timedelta(days=1, minutes=1)).timestamp()
    stale = sorted(path for path in lake.list_files(recursive=True) if path.rsplit("/", 1)[1].startswith("."))
    assert len(stale) == 2
    for path in stale:
        os.utime(lake.path(path), (written_long_ago, written_long_ago))
    # A writer at work now, and dot-files that are not ours, stay.
    at_work = lake._tmp_path(lake.path(layout.day_quarantine_path(day)))
    os.makedirs(os.path.dirname(at_work))
    with open(at_work, "wb") as file:
        file.write(b"{}")
    for path in (lake.path(layout.RAW_CONVERSATIONS, layout.hive_dir(day), ".keep"), lake.path(layout.RAW_CONVERSATIONS, ".data.parquet.tmp")):
        with open(path, "wb"):
            pass
        os.utime(path, (written_long_ago, written_long_ago))

    assert apply_retention(lake, date(2025, 6, 2), dry_run=True).stale_temp_files == stale
    assert all(os.path.exists(lake.path(path)) for path in stale)
    assert apply_retention(lake, date(2025, 6, 2)).stale_temp_files == stale
    left = sorted(lake.list_files(recursive=True))
    assert not set(stale) & set(left)
    assert os.path.relpath(at_work, lake.root) in left
    assert f"{layout.RAW_CONVERSATIONS}/{layout.hive_dir(day)}/.keep" in left and f"{layout.RAW_CONVERSATIONS}/.data.parquet.tmp" in left
    assert lake.read_bytes(layout.raw_conversations_path(day)) == b"PAR1"
    assert apply_retention(lake, date(2025, 6, 2)).stale_temp_files == []
    killed_run.__exit__(RuntimeError, RuntimeError("killed"), None)  # its thread, in this process


def test_an_s3_lake_has_no_temporary_files(s3_bucket):
    lake = Location(f"s3://{s3_bucket}/lake")
    lake.write_bytes(b"x", layout.raw_conversations_path("2025-06-01"))
    assert lake.stale_temp_files(datetime.now(UTC) + timedelta(days=1)) == []


def test_lifecycle_rules_are_accepted_by_s3(s3_bucket):
    configuration = lifecycle_configuration(f"s3://{s3_bucket}/lake", f"s3://{s3_bucket}/ddb-exports")
    s3 = boto3.client("s3")
    s3.put_bucket_lifecycle_configuration(Bucket=s3_bucket, LifecycleConfiguration=configuration)
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=s3_bucket)["Rules"]}
    assert rules["expire-conversations"]["Filter"]["Prefix"] == "lake/conversations/"
    assert rules["expire-conversations"]["Expiration"]["Days"] == 90
    assert rules["expire-aggregated-daily"]["Expiration"]["Days"] == 730
    assert rules["expire-aggregated-user_activity"]["Filter"]["Prefix"] == "lake/aggregated/user_activity/"
    assert rules["expire-aggregated-user_activity"]["Expiration"]["Days"] == 730
    assert rules["expire-quarantine-conversations"]["Filter"]["Prefix"] == "lake/quarantine/conversations/"
    assert rules["expire-quarantine-conversations"]["Expiration"]["Days"] == 90
    assert rules["expire-quarantine-exports"]["Filter"]["Prefix"] == "lake/quarantine/exports/"
    assert rules["expire-quarantine-exports"]["Expiration"]["Days"] == 90
    assert rules["expire-raw-export-days"]["Filter"]["Prefix"] == "lake/raw/export_days/"
    assert rules["expire-raw-export-days"]["Expiration"]["Days"] == 90
    assert rules["expire-dynamodb-exports"]["Filter"]["Prefix"] == "ddb-exports/"
    assert rules["expire-dynamodb-exports"]["Expiration"]["Days"] == 90


def test_cli_dry_run_lists_without_deleting(project, simulated, instance):
    assert catch_up(build_definitions(project.settings), instance, log=lambda _: None).ok
    out = CliRunner().invoke(main, ["retention", "--today", "2025-04-03", "--dry-run"], catch_exceptions=False).output
    assert "raw/conversations" in out and "2 day(s) past retention: 2025-01-01 .. 2025-01-02" in out
    assert layout.days_present(project.lake, layout.RAW_CONVERSATIONS) == ["2025-01-01", "2025-01-02", "2025-01-03"]
    out = CliRunner().invoke(main, ["retention", "--today", "2025-04-03"], catch_exceptions=False).output
    assert "deleted; run" in out
    assert layout.days_present(project.lake, layout.RAW_CONVERSATIONS) == ["2025-01-03"]


def expired_day_with_a_late_change(project, instance, *, exports_expire: bool):
    """A day of 5 messages built from a full export, expired by retention (and its export by S3's
    lifecycle rules, if ``exports_expire``), then edited by a later incremental export; returns
    the definitions and the day's aggregates as built."""
    items = [msg(f"c{i}", f"user-{i}", f"2025-01-10T12:0{i}:00Z", "user", "hello") for i in range(5)]
    writer = ExportWriter(project.exports)
    writer.write_full_export(items, datetime(2025, 1, 11, tzinfo=UTC))
    defs = build_definitions(project.settings)
    assert catch_up(defs, instance, log=lambda _: None).ok
    built = {path: project.lake.read_bytes(path) for path in (layout.daily_metrics_path("2025-01-10"), layout.user_activity_path("2025-01-10"))}
    apply_retention(project.lake, date(2025, 5, 2))
    if exports_expire:
        for export_id in project.exports.list_dirs("AWSDynamoDB"):
            if export_id != "data":
                project.exports.delete_dir("AWSDynamoDB", export_id)
    at = datetime(2025, 5, 2, 9, tzinfo=UTC)
    edited = {**items[0], "message": "hello (edited)"}
    writer.write_incremental_export([Change((items[0]["conversation_id"], items[0]["timestamp"]), micros(at), edited, items[0])],
                                    datetime(2025, 5, 2, tzinfo=UTC), datetime(2025, 5, 3, tzinfo=UTC))
    return defs, built


def test_a_late_change_to_a_day_whose_exports_have_expired_leaves_its_aggregates_as_built(project, instance):
    # A build from what is left held only the late change, and replaced the day's 2-year daily
    # metrics (5 messages) and user activity (5 users) with it (1 and 1).
    defs, built = expired_day_with_a_late_change(project, instance, exports_expire=True)
    report = catch_up(defs, instance, log=lambda _: None)
    assert report.ok and [(r.partition_key, r.status) for r in report.day_runs] == [("2025-01-10", "succeeded")]
    [run] = report.day_runs
    assert not instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    warnings = [r.event_log_entry.user_message for r in instance.get_records_for_run(run.run_id).records
                if r.event_log_entry.level == logging.WARNING]
    assert any("2025-01-10 is not built again: its conversations have expired, and export(s) " in w for w in warnings), warnings
    assert {path: project.lake.read_bytes(path) for path in built} == built
    assert not project.lake.exists(layout.raw_conversations_path("2025-01-10"))  # not brought back either


def test_a_full_export_taken_since_does_not_stand_for_the_export_gone(project, instance):
    # By the time an export has expired, DynamoDB's TTL has deleted the day's items, all but
    # those the app kept: a newer full export holds only those, and would stand for part of the day.
    defs, built = expired_day_with_a_late_change(project, instance, exports_expire=True)
    kept = [msg("c0", "user-0", "2025-01-10T12:00:00Z", "user", "hello")]
    ExportWriter(project.exports).write_full_export(kept, datetime(2025, 5, 3, tzinfo=UTC))
    report = catch_up(defs, instance, log=lambda _: None)
    assert report.ok and [r.status for r in report.day_runs if r.partition_key == "2025-01-10"] == ["succeeded"]
    assert {path: project.lake.read_bytes(path) for path in built} == built


def test_a_late_change_to_an_expired_day_whose_exports_are_all_there_rebuilds_it_whole(project, instance):
    # A local lake's exports do not expire: the day is built again from all of them.
    defs, built = expired_day_with_a_late_change(project, instance, exports_expire=False)
    report = catch_up(defs, instance, log=lambda _: None)
    assert report.ok and [r.partition_key for r in report.day_runs] == ["2025-01-10"]
    metrics = json.loads(project.lake.read_bytes(layout.daily_metrics_path("2025-01-10")))
    assert (metrics["total_messages"], metrics["unique_users"]) == (5, 5)
