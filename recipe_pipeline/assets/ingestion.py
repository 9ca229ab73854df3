"""Ingestion layer: DynamoDB exports -> ``raw_conversations`` (restricted zone)."""

from collections import Counter
from collections.abc import Iterator

import dagster as dg

from recipe_pipeline import lake as layout
from recipe_pipeline.assets.common import NETWORK_RETRY, OWNERS, fail_fast, column_schema, markdown_table
from recipe_pipeline.export_index import gone_exports_holding, write_export_index
from recipe_pipeline.partitions import daily_partitions, export_partitions
from recipe_pipeline.raw import RAW_SCHEMA, write_raw_day_and_quarantine
from recipe_pipeline.resources import DynamoDBExportsResource, LakeResource, PseudonymKeyResource

dynamodb_exports = dg.AssetSpec(
    "dynamodb_exports",
    description=(
        "DynamoDB native exports of the `recipe-conversations` table (one full export, then one "
        "incremental export per UTC day), in AWS's S3 layout. Written by DynamoDB, not by Dagster; "
        "`dynamodb_export_sensor` watches it."
    ),
    group_name="ingestion",
    kinds={"dynamodb", "s3"},
    owners=OWNERS,
)


@dg.asset(
    partitions_def=export_partitions,
    retry_policy=NETWORK_RETRY,
    deps=[dynamodb_exports],
    group_name="ingestion",
    kinds={"python", "json"},
    owners=OWNERS,
    tags={"zone": "restricted"},
)
@fail_fast
def dynamodb_export_index(
    context: dg.AssetExecutionContext, lake: LakeResource, exports: DynamoDBExportsResource, pseudonyms: PseudonymKeyResource
) -> dg.MaterializeResult:
    """Which UTC days one completed export touches (its items per day, by each item's own
    `timestamp`): every data file read once, checksums verified, lines no day can take
    quarantined with a reason. `dynamodb_export_sensor` adds a partition per new export and
    requests this run, then the daily runs of the days the index lists: reading an export takes
    as long as the export is large, which a sensor tick (60 s at most) cannot. `raw_conversations`
    reads only the exports whose index lists its day."""
    store = exports.store()
    summary = store.summary(context.partition_key)
    # The key is resolved only if an unreadable line must be checked against erased users.
    index = write_export_index(store, lake.location(), summary, pseudonymizer=pseudonyms.pseudonymizer)
    days = sorted(index.days)
    if index.quarantined:
        context.log.warning(f"{index.quarantined} line(s) of export {summary.export_id} belong to no day and were quarantined")
    return dg.MaterializeResult(
        metadata={
            "export_type": summary.export_type,
            "covered_until": index.covered_until,
            "items": index.items,
            "days_touched": len(days),
            "first_day": days[0] if days else None,
            "last_day": days[-1] if days else None,
            "quarantined": index.quarantined,
            "erased": index.erased,
            "dagster/uri": lake.location().uri(layout.export_index_path(summary.export_id)),
            "items_by_day": dg.MetadataValue.md(markdown_table([{"day": d, "items": n} for d, n in sorted(index.days.items())])),
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    retry_policy=NETWORK_RETRY,
    deps=[dynamodb_exports],
    group_name="ingestion",
    kinds={"python", "parquet"},
    owners=OWNERS,
    tags={"zone": "restricted"},
    output_required=False,  # a day that can no longer be built whole is left as it is (below)
)
@fail_fast
def raw_conversations(
    context: dg.AssetExecutionContext, lake: LakeResource, exports: DynamoDBExportsResource, pseudonyms: PseudonymKeyResource
) -> Iterator[dg.MaterializeResult]:
    """Every message of one UTC day (by its own `timestamp`) from all completed exports that hold
    it: deduplicated on (conversation_id, timestamp) with the newest image winning, deletions
    applied, typed columns. Restricted zone: raw user ids and raw messages, never shown in
    metadata or logs. Unreadable items go to `quarantine/` with a reason. A day whose
    conversations retention has deleted, and an export of which is gone too, is not built again:
    nothing is materialized, and the day's downstream assets are skipped."""
    day = context.partition_key
    location, store = lake.location(), exports.store()
    # What retention leaves of a day is its aggregates. If an export that held its items is gone
    # as well (S3's lifecycle rules), a build would hold only what the other exports have (a late
    # change, say) and replace the day's daily metrics and user activity, kept 2 years, with it.
    if not location.exists(layout.raw_conversations_path(day)) and location.exists(layout.daily_metrics_path(day)):
        gone = gone_exports_holding(store, location, day)
        if gone:
            context.log.warning(f"{day} is not built again: its conversations have expired, and export(s) {', '.join(gone)} that held "
                                "its items are gone, so a build would hold only part of the day; its daily metrics and user activity "
                                "stay as built")
            return
    result = write_raw_day_and_quarantine(store, location, day, pseudonyms.pseudonymizer())
    path = layout.raw_conversations_path(day)
    if result.quarantine:
        context.log.warning(f"{len(result.quarantine)} item(s) of {day} quarantined in {location.uri(layout.day_quarantine_path(day))}")
    for export_id, problem in result.exports_left_out.items():
        context.log.warning(f"export {export_id} was left out (it cannot hold {day}): {problem}")
    if not result.exports_cover_day:
        context.log.warning(f"the exports do not yet cover all of {day} (covered until {result.covered_until}); "
                            "the partition will be rebuilt when later exports land")

    # Aggregates only: the restricted zone's messages and user ids never reach the UI.
    by_role = result.messages_by_role
    reasons = Counter(q["reason"] for q in result.quarantine)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.counts["rows"],
            "dagster/uri": location.uri(path),
            "dagster/column_schema": column_schema(RAW_SCHEMA),
            "exports_read": dg.MetadataValue.json(result.exports_read),
            "exports_left_out": dg.MetadataValue.json(result.exports_left_out),
            "export_records": result.counts["export_records"],
            "unique_items": result.counts["unique_items"],
            "superseded_versions": result.counts["superseded_versions"],
            "deleted": result.counts["deleted"],
            "deleted_by_snapshot": result.counts["deleted_by_snapshot"],
            "deleted_by_ttl": result.counts["deleted_by_ttl"],
            "ttl_expiries_ignored": result.counts["ttl_expiries_ignored"],
            "quarantined": result.counts["quarantined"],
            "erased": result.counts["erased"],
            "exports_cover_day": result.exports_cover_day,
            "messages_by_role": dg.MetadataValue.md(markdown_table([{"role": r, "messages": n} for r, n in sorted(by_role.items())])),
            "quarantine_reasons": dg.MetadataValue.md(markdown_table([{"reason": r, "items": n} for r, n in reasons.most_common()])),
        }
    )
