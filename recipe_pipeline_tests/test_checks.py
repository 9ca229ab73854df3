"""Asset checks evaluated in real runs: a leaking partition is caught and blocks what is downstream."""


import json
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recipe_pipeline import lake as layout
from recipe_pipeline.activity import user_activity as count_user_activity
from recipe_pipeline.assets.metrics import daily_metrics, user_activity
from recipe_pipeline.assets.privacy import anonymized_conversations
from recipe_pipeline.assets.warehouse import athena_tables
from recipe_pipeline.audits import NO_PII, NO_RAW_USER_IDS, PRIVACY_AUDITS, AuditFailed, PrivacyAudit
from recipe_pipeline.checks import (
    anonymized_rows_match_raw, asset_checks, athena_tables_serve_partition, daily_metrics_match_conversations,
    raw_conversations_counts_conserved, rows_in_step, user_activity_matches_conversations,
)
from recipe_pipeline.export_index import ExportIndex
from recipe_pipeline.partitions import daily_partitions
from recipe_pipeline.pii import scan_for_pii
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.raw import RAW_SCHEMA
from recipe_pipeline.resources import DuckDBWarehouseResource, LakeResource, WarehouseResource
from recipe_pipeline.storage import Location
from recipe_pipeline_tests.conftest import TEST_PSEUDONYM_KEY, anonymized_day

DAY = "2025-01-01"
LEAKY_MESSAGES = ["Here's a recipe for ramen.", "mail me at jane@example.com", "my IBAN is GB82 WEST 1234 5698 7654 32", "Bake at 350F"]


def anonymized_rows(messages: list[str]) -> pa.Table:
    return anonymized_day([{"conversation_id": "c1", "role": "user", "message": m} for m in messages])


def test_scan_reports_kinds_and_rows():
    found, rows = scan_for_pii(pa.array(LEAKY_MESSAGES))
    assert rows == [1, 2]
    assert {k: v for k, v in found.items() if v} == {"EMAIL": 1, "IBAN": 1}


def test_a_partition_leaking_a_number_pasted_with_no_break_spaces_fails_the_blocking_audit(project, instance):
    leaking = anonymized_conversations_publishing(anonymized_rows(["Bake at 350F", "text me on 212\u00a0736\u00a05000", "カード ４１１１ １１１１ １１１１ １１１１"]))
    result = run_day(project, instance, [raw_conversations_writing(), leaking], [])
    passed, metadata = the_evaluation(result, NO_PII)
    assert not passed and metadata["pii_phone"] == 1 and metadata["pii_card"] == 1 and metadata["leaking_rows"] == 2


def test_a_leaking_partition_fails_the_blocking_audit_is_not_published_and_nothing_downstream_is_built(project, instance):
    # Stands in for a broken privacy layer: same asset key and audits, writes messages that still hold PII.
    leaking = anonymized_conversations_publishing(anonymized_rows(LEAKY_MESSAGES))
    result = run_day(project, instance, [raw_conversations_writing(), leaking, daily_metrics], [])
    passed, metadata = the_evaluation(result, NO_PII)
    assert not passed
    assert metadata["pii_email"] == 1 and metadata["pii_iban"] == 1 and metadata["leaking_rows"] == 2
    assert '"row": 1' in metadata["problems"] and '"conversation_id": "c1"' in metadata["problems"]
    assert "jane@example.com" not in str(metadata) and "GB82" not in str(metadata)  # never the PII itself
    # Never in the analytics zone, which Athena serves as soon as a file is there.
    assert not project.lake.exists(layout.conversations_path(DAY))
    assert not [p for p in project.lake.list_files(layout.CONVERSATIONS) if "tmp" in p]
    assert not result.asset_materializations_for_node("anonymized_conversations")
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "was not published" in str(failure.step_failure_data.error) and "jane@example.com" not in str(failure.step_failure_data.error)
    assert not result.asset_materializations_for_node("daily_metrics")
    assert not project.lake.exists(layout.daily_metrics_path(DAY))


def test_a_clean_partition_passes(project, instance):
    clean = anonymized_conversations_publishing(anonymized_rows(["mail me at [EMAIL]", "Bake at 350F for 25-30 minutes"]))
    result = run_day(project, instance, [raw_conversations_writing(), clean], [])
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {NO_PII: True, NO_RAW_USER_IDS: True}
    assert result.asset_materializations_for_node("anonymized_conversations")


def test_the_audit_of_a_staged_file_on_an_s3_lake_publishes_nothing_when_it_fails(s3_bucket):
    location, raw_path = Location(f"s3://{s3_bucket}/lake"), layout.raw_conversations_path(DAY)
    location.write_parquet(raw_rows(RAW_MESSAGES), raw_path)
    audit = PrivacyAudit(location.parquet_file(raw_path))
    with pytest.raises(AuditFailed, match="EMAIL"):
        with location.open_parquet_writer(anonymized_rows(LEAKY_MESSAGES).schema, layout.conversations_path(DAY), audit=audit) as writer:
            writer.write(anonymized_rows(LEAKY_MESSAGES))
    assert not location.exists(layout.conversations_path(DAY))


# The raw day the stand-ins below build on: three messages of one user, keyed like `anonymized_rows`.
RAW_USER_ID = "user-secret-123"
RAW_MESSAGES = ["What can I cook with leftover rice?", "Try fried rice with an egg.", "Bake at 350F"]
EXPORT_ID = "01735689600000-a1b2c3d4"
# unique_items = rows + deleted + quarantined + erased, and the export index lists every record read.
CONSERVED = {"export_records": 5, "unique_items": 5, "superseded_versions": 0, "deleted": 1, "quarantined": 0, "erased": 1, "rows": 3}


def raw_rows(messages: list[str]) -> pa.Table:
    rows = [
        {
            "conversation_id": "c1", "timestamp": f"2025-01-01T10:00:0{i}Z", "message_ts": datetime(2025, 1, 1, 10, 0, i, tzinfo=UTC),
            "user_id": RAW_USER_ID, "role": "user", "message": m, "metadata": None, "date_str": "2025-01-01", "ttl": None,
            "has_recipe": None, "recipe_name": None, "extra_attributes": None, "write_micros": i, "source_export": EXPORT_ID,
        }
        for i, m in enumerate(messages)
    ]
    return pa.Table.from_pylist(rows, schema=RAW_SCHEMA)


def with_column(table: pa.Table, column: str, values: list) -> pa.Table:
    field = table.schema.field(column)
    return table.set_column(table.schema.get_field_index(column), field, pa.array(values, field.type))


def replaced(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    return with_column(table, column, values)


def raw_conversations_writing(counts: dict = CONSERVED, indexed: int = 5, table: pa.Table = raw_rows(RAW_MESSAGES)) -> dg.AssetsDefinition:
    """Stands in for the ingestion layer: writes `table` as the raw day with `counts` as its
    provenance, and an export index that lists `indexed` records for the day."""

    @dg.asset(key="raw_conversations", partitions_def=daily_partitions)
    def stand_in_raw_conversations(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
        day, location = context.partition_key, lake.location()
        index = ExportIndex(EXPORT_ID, "FULL_EXPORT", covered_until="2025-01-02T00:00:00+00:00", days={day: indexed}, items=indexed)
        location.write_bytes(index.to_json(), layout.export_index_path(EXPORT_ID))
        provenance = {"partition": day, "exports": [EXPORT_ID], "counts": counts, "covered_until": "2025-01-02T00:00:00+00:00", "exports_cover_day": True}
        location.write_parquet(layout.with_provenance(table, provenance), layout.raw_conversations_path(day))

    return stand_in_raw_conversations


def anonymized_conversations_writing(table: pa.Table) -> dg.AssetsDefinition:
    """Stands in for the privacy layer: writes `table` as the anonymized day."""

    @dg.asset(key="anonymized_conversations", partitions_def=daily_partitions, deps=["raw_conversations"])
    def stand_in_anonymized_conversations(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
        lake.location().write_parquet(table, layout.conversations_path(context.partition_key))

    return stand_in_anonymized_conversations


def anonymized_conversations_publishing(table: pa.Table) -> dg.AssetsDefinition:
    """Stands in for the privacy layer: writes `table` as the anonymized day, audited before it
    is published as the real asset does."""

    @dg.asset(key="anonymized_conversations", partitions_def=daily_partitions, deps=["raw_conversations"], check_specs=PRIVACY_AUDITS)
    def stand_in_anonymized_conversations(context: dg.AssetExecutionContext, lake: LakeResource):
        location = lake.location()
        audit = PrivacyAudit(location.parquet_file(layout.raw_conversations_path(context.partition_key)))
        try:
            with location.open_parquet_writer(table.schema, layout.conversations_path(context.partition_key), audit=audit) as writer:
                writer.write(table)
        except AuditFailed as failed:
            yield from failed.results
            raise dg.Failure(description=f"{context.partition_key} was not published: {failed}", allow_retries=False) from failed
        yield dg.MaterializeResult(check_results=audit.results)

    return stand_in_anonymized_conversations


def run_day(project, instance, assets: list, checks: list, resources: dict | None = None) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(assets=assets, asset_checks=checks, resources=resources or project.resources)
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)


def the_evaluation(result: dg.ExecuteInProcessResult, check_name: str | None = None) -> tuple[bool, dict]:
    """The evaluation of ``check_name``; by default, of the one check other than the privacy
    audits, which the real privacy layer always evaluates."""
    wanted = (lambda name: name == check_name) if check_name else (lambda name: name not in (NO_PII, NO_RAW_USER_IDS))
    [evaluation] = [e for e in result.get_asset_check_evaluations() if wanted(e.check_name)]
    return evaluation.passed, {k: v.value for k, v in evaluation.metadata.items()}


def test_a_consistent_day_passes_every_check_and_reaches_the_warehouse(project, instance):
    # The real layers over the stand-in raw day: proves the stand-ins below are consistent, so each
    # failure there comes from the one defect it plants.
    result = run_day(project, instance, [raw_conversations_writing(), anonymized_conversations, daily_metrics, user_activity, athena_tables], asset_checks)
    evaluations = result.get_asset_check_evaluations()
    assert sorted(e.check_name for e in evaluations) == sorted([key.name for c in asset_checks for key in c.check_keys] + [NO_PII, NO_RAW_USER_IDS])
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]
    assert result.asset_materializations_for_node("athena_tables")


def test_quarantined_items_are_accounted_for_by_the_conservation_check(project, instance):
    # The other cases have none quarantined: here each term of the sum is non-zero.
    counts = {**CONSERVED, "export_records": 6, "unique_items": 6, "quarantined": 1}
    result = run_day(project, instance, [raw_conversations_writing(counts, indexed=6), anonymized_conversations], [raw_conversations_counts_conserved])
    passed, metadata = the_evaluation(result)
    assert passed, metadata["problems"]
    assert (metadata["quarantined"], metadata["deleted"], metadata["erased"], metadata["rows"]) == (1, 1, 1, 3)


@pytest.mark.parametrize(
    ("counts", "indexed", "problem"),
    [
        pytest.param(CONSERVED, 6, "export indexes list 6 records for 2025-01-01, 5 were read", id="an-indexed-record-not-read"),
        pytest.param(
            {**CONSERVED, "export_records": 6}, 6, "6 records read != 5 unique items + 0 superseded versions",
            id="a-record-read-then-lost-before-it-was-resolved",
        ),
        pytest.param(
            {**CONSERVED, "export_records": 6, "unique_items": 6}, 6, "6 unique items != 3 rows + 1 deleted + 0 quarantined + 1 erased",
            id="an-item-neither-kept-deleted-quarantined-nor-erased",
        ),
        pytest.param(
            {**CONSERVED, "export_records": 6, "unique_items": 6, "rows": 4}, 6, "the file holds 3 rows, the run counted 4",
            id="a-counted-row-missing-from-the-file",
        ),
    ],
)
def test_raw_counts_that_do_not_conserve_fail_the_blocking_check_and_nothing_downstream_is_built(project, instance, counts, indexed, problem):
    result = run_day(project, instance, [raw_conversations_writing(counts, indexed), anonymized_conversations], [raw_conversations_counts_conserved])
    passed, metadata = the_evaluation(result)
    assert not passed
    assert metadata["problems"] == f"- {problem}"  # only the planted defect is reported
    assert metadata["export_records"] == indexed and metadata["rows"] == 3
    assert not result.asset_materializations_for_node("anonymized_conversations")
    assert not project.lake.exists(layout.conversations_path(DAY))


@pytest.mark.parametrize(
    ("anonymize", "anonymized_count", "problems"),
    [
        pytest.param(lambda t: t.slice(0, 2), 2, ["3 raw rows but 2 anonymized rows", "1 raw message(s) missing, 0 unexpected"], id="a-row-dropped"),
        pytest.param(
            lambda t: replaced(t, "timestamp", 1, "2025-01-01T10:00:09Z"), 3, ["1 raw message(s) missing, 1 unexpected"], id="a-key-changed"
        ),
        pytest.param(
            lambda t: pa.concat_tables([t, t.slice(2, 1)]), 4, ["3 raw rows but 4 anonymized rows", "0 raw message(s) missing, 1 unexpected"],
            id="a-row-duplicated",
        ),
    ],
)
def test_anonymized_rows_that_differ_from_raw_fail_the_blocking_check_and_nothing_downstream_is_built(project, instance, anonymize, anonymized_count, problems):
    stand_in = anonymized_conversations_writing(anonymize(anonymized_rows(RAW_MESSAGES)))
    result = run_day(project, instance, [raw_conversations_writing(), stand_in, daily_metrics], [anonymized_rows_match_raw])
    passed, metadata = the_evaluation(result)
    assert not passed
    assert metadata["problems"] == "\n".join(f"- {p}" for p in problems)
    assert (metadata["raw_rows"], metadata["anonymized_rows"]) == (3, anonymized_count)
    assert not result.asset_materializations_for_node("daily_metrics")
    assert not project.lake.exists(layout.daily_metrics_path(DAY))


@pytest.mark.parametrize(
    ("kept", "passed", "problems", "erased_users_missing"),
    [
        pytest.param([2], True, "none", 2, id="the-erased-users-messages-left-out"),
        pytest.param([1], False, "- 3 raw rows but 1 anonymized rows and 1 of erased users\n- 1 raw message(s) missing, 0 unexpected", 1,
                     id="another-users-message-lost-too"),
        pytest.param([0, 1], False, "- 3 raw rows but 2 anonymized rows\n- 1 raw message(s) missing, 0 unexpected", 0,
                     id="another-users-message-left-out-instead"),
    ],
)
def test_only_raw_messages_of_erased_users_may_be_missing(project, instance, kept, passed, problems, erased_users_missing):
    # Anonymizing leaves out users in the erasure registry while the raw day still holds them
    # (forget-user's sweep has not reached it); any other missing message is a loss.
    raw = with_column(raw_rows(RAW_MESSAGES), "user_id", [RAW_USER_ID, RAW_USER_ID, "user-other"])
    project.lake.write_bytes(b"{}", layout.erasure_path(Pseudonymizer(TEST_PSEUDONYM_KEY).pseudonym(RAW_USER_ID)))
    stand_in = anonymized_conversations_writing(anonymized_rows(RAW_MESSAGES).take(kept))
    result = run_day(project, instance, [raw_conversations_writing(table=raw), stand_in], [anonymized_rows_match_raw])
    assert the_evaluation(result) == (passed, {"problems": problems, "raw_rows": 3, "anonymized_rows": len(kept), "erased_users_missing": erased_users_missing})


def test_raw_user_ids_left_in_the_analytics_zone_fail_the_blocking_check_without_being_reported(project, instance):
    leaking = anonymized_rows([RAW_MESSAGES[0], f"I'm {RAW_USER_ID}, remember me", RAW_MESSAGES[2]])
    leaking = replaced(leaking, "user_id", 2, RAW_USER_ID)
    result = run_day(project, instance, [raw_conversations_writing(), anonymized_conversations_publishing(leaking), daily_metrics], [])
    passed, metadata = the_evaluation(result, NO_RAW_USER_IDS)
    assert not passed
    assert metadata["problems"] == "- 1 row(s) carry a raw user id as user_id\n- 1 message(s) contain a raw user id (rows [1])"
    assert metadata["raw_user_ids"] == 1 and metadata["rows_checked"] == 3
    assert RAW_USER_ID not in str(metadata)  # never the id it found
    assert not result.asset_materializations_for_node("daily_metrics")
    assert not project.lake.exists(layout.daily_metrics_path(DAY))


def test_the_privacy_layer_takes_out_a_raw_user_id_typed_into_a_message_and_passes_the_check(project, instance):
    messages = ["What can I cook with leftover rice?", f"my account is {RAW_USER_ID}, the app logged me out", "Bake at 350F"]
    raw_day = raw_conversations_writing(table=raw_rows(messages))
    result = run_day(project, instance, [raw_day, anonymized_conversations], [])
    passed, metadata = the_evaluation(result, NO_RAW_USER_IDS)
    assert passed, metadata["problems"]
    assert project.lake.read_parquet(layout.conversations_path(DAY)).column("message")[1].as_py() == "my account is [USER_ID], the app logged me out"


def test_raw_user_ids_are_found_in_messages_on_a_day_with_more_users_than_one_regex_can_hold(project, instance):
    # One RE2 alternation of this many ids failed to compile ("pattern too large"); ids scattered,
    # as real ones are, so no common prefix makes the search small.
    ids = [f"user-{i * 0x9E3779B97F4A7C15 % 2**48:012x}" for i in range(60_000)]
    raw = with_column(raw_rows(["Bake at 350F"]).take([0] * len(ids)), "user_id", ids)
    messages = [f"I'm {user_id}" if row % 10 == 0 else "Bake at 350F" for row, user_id in enumerate(ids)]
    leaking = with_column(anonymized_rows(["Bake at 350F"]).take([0] * len(ids)), "message", messages)
    result = run_day(project, instance, [raw_conversations_writing(table=raw), anonymized_conversations_publishing(leaking)], [])
    passed, metadata = the_evaluation(result, NO_RAW_USER_IDS)
    assert not passed
    assert metadata["problems"] == f"- 6000 message(s) contain a raw user id (rows {list(range(0, 200, 10))})"
    assert metadata["raw_user_ids"] == len(ids)


def test_metrics_that_disagree_with_a_recount_fail_the_blocking_check_and_the_warehouse_is_not_built(project, instance):
    # Stands in for a broken metrics layer: the engine's metrics, one message too many.
    @dg.asset(key="daily_metrics", partitions_def=daily_partitions, deps=["anonymized_conversations"])
    def miscounted_daily_metrics(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> None:
        metrics = warehouse.daily_metrics(context.partition_key)
        metrics["total_messages"] += 1
        lake.location().write_bytes(json.dumps(metrics).encode() + b"\n", layout.daily_metrics_path(context.partition_key))

    anonymized = anonymized_conversations_writing(anonymized_rows(RAW_MESSAGES))
    result = run_day(project, instance, [anonymized, miscounted_daily_metrics, athena_tables], [daily_metrics_match_conversations])
    passed, metadata = the_evaluation(result)
    assert not passed
    assert metadata["problems"] == "- total_messages is 4, recount gives 3"
    assert metadata["total_messages"] == 3
    assert not result.asset_materializations_for_node("athena_tables")


def user_activity_writing(change) -> dg.AssetsDefinition:
    """Stands in for the metrics layer's user_activity: the real count of the day, then ``change``."""

    @dg.asset(key="user_activity", partitions_def=daily_partitions, deps=["anonymized_conversations"])
    def stand_in_user_activity(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
        location = lake.location()
        table = count_user_activity(location.parquet_file(layout.conversations_path(context.partition_key)), context.partition_key)
        location.write_parquet(change(table), layout.user_activity_path(context.partition_key))

    return stand_in_user_activity


TWO_USERS = anonymized_day([{"conversation_id": "c1", "role": "user", "message": "hi", "user_id": "a" * 32},
                            {"conversation_id": "c1", "role": "assistant", "message": "hello", "user_id": "a" * 32},
                            {"conversation_id": "c2", "role": "user", "message": "hey", "user_id": "b" * 32}])


def _replaced(table: pa.Table, column: str, values: list) -> pa.Table:
    field = table.schema.field(column)
    return table.set_column(table.schema.get_field_index(column), pa.field(column, field.type), pa.array(values, field.type))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t.slice(1), "1 user(s) of the anonymized day missing"),
        (lambda t: _replaced(t, "user_id", ["a" * 32, "c" * 32]), "1 user(s) of the anonymized day missing\n- 1 user(s) the anonymized day does not hold"),
        (lambda t: _replaced(t, "messages", [2, 2]), "1 user(s) with another count of messages than the anonymized day's"),
        (lambda t: pa.concat_tables([t, t.slice(0, 1)]), "1 user row(s) repeated"),
        (lambda t: _replaced(t, "activity_date", [datetime(2025, 1, 2).date()] * 2), "2 row(s) dated another day than 2025-01-01"),
        (lambda t: _replaced(t, "activity_date", [None, datetime(2025, 1, 1).date()]), "1 row(s) dated another day than 2025-01-01"),
        (lambda t: _replaced(t, "messages", [None, 1]), "1 user(s) with another count of messages than the anonymized day's"),
        (lambda t: _replaced(t, "user_id", [None, "b" * 32]), "1 user(s) of the anonymized day missing\n- 1 user(s) the anonymized day does not hold"),
    ],
    ids=["a-user-left-out", "a-user-replaced", "miscounted", "a-user-twice", "another-day", "no-date", "no-count", "no-user"],
)
def test_user_activity_that_disagrees_with_the_anonymized_day_fails_the_blocking_check(project, instance, change, problem):
    result = run_day(project, instance, [anonymized_conversations_writing(TWO_USERS), user_activity_writing(change), athena_tables],
                     [user_activity_matches_conversations])
    passed, metadata = the_evaluation(result)
    assert not passed
    assert metadata["problems"] == f"- {problem}"
    assert metadata["anonymized_day_users"] == 2
    assert not result.asset_materializations_for_node("athena_tables")


def test_user_activity_may_still_list_a_user_forget_user_has_taken_out_of_the_anonymized_day_only(project, instance):
    # forget-user sweeps the anonymized zone before user_activity: a check between the two sweeps.
    project.lake.write_bytes(b"{}", layout.erasure_path("b" * 32))
    without_b = TWO_USERS.filter(pc.not_equal(TWO_USERS.column("user_id"), "b" * 32))
    unswept = lambda t: pa.concat_tables([t, pa.table({"activity_date": [datetime(2025, 1, 1).date()], "user_id": ["b" * 32], "messages": [1]},
                                                      schema=t.schema)]).sort_by("user_id")  # noqa: E731
    result = run_day(project, instance, [anonymized_conversations_writing(without_b), user_activity_writing(unswept)], [user_activity_matches_conversations])
    passed, metadata = the_evaluation(result)
    assert passed, metadata
    assert (metadata["users"], metadata["anonymized_day_users"]) == (2, 1)


def test_user_activity_may_leave_out_a_user_erased_since_the_anonymized_day_was_written(project, instance):
    project.lake.write_bytes(b"{}", layout.erasure_path("b" * 32))
    result = run_day(project, instance, [anonymized_conversations_writing(TWO_USERS), user_activity], [user_activity_matches_conversations])
    passed, metadata = the_evaluation(result)
    assert passed, metadata
    assert project.lake.read_parquet(layout.user_activity_path(DAY)).column("user_id").to_pylist() == ["a" * 32]


def test_the_tables_of_a_day_without_its_user_activity_fail_the_check_saying_so(project, instance):
    # A lake built before user_activity, or a selection without it: the tables are refreshed, and
    # the check names what is missing instead of erroring on the absent file.
    anonymized = anonymized_conversations_writing(anonymized_rows(RAW_MESSAGES))
    result = run_day(project, instance, [anonymized, daily_metrics, athena_tables], [athena_tables_serve_partition])
    passed, metadata = the_evaluation(result)
    assert not passed
    assert metadata["problems"] == "- user_activity has no file for 2025-01-01: materialize user_activity, then athena_tables, for the day"
    assert result.asset_materializations_for_node("athena_tables")


class MiscountingWarehouse(DuckDBWarehouseResource):
    """The local warehouse, serving `offset` rows more (or fewer) of the day from `table`."""

    table: str
    offset: int

    def partition_counts(self, day: str) -> dict[str, int]:
        counts = super().partition_counts(day)
        return {**counts, self.table: counts[self.table] + self.offset}


@pytest.mark.parametrize(
    ("table", "offset", "problem"),
    [
        ("recipe_conversations", -1, "recipe_conversations serves 2 rows, the file holds 3"),
        ("daily_metrics", -1, "daily_metrics serves 0 rows for 2025-01-01, expected 1"),
        ("daily_metrics", 1, "daily_metrics serves 2 rows for 2025-01-01, expected 1"),
        ("user_activity", 1, "user_activity serves 2 rows, the file holds 1"),
    ],
)
def test_a_warehouse_that_does_not_serve_the_day_exactly_fails_the_check(project, instance, table, offset, problem):
    warehouse = MiscountingWarehouse(database=project.settings.duckdb_path, lake=project.resources["lake"], table=table, offset=offset)
    anonymized = anonymized_conversations_writing(anonymized_rows(RAW_MESSAGES))
    result = run_day(project, instance, [anonymized, daily_metrics, user_activity, athena_tables], [athena_tables_serve_partition],
                     {**project.resources, "warehouse": warehouse})
    passed, metadata = the_evaluation(result)
    assert not passed
    assert metadata["problems"] == f"- {problem}"
    assert metadata[table] == {"recipe_conversations": 3, "daily_metrics": 1, "user_activity": 1}[table] + offset


# -- the same keys in the same order --------------------------------------------------------------
def cut(keys: list[str], sizes: list[int]) -> list[pa.RecordBatch]:
    """``keys`` as batches of the given sizes (the rest in one more), empty ones included."""
    batches, start = [], 0
    for size in sizes + [len(keys)]:
        batches.append(pa.record_batch({"key": pa.array(keys[start : start + size], pa.string())}))
        start += len(batches[-1])
    return batches


@given(
    left=st.lists(st.sampled_from("abc"), max_size=12), right=st.lists(st.sampled_from("abc"), max_size=12),
    left_sizes=st.lists(st.integers(0, 5), max_size=4), right_sizes=st.lists(st.integers(0, 5), max_size=4),
)
def test_rows_in_step_counts_equal_streams_however_they_are_cut(left, right, left_sizes, right_sizes):
    assert rows_in_step(cut(left, left_sizes), cut(left, right_sizes)) == len(left)
    assert rows_in_step(cut(left, left_sizes), cut(right, right_sizes)) == (len(left) if left == right else None)


def test_rows_in_step_tells_a_null_from_a_value_and_ignores_nullability():
    required = pa.schema([pa.field("key", pa.string(), nullable=False)])
    assert rows_in_step([pa.record_batch([pa.array(["a", "b"])], schema=required)], [pa.record_batch({"key": ["a", "b"]})]) == 2
    assert rows_in_step([pa.record_batch({"key": ["a", None]})], [pa.record_batch({"key": ["a", ""]})]) is None
