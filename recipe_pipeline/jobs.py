"""The daily pipeline job (every layer of one UTC day, with the day's asset checks), the export
index job the sensor runs for each new export, and the refresh and reporting jobs. Each takes
its partitions from the assets it selects."""


import dagster as dg

from recipe_pipeline.assets.ingestion import dynamodb_export_index, raw_conversations
from recipe_pipeline.assets.metrics import daily_metrics, user_activity
from recipe_pipeline.assets.privacy import anonymized_conversations
from recipe_pipeline.assets.warehouse import athena_tables

daily_pipeline_job = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.assets(raw_conversations, anonymized_conversations, daily_metrics, user_activity, athena_tables),
    description="raw_conversations -> anonymized_conversations -> daily_metrics, user_activity -> athena_tables for one UTC day.",
)

export_index_job = dg.define_asset_job(
    "export_index",
    selection=dg.AssetSelection.assets(dynamodb_export_index),
    description="Index one completed DynamoDB export: the days it touches, its unreadable lines quarantined.",
)

metrics_refresh_job = dg.define_asset_job(
    "metrics_refresh",
    selection=dg.AssetSelection.assets(daily_metrics, user_activity, athena_tables),
    description="Recompute daily_metrics, user_activity and athena_tables for a day whose conversations changed (e.g. after forget-user).",
)

weekly_reports_job = dg.define_asset_job(
    "weekly_reports",
    selection=dg.AssetSelection.groups("reporting") - dg.AssetSelection.assets("stakeholder_dashboard"),
    description="The week's stakeholder reports: recipe popularity, engagement, retention cohorts, usage heat map.",
)

dashboard_job = dg.define_asset_job(
    "dashboard",
    selection=dg.AssetSelection.assets("stakeholder_dashboard"),
    description="Redraw the stakeholder dashboard over every day in the lake.",
)
