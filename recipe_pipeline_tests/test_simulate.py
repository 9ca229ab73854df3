"""The simulator: realistic, deterministic traffic written as AWS-layout exports.

Everything is read back through ``ExportStore`` (manifests, checksums) and resolved here,
independently of the pipeline: the newest ``WriteTimestampMicros`` wins (a full export's items
are as of its ``exportTime``), and a delete removes the item."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from recipe_pipeline.dynamodb_json import deserialize_item, to_plain
from recipe_pipeline.export_writer import ExportWriter
from recipe_pipeline.exports import ExportStore, parse_record, to_micros
from recipe_pipeline.pii import find_pii
from recipe_pipeline.recipes import RECIPE_CATALOGUE, extract_recipe
from recipe_pipeline.simulate import TOOLS, SimulationConfig, build_history, write_simulation
from recipe_pipeline.storage import Location

START = date(2025, 3, 1)
# Small, but with enough traffic for every feature: ~1,300 messages over four days. With seed 24
# some edits fall after their message was erased (they must not write it back).
CONFIG = SimulationConfig(start=START, days=4, seed=24, users=40, conversations_per_day=60, pii_rate=0.1, edit_rate=0.3, erasure_users=2)
TINY = SimulationConfig(start=START, days=2, users=5, conversations_per_day=3)


def parse_timestamp(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Line:
    export_id: str
    is_full: bool
    key: tuple[str, str]
    version: int
    new: dict | None  # plain item after the change (None: delete)
    old: dict | None  # plain item before (incremental, NEW_AND_OLD_IMAGES)


def read_lines(location: Location) -> list[Line]:
    store = ExportStore(location)
    lines = []
    for summary in store.completed():
        for data_file in store.data_files(summary):
            for raw in store.iter_lines(summary, data_file):
                record = parse_record(raw, summary)
                old = None
                if not summary.is_full:
                    old_image = json.loads(raw).get("OldImage")
                    old = to_plain(deserialize_item(old_image)) if old_image else None
                new = to_plain(deserialize_item(record.image)) if record.image is not None else None
                lines.append(Line(summary.export_id, summary.is_full, (record.conversation_id, record.timestamp), record.version_micros, new, old))
    return lines


def final_state(lines: list[Line]) -> dict[tuple[str, str], dict]:
    """Newest version wins; deletes remove."""
    newest: dict[tuple[str, str], Line] = {}
    for line in lines:
        if line.key not in newest or line.version > newest[line.key].version:
            newest[line.key] = line
    return {key: line.new for key, line in newest.items() if line.new is not None}


def file_tree(location: Location) -> dict[str, bytes]:
    return {path: location.read_bytes(path) for path in location.list_files("AWSDynamoDB", recursive=True)}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    location = Location(str(tmp_path_factory.mktemp("sim") / "exports"))
    result = write_simulation(location, CONFIG)
    lines = read_lines(location)
    return location, result, lines, final_state(lines)


# -- the exports -----------------------------------------------------------------------------
def test_one_full_export_then_one_incremental_per_remaining_day(written):
    location, result, _, _ = written
    summaries = ExportStore(location).completed()
    assert [s.export_id for s in summaries] == result.export_ids
    assert len(summaries) == CONFIG.days
    full, incrementals = summaries[0], summaries[1:]
    assert full.is_full and full.export_time == datetime(2025, 3, 2, tzinfo=UTC)  # end of the first day
    for index, summary in enumerate(incrementals, start=1):
        assert not summary.is_full
        midnight = datetime.combine(START + timedelta(days=index), datetime.min.time(), UTC)
        assert (summary.export_from, summary.export_to) == (midnight, midnight + timedelta(days=1))
        assert summary.output_view == "NEW_AND_OLD_IMAGES"
    assert incrementals[0].export_from == full.export_time
    assert incrementals[-1].export_to == CONFIG.end
    assert result.url == location.uri()


def test_each_export_holds_what_was_written_in_its_window(written):
    location, _, lines, _ = written
    summaries = {s.export_id: s for s in ExportStore(location).completed()}
    for line in lines:
        summary = summaries[line.export_id]
        if line.is_full:
            assert parse_timestamp(line.key[1]) < summary.export_time
        else:
            assert to_micros(summary.export_from) <= line.version < to_micros(summary.export_to)
    per_export = Counter((line.export_id, line.key) for line in lines)
    assert max(per_export.values()) == 1  # compacted: one line per item per export


def test_data_files_sit_where_aws_puts_them(written):
    location, _, _, _ = written
    store = ExportStore(location)
    for summary in store.completed():
        folder = f"AWSDynamoDB/{summary.export_id}/data/" if summary.is_full else "AWSDynamoDB/data/"
        files = store.data_files(summary)
        assert files and all(f.path.startswith(folder) and f.key.startswith("exports/AWSDynamoDB/") for f in files)


# -- stats -----------------------------------------------------------------------------------
def test_stats_agree_with_what_the_exports_hold(written):
    _, result, _, state = written
    stats = result.stats
    assert len(state) == stats.messages > 0
    assert len({key[0] for key in state}) == stats.conversations
    assert len({item["user_id"] for item in state.values()}) == stats.users
    days = {key: parse_timestamp(key[1]).date().isoformat() for key in state}
    assert dict(sorted(Counter(days.values()).items())) == stats.messages_per_day
    conversations: dict[str, set] = {}
    users: dict[str, set] = {}
    for key, item in state.items():
        conversations.setdefault(days[key], set()).add(key[0])
        users.setdefault(days[key], set()).add(item["user_id"])
    assert {d: len(v) for d, v in sorted(conversations.items())} == stats.conversations_per_day
    assert {d: len(v) for d, v in sorted(users.items())} == stats.users_per_day
    assert sorted(stats.messages_per_day) == [(START + timedelta(days=i)).isoformat() for i in range(CONFIG.days)]


def test_stats_are_what_build_history_reports(written):
    _, result, _, _ = written
    assert build_history(CONFIG)[1] == result.stats


def test_every_pii_message_is_detectable_and_counted(written):
    _, result, _, state = written
    flagged = [item for item in state.values() if find_pii(item["message"])]
    assert len(flagged) == result.stats.pii_messages > 0
    assert all(item["role"] == "user" for item in flagged)


# -- what the traffic holds ------------------------------------------------------------------
def test_items_look_like_what_the_tracker_writes(written):
    _, _, _, state = written
    for (conversation_id, timestamp), item in state.items():
        assert item["conversation_id"] == conversation_id and item["timestamp"] == timestamp
        moment = parse_timestamp(timestamp)
        assert item["date_str"] == moment.date().isoformat()
        assert item["ttl"] == int((moment + timedelta(days=90)).timestamp())
        assert item["role"] in ("user", "assistant", "tool")
        assert isinstance(item["message"], str) and item["message"]
        assert item["user_id"].startswith("user-")
    assert {item["role"] for item in state.values()} == {"user", "assistant", "tool"}


def test_returning_users_across_days(written):
    _, _, _, state = written
    days_by_user: dict[str, set[str]] = {}
    for item in state.values():
        days_by_user.setdefault(item["user_id"], set()).add(item["date_str"])
    assert sum(len(days) > 1 for days in days_by_user.values()) >= 5
    assert any(len(days) == CONFIG.days for days in days_by_user.values())


def test_conversations_span_midnight(written):
    _, _, _, state = written
    by_conversation: dict[str, set[str]] = {}
    for key in state:
        by_conversation.setdefault(key[0], set()).add(parse_timestamp(key[1]).date().isoformat())
    spanning = [days for days in by_conversation.values() if len(days) > 1]
    assert spanning and all(len(days) == 2 for days in spanning)


def test_pii_messages_in_the_shapes_people_type(written):
    _, _, _, state = written
    kinds = Counter(span.kind for item in state.values() for span in find_pii(item["message"]))
    assert kinds["EMAIL"] and kinds["PHONE"]
    assert set(kinds) >= {"EMAIL", "PHONE"} and len(kinds) >= 4


def test_edits_are_later_versions_of_an_item(written):
    _, result, lines, state = written
    edited = [item for item in state.values() if "(Edited" in item["message"]]
    assert 0 < len(edited) <= result.stats.edits
    assert all(item["role"] == "assistant" for item in edited)
    # An edit that lands in a later export is an update: the old image is the original reply.
    updates = [line for line in lines if line.new and line.old and line.new["message"] != line.old["message"]]
    assert updates
    for line in updates:
        assert line.new["message"] == line.old["message"] + " (Edited: check the oven temperature.)"


def test_erasures_delete_every_earlier_item_of_a_user_for_good(written):
    _, result, lines, state = written
    deletes = [line for line in lines if line.new is None]
    # An item written and erased inside one export window leaves no line (DynamoDB compacts it).
    assert 0 < len(deletes) <= result.stats.deletions
    assert all(line.old is not None for line in deletes)  # NEW_AND_OLD_IMAGES: the old image comes along
    erased_from: dict[str, int] = {}
    for line in deletes:
        user = line.old["user_id"]
        erased_from[user] = min(erased_from.get(user, line.version), line.version)
        assert line.key not in state  # nothing writes an erased item back (not even an edit)
        later = [other for other in lines if other.key == line.key and other.version > line.version]
        assert later == []
    assert 1 <= len(erased_from) <= CONFIG.erasure_users
    for item in state.values():
        if item["user_id"] in erased_from:  # only messages after the request remain
            assert to_micros(parse_timestamp(item["timestamp"])) > erased_from[item["user_id"]] - 5_000_000


def test_tool_metadata_and_ratings(written):
    _, _, _, state = written
    items = list(state.values())
    used = {tool for item in items for tool in item.get("metadata", {}).get("tools_used", [])}
    assert used == set(TOOLS)
    tool_items = [item for item in items if item["role"] == "tool"]
    assert tool_items and all(item["metadata"]["tool"] in TOOLS for item in tool_items)
    ratings = {item["metadata"]["rating"] for item in items if "rating" in item.get("metadata", {})}
    assert ratings and ratings <= {1, 2, 3, 4, 5}


def test_both_timestamp_styles(written):
    _, _, _, state = written
    timestamps = [key[1] for key in state]
    zulu = [t for t in timestamps if t.endswith("Z")]
    naive = [t for t in timestamps if parse_timestamp(t).tzinfo is UTC and not t.endswith("Z") and "+" not in t]
    assert zulu and naive and len(zulu) + len(naive) == len(timestamps)
    assert all(datetime.fromisoformat(t).tzinfo is None for t in naive)  # the seed's isoformat()


def test_every_recipe_the_simulator_names_is_in_the_catalogue(written):
    _, _, _, state = written
    items = list(state.values())
    named = {extract_recipe(item["message"]) for item in items} - {None}
    assert len(named) >= 20 and named <= set(RECIPE_CATALOGUE)
    stored = {item["recipe_name"] for item in items if "recipe_name" in item}  # the seed's write-time guess
    assert stored and stored <= set(RECIPE_CATALOGUE)
    assert all(item["has_recipe"] is True for item in items if "has_recipe" in item)


# -- determinism and re-runs -----------------------------------------------------------------
def test_same_config_writes_byte_identical_exports(tmp_path, written):
    location, result, _, _ = written
    again = Location(str(tmp_path / "again"))
    second = write_simulation(again, CONFIG)
    assert second.export_ids == result.export_ids and second.stats == result.stats
    assert file_tree(again) == file_tree(location)


def test_another_seed_writes_other_data(tmp_path):
    first, second = Location(str(tmp_path / "a")), Location(str(tmp_path / "b"))
    write_simulation(first, TINY)
    write_simulation(second, replace(TINY, seed=TINY.seed + 1))
    a, b = file_tree(first), file_tree(second)
    assert set(a.values()) != set(b.values())
    assert final_state(read_lines(first)) != final_state(read_lines(second))


def test_rerunning_into_the_same_location_is_allowed_and_changes_nothing(tmp_path):
    location = Location(str(tmp_path / "exports"))
    first = write_simulation(location, TINY)
    before = file_tree(location)
    second = write_simulation(location, TINY)
    assert second.export_ids == first.export_ids and second.stats == first.stats
    assert file_tree(location) == before


def test_a_location_with_a_foreign_export_is_refused_unless_forced(tmp_path):
    location = Location(str(tmp_path / "exports"))
    write_simulation(location, TINY)
    before = file_tree(location)
    other = replace(TINY, seed=99)
    with pytest.raises(FileExistsError, match="did not write"):
        write_simulation(location, other)
    assert file_tree(location) == before  # nothing written on refusal
    forced = write_simulation(location, other, force=True)
    ids = set(ExportStore(location).export_ids())
    assert set(forced.export_ids) <= ids and len(ids) == 2 * TINY.days


def test_a_real_export_is_foreign_too(tmp_path):
    location = Location(str(tmp_path / "exports"))
    item = {"conversation_id": "c", "timestamp": "2025-03-01T10:00:00Z", "user_id": "u", "role": "user", "message": "hi"}
    ExportWriter(location).write_full_export([item], datetime(2025, 3, 2, tzinfo=UTC))
    with pytest.raises(FileExistsError):
        write_simulation(location, TINY)
    # an export still running (no summary yet) is foreign as well
    running = Location(str(tmp_path / "running"))
    running.write_bytes(b"", "AWSDynamoDB", "01740000000000-deadbeef", "_started")
    with pytest.raises(FileExistsError):
        write_simulation(running, TINY)


def test_the_new_image_view_writes_deletes_as_keys_only(tmp_path):
    location = Location(str(tmp_path / "exports"))
    config = replace(TINY, users=8, conversations_per_day=8, view="NEW_IMAGE", erasure_users=1)
    result = write_simulation(location, config)
    lines = read_lines(location)
    deletes = [line for line in lines if line.new is None]
    assert 0 < len(deletes) <= result.stats.deletions
    assert all(line.old is None for line in lines)
    assert all(s.output_view == "NEW_IMAGE" for s in ExportStore(location).completed() if not s.is_full)
    assert len(final_state(lines)) == result.stats.messages


def test_a_one_day_simulation_is_just_the_full_export(tmp_path):
    location = Location(str(tmp_path / "exports"))
    result = write_simulation(location, replace(TINY, days=1))
    summaries = ExportStore(location).completed()
    assert len(summaries) == 1 and summaries[0].is_full
    assert result.stats.deletions == 0 and result.stats.messages == len(final_state(read_lines(location))) > 0
