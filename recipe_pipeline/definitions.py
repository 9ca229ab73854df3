"""The one ``Definitions`` object that ``dagster dev`` loads (``recipe_pipeline.definitions:defs``)."""

import dagster as dg

from recipe_pipeline.assets.ingestion import dynamodb_export_index, dynamodb_exports, raw_conversations
from recipe_pipeline.assets.metrics import daily_metrics, user_activity
from recipe_pipeline.assets.privacy import anonymized_conversations
from recipe_pipeline.assets.warehouse import athena_tables
from recipe_pipeline.checks import asset_checks
from recipe_pipeline.export_requests import AwsResource, dynamodb_export_request, dynamodb_export_request_schedule
from recipe_pipeline.assets.reporting import reporting_assets, stakeholder_dashboard
from recipe_pipeline.jobs import dashboard_job, daily_pipeline_job, export_index_job, metrics_refresh_job, weekly_reports_job
from recipe_pipeline.maintenance import lake_retention, lake_retention_schedule
from recipe_pipeline.resources import build_resources
from recipe_pipeline.schedules import daily_analytics_schedule, dashboard_schedule, weekly_reports_schedule
from recipe_pipeline.sensors import dynamodb_export_sensor
from recipe_pipeline.settings import Settings, load_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything the project defines, bound to the resources ``settings`` describe (local and
    production differ only here)."""
    jobs = [daily_pipeline_job, export_index_job, metrics_refresh_job, weekly_reports_job, dashboard_job, lake_retention]
    schedules = [daily_analytics_schedule, weekly_reports_schedule, dashboard_schedule, lake_retention_schedule]
    resources = build_resources(settings)
    if settings.is_production:
        # On AWS the project also asks DynamoDB for its exports; locally the simulator writes them.
        jobs.append(dynamodb_export_request)
        schedules.append(dynamodb_export_request_schedule)
        resources["aws"] = AwsResource()
    return dg.Definitions(
        assets=[dynamodb_exports, dynamodb_export_index, raw_conversations, anonymized_conversations, daily_metrics, user_activity, athena_tables, *reporting_assets, stakeholder_dashboard],
        asset_checks=asset_checks,
        jobs=jobs,
        schedules=schedules,
        sensors=[dynamodb_export_sensor],
        resources=resources,
        # A day's assets and checks form one chain: run its steps in the run's own process. A
        # process per step (the multiprocess default) cost ~60 s of interpreter and import start-up
        # per partition run in a backfill (bench/backfill.py), for no parallelism to gain.
        executor=dg.in_process_executor,
    )


defs = build_definitions(load_settings())
