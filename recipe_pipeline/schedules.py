"""``daily_analytics_schedule``: materializes yesterday's partition every day."""


import dagster as dg

from recipe_pipeline.jobs import daily_pipeline_job

# 02:00 UTC leaves time for the previous day's incremental export to complete.
daily_analytics_schedule = dg.build_schedule_from_partitioned_job(
    daily_pipeline_job,
    name="daily_analytics_schedule",
    hour_of_day=2,
    minute_of_hour=0,
    description="Every day at 02:00 UTC, build yesterday's partition of the daily pipeline.",
)
