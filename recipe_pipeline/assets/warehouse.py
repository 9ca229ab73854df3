"""Warehouse layer: ``athena_tables`` — the lake's zones as queryable tables."""


import dagster as dg

from recipe_pipeline.assets.common import NETWORK_RETRY, OWNERS, fail_fast
from recipe_pipeline.assets.metrics import daily_metrics, user_activity
from recipe_pipeline.assets.privacy import anonymized_conversations
from recipe_pipeline.partitions import daily_partitions
from recipe_pipeline.resources import WarehouseResource


@dg.asset(
    partitions_def=daily_partitions,
    retry_policy=NETWORK_RETRY,
    deps=[anonymized_conversations, daily_metrics, user_activity],
    group_name="warehouse",
    kinds={"duckdb", "athena"},
    owners=OWNERS,
)
@fail_fast
def athena_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The tables `recipe_conversations`, `daily_metrics` and `user_activity` over the lake, with the day's
    partition queryable. Locally: views in a DuckDB database; in production: Athena external
    tables with partition projection (DDL in `sql/athena/`). Concurrent runs queue on the
    catalog's file lock: DuckDB allows one writer per database file."""
    day = context.partition_key
    result = warehouse.register_tables(day)
    return dg.MaterializeResult(
        metadata={
            "database": result["database"],
            "recipe_conversations_rows": result["rows"]["recipe_conversations"],
            "daily_metrics_rows": result["rows"]["daily_metrics"],
            "user_activity_rows": result["rows"]["user_activity"],
            "ddl": dg.MetadataValue.md("```sql\n" + ";\n\n".join(result["statements"]) + "\n```"),
        }
    )
