"""The daily pipeline job: every layer of one UTC day, with the day's asset checks."""


import dagster as dg

from recipe_pipeline.assets.ingestion import raw_conversations
from recipe_pipeline.assets.metrics import daily_metrics
from recipe_pipeline.assets.privacy import anonymized_conversations
from recipe_pipeline.assets.warehouse import athena_tables
from recipe_pipeline.partitions import daily_partitions, weekly_partitions

daily_pipeline_job = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.assets(raw_conversations, anonymized_conversations, daily_metrics, athena_tables),
    partitions_def=daily_partitions,
    description="raw_conversations -> anonymized_conversations -> daily_metrics -> athena_tables for one UTC day.",
)

metrics_refresh_job = dg.define_asset_job(
    "metrics_refresh",
    selection=dg.AssetSelection.assets(daily_metrics, athena_tables),
    partitions_def=daily_partitions,
    description="Recompute daily_metrics and athena_tables for a day whose conversations changed (e.g. after forget-user).",
)

weekly_reports_job = dg.define_asset_job(
    "weekly_reports",
    selection=dg.AssetSelection.groups("reporting") - dg.AssetSelection.assets("stakeholder_dashboard"),
    partitions_def=weekly_partitions,
    description="The week's stakeholder reports: recipe popularity, engagement, retention cohorts, usage heat map.",
)

dashboard_job = dg.define_asset_job(
    "dashboard",
    selection=dg.AssetSelection.assets("stakeholder_dashboard"),
    description="Redraw the stakeholder dashboard over every day in the lake.",
)
