"""Metrics layer: ``anonymized_conversations`` -> ``daily_metrics`` (Athena table ``daily_metrics``)
and ``user_activity`` (Athena table ``user_activity``)."""


import json

import dagster as dg
import pyarrow.compute as pc

from recipe_pipeline import lake as layout
from recipe_pipeline.activity import COLUMN_DESCRIPTIONS, USER_ACTIVITY_SCHEMA, write_user_activity
from recipe_pipeline.assets.common import NETWORK_RETRY, OWNERS, column_schema, fail_fast, markdown_table
from recipe_pipeline.assets.privacy import anonymized_conversations, require
from recipe_pipeline.partitions import daily_partitions
from recipe_pipeline.resources import WarehouseResource, LakeResource

NUMERIC_METRICS = (
    "total_conversations", "unique_users", "total_messages", "avg_conversation_length",
    "user_messages", "assistant_messages", "tool_messages", "conversations_with_recipe", "pii_redactions",
)


@dg.asset(
    partitions_def=daily_partitions,
    retry_policy=NETWORK_RETRY,
    deps=[anonymized_conversations],
    group_name="metrics",
    kinds={"duckdb", "json"},
    owners=OWNERS,
)
@fail_fast
def daily_metrics(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """One day's metrics from the anonymized conversations, by the shared SQL
    (`sql/queries/daily_metrics.sql`): the seed's fields (`date`, `total_conversations`,
    `unique_users`, `recipes_discussed`, `total_messages`, `avg_conversation_length`) plus
    user/assistant/tool message counts, messages by hour and tool usage. Written as one JSON line
    to `aggregated/daily/year=YYYY/month=MM/day=DD/daily-metrics-YYYY-MM-DD.json`."""
    day = context.partition_key
    location = lake.location()
    source = layout.conversations_path(day)
    require(location, source, "anonymized_conversations", day)
    # The engine reads the day itself: DuckDB the Parquet file, Athena the table (no copy here).
    metrics = warehouse.daily_metrics(day)
    path = layout.daily_metrics_path(day)
    location.write_bytes(json.dumps(metrics, sort_keys=False).encode() + b"\n", path)

    top = sorted(metrics["recipes_discussed"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return dg.MaterializeResult(
        metadata={
            "dagster/uri": location.uri(path),
            # Numeric metadata: the UI plots each of these across partitions.
            **{name: metrics[name] for name in NUMERIC_METRICS},
            "distinct_recipes": len(metrics["recipes_discussed"]),
            "top_recipes": dg.MetadataValue.md(markdown_table([{"recipe": r, "mentions": n} for r, n in top])),
            "messages_by_hour": dg.MetadataValue.json(metrics["messages_by_hour"]),
            "tool_usage": dg.MetadataValue.json(metrics["tool_usage"]),
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    retry_policy=NETWORK_RETRY,
    deps=[anonymized_conversations],
    group_name="metrics",
    kinds={"pyarrow", "parquet"},
    owners=OWNERS,
)
@fail_fast
def user_activity(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """The day's active users (pseudonyms) and their message counts, one row each, written to
    `aggregated/user_activity/year=YYYY/month=MM/day=DD/user-activity-YYYY-MM-DD.parquet`. Kept
    2 years like the other aggregates (conversations: 90 days), so new-vs-returning users and
    retention cohorts know a user's first day long after that day's conversations expired."""
    day = context.partition_key
    location = lake.location()
    require(location, layout.conversations_path(day), "anonymized_conversations", day)
    table = write_user_activity(location, day)
    return dg.MaterializeResult(
        metadata={
            "dagster/uri": location.uri(layout.user_activity_path(day)),
            "dagster/row_count": table.num_rows,
            "dagster/column_schema": column_schema(USER_ACTIVITY_SCHEMA, COLUMN_DESCRIPTIONS),
            "messages": pc.sum(table.column("messages")).as_py() or 0,
        }
    )
