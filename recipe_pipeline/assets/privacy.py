"""Privacy layer: ``raw_conversations`` -> ``anonymized_conversations`` (analytics zone)."""


import posixpath
from collections.abc import Iterator

import dagster as dg

from recipe_pipeline import lake as layout
from recipe_pipeline.anonymize import ANONYMIZED_SCHEMA, COLUMN_DESCRIPTIONS, write_anonymized_day
from recipe_pipeline.audits import PRIVACY_AUDITS, AuditFailed, PrivacyAudit
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
    check_specs=PRIVACY_AUDITS,
    group_name="privacy",
    kinds={"python", "parquet"},
    owners=OWNERS,
    tags={"zone": "analytics"},
)
@fail_fast
def anonymized_conversations(
    context: dg.AssetExecutionContext, lake: LakeResource, pseudonyms: PseudonymKeyResource
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """The day's messages with PII scrubbed (emails, phone numbers, card numbers replaced by
    typed placeholders), user ids replaced by keyed HMAC pseudonyms, and the recipe discussed,
    its category and the tools used derived. Written as Parquet to
    `conversations/year=YYYY/month=MM/day=DD/` — the Athena table `recipe_conversations` —
    once the privacy audits (its blocking checks) pass on the staged file: a day that fails them
    is not published, and the day's previous file, if any, is withdrawn."""
    day = context.partition_key
    location = lake.location()
    raw_path = layout.raw_conversations_path(day)
    require(location, raw_path, "raw_conversations", day)
    if pseudonyms.is_dev_key:
        context.log.warning("RECIPE_PIPELINE_PSEUDONYM_KEY is not set: pseudonyms use the public development key")

    audit = PrivacyAudit(location.parquet_file(raw_path))
    try:
        summary = write_anonymized_day(location, day, pseudonyms.pseudonymizer(), audit=audit)
    except AuditFailed as failed:
        # The day's previous file goes too: it would go on serving what raw no longer holds (an
        # item deleted since), and the analytics zone must never hold more than raw does.
        withdrawn = location.exists(layout.conversations_path(day))
        location.delete_dir(posixpath.dirname(layout.conversations_path(day)))
        yield from failed.results
        raise dg.Failure(description=f"{day} was not published" + ("; its previous file was withdrawn" if withdrawn else "")
                         + f": {failed}", allow_retries=False) from failed
    path = layout.conversations_path(day)
    top = sorted(summary.recipe_mentions.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary.rows,
            "erased": summary.erased,
            "dagster/uri": location.uri(path),
            "dagster/column_schema": column_schema(ANONYMIZED_SCHEMA, COLUMN_DESCRIPTIONS),
            "pii_redactions": sum(summary.redactions_by_kind.values()),
            **{f"pii_redactions_{kind.lower()}": count for kind, count in sorted(summary.redactions_by_kind.items())},
            "messages_with_recipe": sum(summary.recipe_mentions.values()),
            "top_recipes": dg.MetadataValue.md(markdown_table([{"recipe": r, "mentions": n} for r, n in top])),
            "preview": dg.MetadataValue.md(markdown_table(summary.preview)),
        },
        check_results=audit.results,
    )
