"""Maintenance layer: the ``lake_retention`` job and its daily schedule."""

from datetime import UTC, date, datetime

import dagster as dg

from recipe_pipeline.resources import LakeResource
from recipe_pipeline.retention import apply_retention


class RetentionConfig(dg.Config):
    today: str = ""  # YYYY-MM-DD to apply retention as of; default: the scheduled time, or now


@dg.op(retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL))
def apply_lake_retention(context: dg.OpExecutionContext, config: RetentionConfig, lake: LakeResource) -> None:
    """Delete day partitions past retention (conversations 90 days, aggregates 2 years) and
    wipe their materializations, so the UI shows only data that still exists; and the temporary
    files writers killed mid-write left, a day after they were last written."""
    scheduled = context.run.tags.get("dagster/scheduled_execution_time")
    if config.today:
        today = date.fromisoformat(config.today)
    else:
        today = (datetime.fromisoformat(scheduled) if scheduled else datetime.now(UTC)).astimezone(UTC).date()
    report = apply_retention(lake.location(), today)
    for asset, days in report.partitions_by_asset.items():
        # An observation per deleted partition: the asset's page says when and why it went.
        for day in days:
            context.log_event(
                dg.AssetObservation(dg.AssetKey(asset), partition=day, metadata={"deleted_by_retention": today.isoformat()})
            )
        try:
            context.instance.wipe_asset_partitions(dg.AssetKey(asset), days)
        except NotImplementedError:
            # Dagster's SQLite/Postgres event logs cannot wipe single partitions yet; the
            # observation above is the record, and the partitions show as materialized until
            # re-run (which would rebuild them from exports that lifecycle rules have expired).
            context.log.warning(f"this Dagster storage cannot clear partition status; {asset} keeps {len(days)} stale partition(s)")
    deleted = {zone: len(days) for zone, days in report.expired.items()}
    context.log.info(f"retention as of {today}: deleted day partitions {deleted}, "
                     f"the quarantined lines of {len(report.expired_export_quarantine)} export(s), "
                     f"the copies cut by day of {len(report.expired_export_days)} full export(s), "
                     f"and {len(report.stale_temp_files)} temporary file(s) left by writers killed mid-write")


@dg.job(description="Delete lake partitions past retention: conversations after 90 days, aggregates after 2 years.")
def lake_retention():
    apply_lake_retention()


lake_retention_schedule = dg.ScheduleDefinition(
    name="lake_retention_schedule",
    job=lake_retention,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    description="Every day at 03:30 UTC, after the daily pipeline.",
)
