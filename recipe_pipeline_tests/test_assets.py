"""The daily pipeline materialized for real on simulated exports, checked against answers
computed independently from the simulator's table history."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.parquet as pq
import pytest

from recipe_pipeline import lake as layout
from recipe_pipeline.assets.ingestion import raw_conversations
from recipe_pipeline.assets.metrics import daily_metrics
from recipe_pipeline.assets.privacy import anonymized_conversations
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.export_writer import Change, ExportWriter
from recipe_pipeline.exports import ExportStore
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.simulate import build_history
from recipe_pipeline_tests.conftest import SMALL_SIMULATION, TEST_PSEUDONYM_KEY

DAYS = [(SMALL_SIMULATION.start + timedelta(days=i)).isoformat() for i in range(SMALL_SIMULATION.days)]


def run_day(project, instance, day: str, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    job = build_definitions(project.settings).resolve_job_def("daily_pipeline")
    return job.execute_in_process(partition_key=day, instance=instance, raise_on_error=raise_on_error)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The error (with its causes) of the run's one failed step."""
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.error.to_string()


def expected_items_by_day() -> dict[str, list[dict]]:
    """The table's contents at the end of the simulation, by the UTC day of each item's timestamp."""
    history, _ = build_history(SMALL_SIMULATION)
    by_day: dict[str, list[dict]] = defaultdict(list)
    for item in history.state_at(SMALL_SIMULATION.end).values():
        moment = datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        by_day[moment.astimezone(UTC).date().isoformat()].append(item)
    return by_day


def expected_metrics(items: list[dict]) -> dict:
    conversations = {i["conversation_id"] for i in items}
    tools: Counter[str] = Counter()
    hours: Counter[str] = Counter()
    for item in items:
        metadata = item.get("metadata") or {}
        tools.update(set(metadata.get("tools_used", [])) | ({metadata["tool"]} if "tool" in metadata else set()))
        moment = datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00"))
        hours[f"{moment.hour:02d}"] += 1
    return {
        "total_messages": len(items),
        "total_conversations": len(conversations),
        "unique_users": len({i["user_id"] for i in items}),
        "avg_conversation_length": round(len(items) / len(conversations), 4),
        "user_messages": sum(i["role"] == "user" for i in items),
        "assistant_messages": sum(i["role"] == "assistant" for i in items),
        "tool_messages": sum(i["role"] == "tool" for i in items),
        "messages_by_hour": dict(sorted(hours.items())),
        "tool_usage": dict(sorted(tools.items())),
    }


@pytest.fixture
def built(project, simulated, instance):
    results = {day: run_day(project, instance, day) for day in DAYS}
    return results


def test_every_layer_matches_an_independent_computation(project, built):
    expected = expected_items_by_day()
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    assert sorted(expected) == DAYS
    for day in DAYS:
        items = expected[day]
        raw = project.lake.read_parquet(layout.raw_conversations_path(day))
        assert sorted(zip(raw.column("conversation_id").to_pylist(), raw.column("timestamp").to_pylist())) == sorted(
            (i["conversation_id"], i["timestamp"]) for i in items
        )
        by_key = {(i["conversation_id"], i["timestamp"]): i for i in items}
        for row in raw.to_pylist():
            assert row["message"] == by_key[(row["conversation_id"], row["timestamp"])]["message"]  # newest version won

        anonymized = project.lake.read_parquet(layout.conversations_path(day))
        assert anonymized.num_rows == len(items)
        assert set(anonymized.column("user_id").to_pylist()) == {pseudonymizer.pseudonym(i["user_id"]) for i in items}
        raw_ids = {i["user_id"] for i in items}
        for row in anonymized.to_pylist():
            assert row["user_id"] not in raw_ids
            assert not any(raw_id in row["message"] for raw_id in raw_ids)

        metrics = json.loads(project.lake.read_bytes(layout.daily_metrics_path(day)))
        want = expected_metrics(items)
        assert {k: metrics[k] for k in want} == want
        assert metrics["date"] == day
        assert sum(metrics["recipes_discussed"].values()) == sum(anonymized.column("has_recipe").to_pylist())

        activity = project.lake.read_parquet(layout.user_activity_path(day))
        messages_by_user = Counter(pseudonymizer.pseudonym(i["user_id"]) for i in items)
        assert activity.column("user_id").to_pylist() == sorted(messages_by_user)
        assert dict(zip(activity.column("user_id").to_pylist(), activity.column("messages").to_pylist())) == messages_by_user
        assert {d.isoformat() for d in activity.column("activity_date").to_pylist()} == {day}


def test_all_asset_checks_pass_and_metadata_is_recorded(built):
    for day, result in built.items():
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == 9, day
        assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]
        [raw_event] = result.asset_materializations_for_node("raw_conversations")
        metadata = raw_event.metadata
        assert metadata["dagster/row_count"].value > 0
        assert metadata["exports_read"].value
        assert "dagster/column_schema" in metadata
        # The restricted zone's contents never reach run metadata.
        assert "user-" not in json.dumps({k: str(v.value) for k, v in metadata.items()})


def test_rerunning_a_partition_replaces_it(project, instance, built):
    day = DAYS[1]
    paths = [layout.raw_conversations_path(day), layout.conversations_path(day), layout.user_activity_path(day), layout.daily_metrics_path(day)]
    before = [project.lake.read_bytes(p) for p in paths[3:]] + [project.lake.read_parquet(p) for p in paths[:3]]
    assert run_day(project, instance, day).success
    after = [project.lake.read_bytes(p) for p in paths[3:]] + [project.lake.read_parquet(p) for p in paths[:3]]
    assert before[0] == after[0]
    assert all(b.equals(a) for b, a in zip(before[1:], after[1:]))
    for path in paths:  # one object per zone and day, nothing appended
        folder = path.rsplit("/", 1)[0]
        assert project.lake.list_files(folder) == [path]


def test_corrupt_export_fails_the_run_and_keeps_the_previous_output(project, instance, built):
    day = DAYS[0]
    store = ExportStore(project.exports)
    full = next(s for s in store.completed() if s.is_full)
    data_file = next(f for f in store.data_files(full) if f.item_count)
    # The day reads the full export's copy cut by day; gone (expired), it reads the export again.
    assert project.lake.list_files(layout.EXPORT_DAYS, full.export_id, recursive=True)
    project.lake.delete_dir(layout.EXPORT_DAYS, full.export_id)
    previous = project.lake.read_bytes(layout.raw_conversations_path(day))
    original = project.exports.read_bytes(data_file.path)
    project.exports.write_bytes(original[: len(original) // 2], data_file.path)  # truncated upload

    result = dg.materialize(
        [raw_conversations], partition_key=day, resources=project.resources, instance=instance, raise_on_error=False
    )
    assert not result.success
    message = failure_text(result)
    assert full.export_id in message and data_file.key in message
    assert project.lake.read_bytes(layout.raw_conversations_path(day)) == previous


def test_erasure_in_a_later_export_removes_the_item_from_every_zone(project, instance, built):
    day = DAYS[0]
    raw = project.lake.read_parquet(layout.raw_conversations_path(day)).to_pylist()
    victim = raw[0]
    key = (victim["conversation_id"], victim["timestamp"])
    erased_at = SMALL_SIMULATION.end + timedelta(hours=3)
    ExportWriter(project.exports).write_incremental_export(
        [Change(key, int(erased_at.timestamp() * 1_000_000), None, None)],
        SMALL_SIMULATION.end,
        SMALL_SIMULATION.end + timedelta(days=1),
        view="NEW_IMAGE",
    )
    before = json.loads(project.lake.read_bytes(layout.daily_metrics_path(day)))
    assert run_day(project, instance, day).success
    raw_after = project.lake.read_parquet(layout.raw_conversations_path(day))
    anonymized_after = project.lake.read_parquet(layout.conversations_path(day))
    assert key not in set(zip(raw_after.column("conversation_id").to_pylist(), raw_after.column("timestamp").to_pylist()))
    assert key not in set(zip(anonymized_after.column("conversation_id").to_pylist(), anonymized_after.column("timestamp").to_pylist()))
    after = json.loads(project.lake.read_bytes(layout.daily_metrics_path(day)))
    assert after["total_messages"] == before["total_messages"] - 1


def test_unreadable_items_are_quarantined_with_a_reason_and_counted(project, instance):
    export_time = datetime(2025, 1, 2, tzinfo=UTC)
    good = {"conversation_id": "c1", "timestamp": "2025-01-01T10:00:00.000001Z", "user_id": "u1", "role": "user", "message": "hi"}
    no_user = {"conversation_id": "c1", "timestamp": "2025-01-01T10:00:01.000001Z", "role": "user", "message": "hello"}
    bad_time = {"conversation_id": "c2", "timestamp": "yesterday at noon", "user_id": "u2", "role": "user", "message": "x"}
    wrong_type = {"conversation_id": "c3", "timestamp": "2025-01-01T11:00:00", "user_id": "u3", "role": "user", "message": 42}
    ExportWriter(project.exports).write_full_export([good, no_user, bad_time, wrong_type], export_time)

    result = run_day(project, instance, "2025-01-01", raise_on_error=False)
    [raw_event] = result.asset_materializations_for_node("raw_conversations")
    assert raw_event.metadata["dagster/row_count"].value == 1
    assert raw_event.metadata["quarantined"].value == 2
    lines = [json.loads(line) for line in project.lake.read_bytes(layout.day_quarantine_path("2025-01-01")).splitlines()]
    reasons = sorted(q["reason"] for q in lines)
    assert any("user_id" in r for r in reasons) and any("message" in r for r in reasons)
    # The unparseable timestamp belongs to no day: quarantined per export, with its reason.
    export_quarantine = [p for p in project.lake.list_files(layout.QUARANTINE, recursive=True) if "/exports/" in "/" + p]
    assert export_quarantine
    text = b"".join(project.lake.read_bytes(p) for p in export_quarantine).decode()
    assert "yesterday at noon" in text or "timestamp" in text
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["raw_conversations_counts_conserved"] is True
    assert checks["raw_conversations_quarantine_rate"] is False  # 2 of 3 is far above 0.1%


def test_a_downstream_asset_without_its_upstream_partition_fails_clearly(project, instance):
    result = dg.materialize(
        [daily_metrics], partition_key="2025-01-05", resources=project.resources, instance=instance, raise_on_error=False
    )
    assert not result.success
    assert "anonymized_conversations for 2025-01-05 has not been materialized" in failure_text(result)


def test_anonymized_asset_alone_reads_the_raw_partition(project, simulated, instance):
    day = DAYS[2]
    assert dg.materialize([raw_conversations, anonymized_conversations], partition_key=day, resources=project.resources, instance=instance).success
    table = pq.read_table(project.lake.path(layout.conversations_path(day)))
    assert table.num_rows == simulated.stats.messages_per_day[day]
    assert sum(table.column("pii_redactions").to_pylist()) > 0
    assert all("@" not in m for m in table.column("message").to_pylist())
