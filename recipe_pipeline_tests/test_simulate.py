"""The simulator: realistic, deterministic traffic written as AWS-layout exports."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from recipe_pipeline.dynamodb_json import deserialize_item, to_plain
from recipe_pipeline.exports import ExportStore, parse_record
from recipe_pipeline.recipes import RECIPE_CATALOGUE, extract_recipe
from recipe_pipeline.simulate import SimulationConfig, build_history, write_simulation
from recipe_pipeline.storage import Location

CONFIG = SimulationConfig(start=date(2025, 3, 1), days=4, seed=21, users=60, conversations_per_day=60, pii_rate=0.1, edit_rate=0.05)


def final_state(store: ExportStore) -> dict[tuple[str, str], dict]:
    """Resolve the exports independently: newest version wins, deletes remove."""
    versions: dict[tuple[str, str], tuple[int, dict | None]] = {}
    for summary in store.completed():
        for data_file in store.data_files(summary):
            for line in store.iter_lines(summary, data_file):
                record = parse_record(line, summary)
                key = (record.conversation_id, record.timestamp)
                if key not in versions or record.version_micros >= versions[key][0]:
                    versions[key] = (record.version_micros, record.image)
    return {k: to_plain(deserialize_item(image)) for k, (_, image) in versions.items() if image is not None}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    location = Location(str(tmp_path_factory.mktemp("sim") / "exports"))
    return location, write_simulation(location, CONFIG)


def test_one_full_export_then_one_incremental_per_day(written):
    location, result = written
    summaries = ExportStore(location).completed()
    assert [s.export_id for s in summaries] == result.export_ids
    assert summaries[0].is_full and summaries[0].export_time == datetime(2025, 3, 2, tzinfo=UTC)
    for previous, current in zip(summaries[1:], summaries[2:]):
        assert current.export_from == previous.export_to
    for index, summary in enumerate(summaries[1:], start=1):
        assert not summary.is_full
        assert summary.export_from == datetime(2025, 3, 1, tzinfo=UTC) + timedelta(days=index)
        assert summary.export_to - summary.export_from == timedelta(days=1)


def test_stats_agree_with_what_the_exports_hold(written):
    location, result = written
    state = final_state(ExportStore(location))
    assert len(state) == result.stats.messages
    assert len({k[0] for k in state}) == result.stats.conversations
    assert len({i["user_id"] for i in state.values()}) == result.stats.users
    per_day = Counter(datetime.fromisoformat(k[1].replace("Z", "+00:00")).date().isoformat() for k in state)
    assert dict(sorted(per_day.items())) == result.stats.messages_per_day


def test_the_traffic_has_what_the_pipeline_must_handle(written):
    location, result = written
    state = final_state(ExportStore(location))
    items = list(state.values())
    days_by_user: dict[str, set[str]] = {}
    for item in items:
        days_by_user.setdefault(item["user_id"], set()).add(item["date_str"])
    assert sum(len(days) > 1 for days in days_by_user.values()) >= 5  # returning users

    by_conversation: dict[str, set[str]] = {}
    for item in items:
        by_conversation.setdefault(item["conversation_id"], set()).add(item["timestamp"][:10])
    assert any(len(days) > 1 for days in by_conversation.values())  # past midnight

    assert result.stats.pii_messages > 0 and any("@" in i["message"] for i in items)
    assert result.stats.edits > 0 and any("(Edited" in i["message"] for i in items)
    assert result.stats.deletions > 0
    assert {"web_search", "cookware_check", "timer", "unit_conversion"} <= {t for i in items for t in i.get("metadata", {}).get("tools_used", [])}
    assert any(i["timestamp"].endswith("Z") for i in items) and any(not i["timestamp"].endswith("Z") for i in items)
    assert {i["role"] for i in items} == {"user", "assistant", "tool"}
    named = {extract_recipe(i["message"]) for i in items if i["role"] == "assistant"} - {None}
    assert named and named <= set(RECIPE_CATALOGUE)  # every simulated recipe is categorized
    assert all(i["ttl"] > 0 for i in items)


def test_same_config_same_bytes_other_seed_other_data(tmp_path, written):
    location, result = written
    again = Location(str(tmp_path / "again"))
    write_simulation(again, CONFIG)
    for path in location.list_files("AWSDynamoDB", recursive=True):
        assert again.read_bytes(path) == location.read_bytes(path), path
    _, other_stats = build_history(SimulationConfig(**{**CONFIG.__dict__, "seed": 22}))
    assert other_stats.messages_per_day != result.stats.messages_per_day


def test_foreign_exports_are_refused_unless_forced(tmp_path):
    location = Location(str(tmp_path / "exports"))
    small = SimulationConfig(days=2, users=5, conversations_per_day=3)
    write_simulation(location, small)
    write_simulation(location, small)  # re-running the same simulation is fine
    other = SimulationConfig(days=2, users=5, conversations_per_day=3, seed=99)
    with pytest.raises(FileExistsError, match="did not write"):
        write_simulation(location, other)
    assert write_simulation(location, other, force=True).export_ids
