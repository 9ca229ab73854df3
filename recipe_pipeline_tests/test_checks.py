"""Asset checks evaluated in real runs: a leaking partition is caught and blocks what is downstream."""


from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa

from recipe_pipeline import lake as layout
from recipe_pipeline.anonymize import ANONYMIZED_SCHEMA
from recipe_pipeline.assets.metrics import daily_metrics
from recipe_pipeline.checks import anonymized_has_no_pii
from recipe_pipeline.partitions import daily_partitions
from recipe_pipeline.pii import scan_for_pii
from recipe_pipeline.resources import LakeResource

DAY = "2025-01-01"
LEAKY_MESSAGES = ["Here's a recipe for ramen.", "mail me at jane@example.com", "my IBAN is GB82 WEST 1234 5698 7654 32", "Bake at 350F"]


def anonymized_rows(messages: list[str]) -> pa.Table:
    rows = [
        {
            "conversation_id": "c1", "timestamp": f"2025-01-01T10:00:0{i}Z", "message_ts": datetime(2025, 1, 1, 10, 0, i, tzinfo=UTC),
            "user_id": "0" * 32, "role": "user", "message": m, "message_length": len(m), "pii_redactions": 0,
            "has_recipe": False, "recipe_name": None, "recipe_category": None, "tools_used": [], "rating": None,
        }
        for i, m in enumerate(messages)
    ]
    return pa.Table.from_pylist(rows, schema=ANONYMIZED_SCHEMA)


def test_scan_reports_kinds_and_rows():
    found, rows = scan_for_pii(pa.array(LEAKY_MESSAGES))
    assert rows == [1, 2]
    assert {k: v for k, v in found.items() if v} == {"EMAIL": 1, "IBAN": 1}


def test_a_leaking_partition_fails_the_blocking_check_and_nothing_downstream_is_built(project, instance):
    # Stands in for a broken privacy layer: same asset key, writes messages that still hold PII.
    @dg.asset(key="anonymized_conversations", partitions_def=daily_partitions)
    def leaking_anonymized_conversations(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
        lake.location().write_parquet(anonymized_rows(LEAKY_MESSAGES), layout.conversations_path(context.partition_key))

    defs = dg.Definitions(
        assets=[leaking_anonymized_conversations, daily_metrics],
        asset_checks=[anonymized_has_no_pii],
        resources=project.resources,
    )
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["pii_email"] == 1 and metadata["pii_iban"] == 1 and metadata["leaking_rows"] == 2
    assert '"row": 1' in metadata["problems"] and '"conversation_id": "c1"' in metadata["problems"]
    assert "jane@example.com" not in str(metadata) and "GB82" not in str(metadata)  # never the PII itself
    assert not result.asset_materializations_for_node("daily_metrics")
    assert not project.lake.exists(layout.daily_metrics_path(DAY))


def test_a_clean_partition_passes(project, instance):
    @dg.asset(key="anonymized_conversations", partitions_def=daily_partitions)
    def clean_anonymized_conversations(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
        lake.location().write_parquet(anonymized_rows(["mail me at [EMAIL]", "Bake at 350F for 25-30 minutes"]), layout.conversations_path(context.partition_key))

    defs = dg.Definitions(assets=[clean_anonymized_conversations], asset_checks=[anonymized_has_no_pii], resources=project.resources)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(partition_key=DAY, instance=instance)
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
