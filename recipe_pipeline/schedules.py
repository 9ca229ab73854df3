"""``daily_analytics_schedule``: materializes yesterday's partition every day."""


import dagster as dg

from recipe_pipeline.jobs import dashboard_job, daily_pipeline_job, weekly_reports_job

# 02:00 UTC leaves time for the previous day's incremental export to complete.
daily_analytics_schedule = dg.build_schedule_from_partitioned_job(
    daily_pipeline_job,
    name="daily_analytics_schedule",
    hour_of_day=2,
    minute_of_hour=0,
    description="Every day at 02:00 UTC, build yesterday's partition of the daily pipeline.",
)

weekly_reports_schedule = dg.build_schedule_from_partitioned_job(
    weekly_reports_job,
    name="weekly_reports_schedule",
    hour_of_day=4,
    minute_of_hour=0,
    description="Every Monday at 04:00 UTC, the reports of the week that just ended.",
)

dashboard_schedule = dg.ScheduleDefinition(
    name="dashboard_schedule",
    job=dashboard_job,
    cron_schedule="30 4 * * *",
    execution_timezone="UTC",
    description="Every day at 04:30 UTC, after the daily pipeline: redraw the dashboard.",
)
