"""Daily partitions in UTC, keys ``YYYY-MM-DD``, from ``RECIPE_PIPELINE_START_DATE``; weekly
partitions for the reports; and one partition per DynamoDB export for its index."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from recipe_pipeline.settings import load_settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=load_settings().start_date, timezone="UTC")

# One partition per completed DynamoDB export (its ExportId), added by ``dynamodb_export_sensor``.
export_partitions = dg.DynamicPartitionsDefinition(name="dynamodb_export_ids")


def last_complete_day(now: datetime) -> str:
    """The newest partition key at ``now``: a UTC day becomes a partition once it has ended."""
    return (now.astimezone(UTC).date() - timedelta(days=1)).isoformat()


def first_day() -> str:
    return date.fromisoformat(load_settings().start_date).isoformat()


def _first_monday(day: str) -> str:
    start = date.fromisoformat(day)
    return (start + timedelta(days=(7 - start.weekday()) % 7)).isoformat()


# Reports cover ISO weeks (Monday to Sunday, UTC); the first is the first full week of data.
weekly_partitions = dg.WeeklyPartitionsDefinition(start_date=_first_monday(load_settings().start_date), day_offset=1, timezone="UTC")

