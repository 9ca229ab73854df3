"""Privacy layer: ``raw_conversations`` -> ``anonymized_conversations`` (analytics zone)."""


import dagster as dg
import pyarrow.compute as pc

from recipe_pipeline import lake as layout
from recipe_pipeline.anonymize import ANONYMIZED_SCHEMA, COLUMN_DESCRIPTIONS, anonymize_day
from recipe_pipeline.assets.common import NETWORK_RETRY, OWNERS, fail_fast, column_schema, markdown_table
from recipe_pipeline.assets.ingestion import raw_conversations
from recipe_pipeline.partitions import daily_partitions
from recipe_pipeline.resources import LakeResource, PseudonymKeyResource


class PartitionMissing(FileNotFoundError):
    """An upstream partition that has not been materialized."""


def require(location, path: str, what: str, day: str) -> None:
    if not location.exists(path):
        raise PartitionMissing(f"{what} for {day} has not been materialized ({location.uri(path)} is missing)")


@dg.asset(
    partitions_def=daily_partitions,
    retry_policy=NETWORK_RETRY,
    deps=[raw_conversations],
    group_name="privacy",
    kinds={"python", "parquet"},
    owners=OWNERS,
    tags={"zone": "analytics"},
)
@fail_fast
def anonymized_conversations(
    context: dg.AssetExecutionContext, lake: LakeResource, pseudonyms: PseudonymKeyResource
) -> dg.MaterializeResult:
    """The day's messages with PII scrubbed (emails, phone numbers, card numbers replaced by
    typed placeholders), user ids replaced by keyed HMAC pseudonyms, and the recipe discussed,
    its category and the tools used derived. Written as Parquet to
    `conversations/year=YYYY/month=MM/day=DD/` — the Athena table `recipe_conversations`."""
    day = context.partition_key
    location = lake.location()
    raw_path = layout.raw_conversations_path(day)
    require(location, raw_path, "raw_conversations", day)
    if pseudonyms.is_dev_key:
        context.log.warning("RECIPE_PIPELINE_PSEUDONYM_KEY is not set: pseudonyms use the public development key")

    raw = location.read_parquet(raw_path)
    result = anonymize_day(raw, pseudonyms.pseudonymizer())
    table = result.table
    path = layout.conversations_path(day)
    provenance = {"partition": day, "raw_rows": raw.num_rows, "redactions": result.redactions_by_kind}
    location.write_parquet(layout.with_provenance(table, provenance), path)

    recipes = table.filter(pc.is_valid(table.column("recipe_name"))).column("recipe_name")
    top = pc.value_counts(recipes).to_pylist() if len(recipes) else []
    top = sorted(top, key=lambda v: (-v["counts"], v["values"]))[:10]
    preview = table.slice(0, 10).select(["timestamp", "role", "message", "recipe_name", "tools_used"]).to_pylist()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.num_rows,
            "dagster/uri": location.uri(path),
            "dagster/column_schema": column_schema(ANONYMIZED_SCHEMA, COLUMN_DESCRIPTIONS),
            "pii_redactions": sum(result.redactions_by_kind.values()),
            **{f"pii_redactions_{kind.lower()}": count for kind, count in sorted(result.redactions_by_kind.items())},
            "messages_with_recipe": len(recipes),
            "top_recipes": dg.MetadataValue.md(markdown_table([{"recipe": v["values"], "mentions": v["counts"]} for v in top])),
            "preview": dg.MetadataValue.md(markdown_table(preview)),
        }
    )
