"""``forget-user``: the user's rows leave every zone, metrics are recomputed, an audit record
without the raw id is written, and a rebuilt day keeps the user out."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from click.testing import CliRunner

from recipe_pipeline import anonymize, erasure, export_index, raw
from recipe_pipeline import lake as layout
from recipe_pipeline.catchup import catch_up
from recipe_pipeline.cli import main
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.erasure import forget_user
from recipe_pipeline.export_index import load_or_build_export_index, write_export_index
from recipe_pipeline.export_writer import Change, ExportWriter, micros
from recipe_pipeline.checks import raw_conversations_counts_conserved
from recipe_pipeline.export_columns import read_data_file
from recipe_pipeline.export_index import DAY_FILE_ROW_GROUP
from recipe_pipeline.exports import ExportStore
from recipe_pipeline.partitions import export_partitions
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.raw import write_day_quarantine, write_raw_day, write_raw_day_and_quarantine
from recipe_pipeline.retention import CONVERSATION_RETENTION_DAYS, apply_retention
from recipe_pipeline.storage import Location
from recipe_pipeline_tests.conftest import TEST_PSEUDONYM_KEY


def test_a_parquet_file_less_a_user_keeps_its_row_groups_schema_and_provenance():
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = layout.with_provenance(pa.table({"user_id": ["u", "v", "u", None, "w", "u"], "n": list(range(6))}), {"counts": {"rows": 6}})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=2)

    def moved(provenance: dict, removed: int) -> None:
        provenance["counts"] = {"rows": provenance["counts"]["rows"] - removed, "erased": removed}

    def without(data: pa.Buffer, identity: str, *args, **kwargs) -> tuple[erasure.Rewrite, pa.Buffer]:
        written = pa.BufferOutputStream()
        return erasure._without_user_in_parquet(pa.BufferReader(data), written, identity, *args, **kwargs), written.getvalue()

    rewrite, data = without(sink.getvalue(), "u", moved)

    written = pq.ParquetFile(pa.BufferReader(data))
    assert rewrite == erasure.Rewrite(3, written=True)
    assert [written.metadata.row_group(i).num_rows for i in range(written.num_row_groups)] == [1, 1, 1]
    assert written.read().to_pydict() == {"user_id": ["v", None, "w"], "n": [1, 3, 4]}
    assert written.schema_arrow.remove_metadata() == table.schema.remove_metadata()
    assert layout.file_provenance(written) == {"counts": {"rows": 3, "erased": 3}}
    assert without(data, "u") == (erasure.Rewrite(0), pa.py_buffer(b""))  # nobody left: nothing written
    everyone, everyone_data = without(data, "nobody", moved, always=True)
    assert everyone.written and pq.ParquetFile(pa.BufferReader(everyone_data)).metadata.num_rows == 3


def test_a_cut_file_of_lines_less_a_user_is_rewritten_in_its_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    lake = Location(str(tmp_path / "lake"))
    path = layout.export_day_file("01-export", "2025-01-01", "lines", 0)

    def line(user_id: str | None, n: int) -> bytes:
        item = {"conversation_id": {"S": f"c{n}"}, "timestamp": {"S": "2025-01-01T00:00:00Z"}, "odd": {"NS": ["1"]}}
        if user_id:
            item["user_id"] = {"S": user_id}
        return json.dumps({"Item": item}).encode()

    users = ["u", "v", "u", None, "w", "u"]
    table = pa.table({"line_number": list(range(6)), "line": [line(user, n) for n, user in enumerate(users)]}, schema=export_index.LINES_SCHEMA)
    lake.ensure_dir(layout.export_day_dir("01-export", "2025-01-01"))
    pq.write_table(table, lake.path(path), row_group_size=2)

    assert erasure._without_user_lines(lake, path, "u") == 3
    kept = lake.parquet_file(path)
    assert [kept.metadata.row_group(i).num_rows for i in range(kept.num_row_groups)] == [1, 1, 1]
    assert kept.read().column("line_number").to_pylist() == [1, 3, 4]
    assert kept.schema_arrow == export_index.LINES_SCHEMA
    assert erasure._without_user_lines(lake, path, "u") == 0
    assert [name for name in os.listdir(lake.path(layout.export_day_dir("01-export", "2025-01-01")))] == ["lines-00000.parquet"]


def busiest_user(project) -> tuple[str, dict[str, int]]:
    per_user: dict[str, dict[str, int]] = {}
    for day in layout.days_present(project.lake, layout.RAW_CONVERSATIONS):
        for user in project.lake.read_parquet(layout.raw_conversations_path(day), columns=["user_id"]).column("user_id").to_pylist():
            per_user.setdefault(user, {}).setdefault(day, 0)
            per_user[user][day] += 1
    return max(per_user.items(), key=lambda kv: (len(kv[1]), sum(kv[1].values())))


def test_forget_user_removes_rows_recomputes_metrics_and_audits(project, simulated, instance):
    defs = build_definitions(project.settings)
    assert catch_up(defs, instance, log=lambda _: None).ok
    user_id, rows_by_day = busiest_user(project)
    assert len(rows_by_day) >= 2
    pseudonym = Pseudonymizer(TEST_PSEUDONYM_KEY).pseudonym(user_id)
    before = {d: json.loads(project.lake.read_bytes(layout.daily_metrics_path(d))) for d in rows_by_day}
    counts_before = {d: layout.read_provenance(project.lake, layout.raw_conversations_path(d))["counts"] for d in rows_by_day}

    result = CliRunner().invoke(main, ["forget-user", user_id], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{sum(rows_by_day.values()) * 2} row(s) removed from {len(rows_by_day)} day(s)" in result.output
    assert f"and the user's activity from {len(rows_by_day)} day(s) of user_activity" in result.output
    assert user_id not in result.output

    for day, removed in rows_by_day.items():
        raw = project.lake.read_parquet(layout.raw_conversations_path(day))
        assert user_id not in raw.column("user_id").to_pylist()
        # Before any rebuild, the rewritten file's own counts must still describe it.
        counts = layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]
        assert counts["rows"] == raw.num_rows == counts_before[day]["rows"] - removed
        assert counts["erased"] == counts_before[day].get("erased", 0) + removed
        anonymized = project.lake.read_parquet(layout.conversations_path(day))
        assert pseudonym not in anonymized.column("user_id").to_pylist()
        metrics = json.loads(project.lake.read_bytes(layout.daily_metrics_path(day)))
        assert metrics["total_messages"] == before[day]["total_messages"] - removed
        assert metrics["unique_users"] == before[day]["unique_users"] - 1

    [audit_path] = project.lake.list_files(layout.ERASURE_AUDIT)
    audit_text = project.lake.read_bytes(audit_path).decode()
    audit = json.loads(audit_text)
    assert user_id not in audit_text
    assert audit["pseudonym"] == pseudonym and audit["days"] == sorted(rows_by_day)
    assert audit["rows_removed"]["raw"] == rows_by_day
    assert audit["activity_rows_removed"] == {day: 1 for day in rows_by_day}

    # The full export's copy cut by day loses the user's items; its index counts them as erased.
    assert sum(audit["export_day_items_removed"].values()) > 0
    for path in audit["export_day_items_removed"]:  # rewritten in the cut's row groups, not whole
        metadata = project.lake.parquet_file(path).metadata
        assert all(metadata.row_group(i).num_rows <= DAY_FILE_ROW_GROUP for i in range(metadata.num_row_groups))
    # The days written before still add up against the indexes, without being rebuilt.
    for day in rows_by_day:
        evaluation = conserved(defs, day, instance)
        assert evaluation.passed, evaluation.metadata
    for path in project.lake.list_files(layout.EXPORT_DAYS, recursive=True):
        if "/rows-" in path:
            assert user_id not in project.lake.read_parquet(path).column("user_id").to_pylist()
    indexes = [json.loads(project.lake.read_bytes(p)) for p in project.lake.list_files(layout.EXPORT_INDEX)]
    assert sum(index.get("erased", 0) for index in indexes) == sum(audit["export_day_items_removed"].values())

    # A day rebuilt from the exports keeps the user out: the incremental exports still hold the
    # user's later versions, left out as they are read. The conservation checks still add up.
    day = sorted(rows_by_day)[0]
    rebuilt = defs.resolve_job_def("daily_pipeline").execute_in_process(partition_key=day, instance=instance)
    assert rebuilt.success
    assert all(e.passed for e in rebuilt.get_asset_check_evaluations())
    raw = project.lake.read_parquet(layout.raw_conversations_path(day))
    assert user_id not in raw.column("user_id").to_pylist()
    counts = layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]
    erased = counts["erased"]
    assert 0 < erased <= rows_by_day[day]
    assert counts["deleted"] <= counts_before[day]["deleted"]  # an erasure never shows as a deletion
    [materialization] = rebuilt.asset_materializations_for_node("raw_conversations")
    assert materialization.metadata["erased"] == dg.IntMetadataValue(erased)

    # With no copy cut by day, the day reads the exports again and leaves every version out.
    project.lake.delete_dir(layout.EXPORT_DAYS)
    for index_path in project.lake.list_files(layout.EXPORT_INDEX):
        project.lake.delete(index_path)
    rebuilt = defs.resolve_job_def("daily_pipeline").execute_in_process(partition_key=day, instance=instance)
    assert rebuilt.success and all(e.passed for e in rebuilt.get_asset_check_evaluations())
    assert project.lake.list_files(layout.EXPORT_DAYS, recursive=True)  # cut again, without the user
    assert user_id not in project.lake.read_parquet(layout.raw_conversations_path(day)).column("user_id").to_pylist()


def test_forget_user_removes_the_user_from_the_activity_kept_after_the_conversations_expired(project, simulated, instance):
    # user_activity is kept 2 years, conversations 90 days: a day whose conversations have gone
    # has nothing left to recompute its activity from, so the sweep itself must take the user out.
    assert catch_up(build_definitions(project.settings), instance, log=lambda _: None).ok
    user_id, rows_by_day = busiest_user(project)
    pseudonym = Pseudonymizer(TEST_PSEUDONYM_KEY).pseudonym(user_id)
    first = min(rows_by_day)
    apply_retention(project.lake, date.fromisoformat(first) + timedelta(days=CONVERSATION_RETENTION_DAYS + 1))
    assert not project.lake.exists(layout.conversations_path(first))

    def activity(day: str) -> list[str]:
        return project.lake.read_parquet(layout.user_activity_path(day)).column("user_id").to_pylist()

    assert pseudonym in activity(first)
    others = len(activity(first)) - 1

    report = forget_user(project.lake, Pseudonymizer(TEST_PSEUDONYM_KEY), user_id)

    assert report.activity_rows_removed[first] == 1 and first not in report.days  # no conversations there to recompute
    assert pseudonym not in activity(first) and len(activity(first)) == others
    for day in layout.days_present(project.lake, layout.USER_ACTIVITY):
        assert pseudonym not in activity(day)
    audit = json.loads(project.lake.read_bytes(report.audit_path))
    assert audit["activity_rows_removed"] == {day: 1 for day in rows_by_day} and user_id not in json.dumps(audit)


def test_an_erased_item_the_snapshot_lost_but_an_older_export_holds_is_counted_as_erased(project, instance):
    # The item's newest version is in the full export's copy cut by day, an older one in an
    # incremental export before it. Once forget-user takes it out of the cut, the day sees only
    # the older version, which the snapshot lacks: it was erased, not deleted.
    day = "2025-01-01"
    # c1 is read columnar; c3's timestamp, with an offset, sends it down the exact path.
    newest = [conversation_item("c1", "user-u", "hello"), {**conversation_item("c3", "user-u", "hello"), "timestamp": "2025-01-01T10:00:00+01:00"}]
    older = [{**item, "message": "hello (before an edit)"} for item in newest]
    writer = ExportWriter(project.exports)
    writer.write_incremental_export([Change((item["conversation_id"], item["timestamp"]), micros(datetime(2025, 1, 1, 9, 30, tzinfo=UTC)), item, None)
                                     for item in older], datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 12, tzinfo=UTC))
    writer.write_full_export([*newest, conversation_item("c2", "user-v", "hi")], datetime(2025, 1, 2, tzinfo=UTC))
    defs = build_definitions(project.settings)
    job = defs.resolve_job_def("daily_pipeline")
    assert job.execute_in_process(partition_key=day, instance=instance).success
    forget_user(project.lake, Pseudonymizer(TEST_PSEUDONYM_KEY), "user-u")

    rebuilt = job.execute_in_process(partition_key=day, instance=instance)
    assert rebuilt.success and all(e.passed for e in rebuilt.get_asset_check_evaluations())
    counts = layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]
    assert (counts["rows"], counts["erased"], counts["deleted"], counts["deleted_by_snapshot"]) == (1, 2, 0, 0)
    assert counts["unique_items"] == 3


def conversation_item(conversation_id: str, user_id: str, message) -> dict:
    return {"conversation_id": conversation_id, "timestamp": "2025-01-01T09:00:00Z", "user_id": user_id, "role": "user", "message": message}


def quarantined_users(project, day: str) -> list[str]:
    if not project.lake.exists(layout.day_quarantine_path(day)):  # deleted once empty
        return []
    lines = project.lake.read_bytes(layout.day_quarantine_path(day)).splitlines()
    return sorted(json.loads(line)["image"]["user_id"]["S"] for line in lines)


def test_forget_user_removes_the_users_quarantined_images(project, instance):
    # A quarantined item keeps its whole raw image (text, user id): erasure must reach it too.
    ExportWriter(project.exports).write_full_export(
        [
            conversation_item("c1", "user-u", "hello"),
            conversation_item("c2", "user-u", 42),  # a number, not text: quarantined
            conversation_item("c3", "user-v", 7),
        ],
        datetime(2025, 1, 2, tzinfo=UTC),
    )
    day = "2025-01-01"
    defs = build_definitions(project.settings)
    assert defs.resolve_job_def("daily_pipeline").execute_in_process(partition_key=day, instance=instance).success
    assert quarantined_users(project, day) == ["user-u", "user-v"]
    raw_path = layout.raw_conversations_path(day)
    before = layout.read_provenance(project.lake, raw_path)["counts"]

    report = forget_user(project.lake, Pseudonymizer(TEST_PSEUDONYM_KEY), "user-u")

    assert quarantined_users(project, day) == ["user-v"]
    assert report.rows_removed["quarantine"] == {day: 1}
    assert report.rows_removed["raw"] == {day: 1}
    after = layout.read_provenance(project.lake, raw_path)["counts"]
    assert after["quarantined"] == before["quarantined"] - 1
    assert after["erased"] == before.get("erased", 0) + 2
    assert after["unique_items"] == after["rows"] + after["deleted"] + after["quarantined"] + after["erased"]


def test_forget_user_removes_the_users_unreadable_export_lines(project):
    # Lines no day could take are quarantined by export, as raw text: erasure must reach them.
    ExportWriter(project.exports).write_full_export(
        [conversation_item("c1", "user-v", "hello")],
        datetime(2025, 1, 2, tzinfo=UTC),
        extra_lines=[
            b'{"Item":{"conversation_id":{"S":"c2"},"timestamp":{"S":"yesterday"},"user_id":{"S":"user-u"}}}',
            b'{"Item":{"conversation_id":{"S":"c3"},"timestamp":{"S":"yesterday"},"user_id":{"S":"user-v"}}',  # cut short
            b'{"Item":{"conversation_id":{"S":"c4"},"user_id":{"S":"user-u"',
        ],
    )
    store = ExportStore(project.exports)
    [summary] = store.completed()
    assert load_or_build_export_index(store, project.lake, summary).quarantined == 3

    def quarantined_lines() -> list[str]:
        paths = project.lake.list_files(layout.EXPORT_QUARANTINE, recursive=True)
        return [json.loads(line)["line"] for path in paths for line in project.lake.read_bytes(path).splitlines()]

    report = forget_user(project.lake, Pseudonymizer(TEST_PSEUDONYM_KEY), "user-u")

    [kept] = quarantined_lines()
    assert '"user-v"' in kept
    assert sum(report.export_lines_removed.values()) == 2

    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)

    def rebuilt_index():
        # A lost index, or a new INDEX_VERSION, re-reads the export and quarantines again.
        project.lake.delete(layout.export_index_path(summary.export_id))
        return load_or_build_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)

    index = rebuilt_index()
    assert (index.quarantined, index.erased) == (1, 2)
    assert quarantined_lines() == [kept]  # the erased user's lines stay out

    assert sum(forget_user(project.lake, pseudonymizer, "user-v").export_lines_removed.values()) == 1
    assert project.lake.list_files(layout.EXPORT_QUARANTINE, recursive=True) == []  # emptied files go
    index = rebuilt_index()
    # Three unreadable lines, and user-v's one message, which the full export's day files leave out.
    assert (index.quarantined, index.erased, index.days) == (0, 4, {})
    assert project.lake.list_files(layout.EXPORT_QUARANTINE, recursive=True) == []
    assert project.lake.list_files(layout.EXPORT_DAYS, recursive=True) == []  # the earlier cut's day went


def test_an_export_indexed_after_an_erasure_keeps_the_users_unreadable_lines_out(project):
    # The app may not have deleted the user's items yet: a later export still holds them, and a
    # line of theirs that cannot be parsed must not reach quarantine either.
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    forget_user(project.lake, pseudonymizer, "us\u00e9r-u")  # the id as \u escapes or as UTF-8
    ExportWriter(project.exports).write_full_export(
        [conversation_item("c1", "user-v", "hello")],
        datetime(2025, 1, 2, tzinfo=UTC),
        extra_lines=[
            b'{"Item":{"conversation_id":{"S":"c2"},"timestamp":{"S":"yesterday"},"user_id":{"S":"us\\u00e9r-u"}}}',
            '{"Item":{"conversation_id":{"S":"c3"},"user_id":{"S":"us\u00e9r-u"'.encode(),  # cut short
            b'{"Item":{"conversation_id":{"S":"c4"},"timestamp":{"S":"yesterday"},"user_id":{"S":"user-v"}}}',
        ],
    )
    store = ExportStore(project.exports)
    [summary] = store.completed()
    with pytest.raises(ValueError, match="pseudonym key"):  # never quarantined unchecked
        load_or_build_export_index(store, project.lake, summary)

    index = load_or_build_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)
    assert (index.quarantined, index.erased) == (1, 2)
    [path] = project.lake.list_files(layout.EXPORT_QUARANTINE, recursive=True)
    [entry] = [json.loads(line) for line in project.lake.read_bytes(path).splitlines()]
    assert '"user-v"' in entry["line"]


def test_the_export_index_asset_keeps_erased_users_unreadable_lines_out(project, instance):
    # The run the sensor requests for a new export: it resolves the pseudonym key from its resource.
    forget_user(project.lake, Pseudonymizer(TEST_PSEUDONYM_KEY), "user-u")
    export_id = ExportWriter(project.exports).write_full_export(
        [conversation_item("c1", "user-v", "hello")],
        datetime(2025, 1, 2, tzinfo=UTC),
        extra_lines=[b'{"Item":{"conversation_id":{"S":"c2"},"user_id":{"S":"user-u"'],
    )
    instance.add_dynamic_partitions(export_partitions.name, [export_id])
    result = build_definitions(project.settings).resolve_job_def("export_index").execute_in_process(partition_key=export_id, instance=instance)
    [materialization] = result.asset_materializations_for_node("dynamodb_export_index")
    assert (materialization.metadata["quarantined"].value, materialization.metadata["erased"].value) == (0, 1)
    assert project.lake.list_files(layout.EXPORT_QUARANTINE, recursive=True) == []


def test_a_user_erased_while_an_export_is_indexed_is_left_out_of_it(project, monkeypatch):
    # forget-user finds nothing of a build under way to clean: the build must notice and redo.
    ExportWriter(project.exports).write_full_export(
        [conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-v", "hi")], datetime(2025, 1, 2, tzinfo=UTC)
    )
    store = ExportStore(project.exports)
    [summary] = store.completed()
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    reads = []

    def read_while_erasing(*args, **kwargs):
        if not reads:
            forget_user(project.lake, pseudonymizer, "user-u")
        reads.append(1)
        return read_data_file(*args, **kwargs)

    monkeypatch.setattr("recipe_pipeline.export_index.read_data_file", read_while_erasing)
    index = load_or_build_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)
    assert (index.erased, index.days) == (1, {"2025-01-01": 1})
    cut = [project.lake.read_parquet(path) for path in project.lake.list_files(layout.EXPORT_DAYS, recursive=True)]
    assert [user for table in cut for user in table.column("user_id").to_pylist()] == ["user-v"]


def write_incremental_day(project, items: list[dict]) -> None:
    """One incremental export holding ``items`` (every one an insert at 09:30 on 2025-01-01)."""
    changes = [Change((item["conversation_id"], item["timestamp"]), micros(datetime(2025, 1, 1, 9, 30, tzinfo=UTC)), item, None) for item in items]
    ExportWriter(project.exports).write_incremental_export(changes, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))


def a_day_run_on_a_full_export(project, instance, items: list[dict]):
    """One full export (of 2025-01-02) holding ``items``, and the daily run of their day."""
    ExportWriter(project.exports).write_full_export(items, datetime(2025, 1, 2, tzinfo=UTC))
    day, defs = "2025-01-01", build_definitions(project.settings)
    assert defs.resolve_job_def("daily_pipeline").execute_in_process(partition_key=day, instance=instance).success
    return day, defs


def conserved(defs, day: str, instance) -> dg.AssetCheckEvaluation:
    checked = defs.resolve_job_def("daily_pipeline").get_subset(asset_check_selection={raw_conversations_counts_conserved.check_key},
                                                               asset_selection=set())
    [evaluation] = checked.execute_in_process(partition_key=day, instance=instance).get_asset_check_evaluations()
    return evaluation


def forget_with_a_write_after_the_cut_sweep(monkeypatch, project, pseudonymizer, user_id: str, write) -> None:
    """forget-user of ``user_id``, with ``write()`` done once between its sweep of the full
    exports' cuts (and their recount) and its adjustment of the days' counts."""
    forget_in_export_days, written = erasure._forget_in_export_days, []

    def then_write(lake, erased_user, report):
        removed = forget_in_export_days(lake, erased_user, report)
        if not written:
            written.append(erased_user)
            write()
        return removed

    monkeypatch.setattr(erasure, "_forget_in_export_days", then_write)
    forget_user(project.lake, pseudonymizer, user_id)


def test_a_user_erased_while_a_raw_day_is_written_is_left_out_of_it(project, instance, monkeypatch):
    # The run read the registry before forget-user registered the user, and writes after its
    # sweep passed the day: the sweep found nothing of this run's to clean, so the run must.
    write_incremental_day(project, [conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-u", 42),
                                    conversation_item("c3", "user-v", "hi"), conversation_item("c4", "user-v", 7)])
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    registries = []

    def write_while_erasing(store, lake, day, erased, pseudonymizer):
        if not registries:
            forget_user(project.lake, pseudonymizer, "user-u")
        registries.append(set(erased))
        return write_raw_day(store, lake, day, erased, pseudonymizer)

    monkeypatch.setattr("recipe_pipeline.raw.write_raw_day", write_while_erasing)
    day = "2025-01-01"
    result = build_definitions(project.settings).resolve_job_def("daily_pipeline").execute_in_process(partition_key=day, instance=instance)

    assert result.success and all(e.passed for e in result.get_asset_check_evaluations() if e.severity == dg.AssetCheckSeverity.ERROR)
    assert registries == [set(), {pseudonymizer.pseudonym("user-u")}]  # written again, once
    assert project.lake.read_parquet(layout.raw_conversations_path(day)).column("user_id").to_pylist() == ["user-v"]
    assert quarantined_users(project, day) == ["user-v"]
    counts = layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]
    assert (counts["rows"], counts["quarantined"], counts["erased"], counts["unique_items"]) == (1, 1, 2, 4)
    [materialization] = result.asset_materializations_for_node("raw_conversations")
    assert materialization.metadata["erased"] == dg.IntMetadataValue(2)


def test_metrics_leave_out_a_user_erased_between_a_days_raw_and_anonymized_steps(project, instance, monkeypatch):
    # The raw day holds the user, who is registered before it is anonymized: anonymizing leaves
    # them out, the keys check allows for it, and forget-user's sweep then reaches the raw day.
    write_incremental_day(project, [conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-v", "hi")])
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    day = "2025-01-01"

    def write_then_register(*args):
        summary = write_raw_day_and_quarantine(*args)
        project.lake.write_bytes(b"{}", layout.erasure_path(pseudonymizer.pseudonym("user-u")))  # forget-user's first step
        return summary

    with monkeypatch.context() as patched:
        patched.setattr("recipe_pipeline.assets.ingestion.write_raw_day_and_quarantine", write_then_register)
        result = build_definitions(project.settings).resolve_job_def("daily_pipeline").execute_in_process(partition_key=day, instance=instance)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations() if e.severity == dg.AssetCheckSeverity.ERROR)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "anonymized_rows_match_raw"]
    assert (evaluation.metadata["raw_rows"].value, evaluation.metadata["anonymized_rows"].value, evaluation.metadata["erased_users_missing"].value) == (2, 1, 1)
    assert json.loads(project.lake.read_bytes(layout.daily_metrics_path(day)))["unique_users"] == 1

    outcome = CliRunner().invoke(main, ["forget-user", "user-u"], catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    assert f"{day}  metrics recomputed: ok" in outcome.output  # the raw day's sweep names it
    assert project.lake.read_parquet(layout.raw_conversations_path(day)).column("user_id").to_pylist() == ["user-v"]


def test_anonymizing_leaves_out_users_erased_before_or_while_it_runs(project, monkeypatch):
    write_incremental_day(project, [conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-v", "hi"),
                                    conversation_item("c3", "user-w", "hey")])
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    day = "2025-01-01"
    write_raw_day(ExportStore(project.exports), project.lake, day, set(), pseudonymizer)

    def register(user_id: str) -> None:  # forget-user's first step, before its sweep reaches the day
        project.lake.write_bytes(b"{}", layout.erasure_path(pseudonymizer.pseudonym(user_id)))

    register("user-u")  # erased before the run; the raw day still holds the user
    writes = []

    def write_while_erasing(*args):
        summary = write_anonymized(*args)
        if not writes:
            register("user-w")  # erased while the day was anonymized
        writes.append(summary.erased)
        return summary

    write_anonymized = anonymize._write_anonymized_day
    monkeypatch.setattr(anonymize, "_write_anonymized_day", write_while_erasing)
    summary = anonymize.write_anonymized_day(project.lake, day, pseudonymizer)

    assert writes == [1, 2]
    users = project.lake.read_parquet(layout.conversations_path(day)).column("user_id").to_pylist()
    assert users == [pseudonymizer.pseudonym("user-v")]
    assert (summary.rows, summary.erased) == (1, 2)
    provenance = layout.read_provenance(project.lake, layout.conversations_path(day))
    assert (provenance["raw_rows"], provenance["erased"]) == (1, 2)


def test_a_raw_day_run_stopped_after_a_user_was_erased_is_mended_by_running_forget_user_again(project, monkeypatch):
    # forget-user runs whole after the step read the registry and before it wrote the day (nothing
    # to sweep). The step notices on its re-read and is stopped while writing the day again: the
    # day holds the user, and its run failed. forget-user, run again, takes them out.
    write_incremental_day(project, [conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-v", "hi")])
    store, pseudonymizer, day = ExportStore(project.exports), Pseudonymizer(TEST_PSEUDONYM_KEY), "2025-01-01"
    path, write_pass, passes = layout.raw_conversations_path(day), raw.write_raw_day, []

    def erased_meanwhile_then_stopped(*args):
        passes.append(args)
        if len(passes) == 2:
            raise KeyboardInterrupt("the run is stopped")
        forget_user(project.lake, pseudonymizer, "user-u")
        return write_pass(*args)

    monkeypatch.setattr(raw, "write_raw_day", erased_meanwhile_then_stopped)
    with pytest.raises(KeyboardInterrupt):
        write_raw_day_and_quarantine(store, project.lake, day, pseudonymizer)
    monkeypatch.undo()
    assert len(passes) == 2 and project.lake.read_parquet(path).column("user_id").to_pylist() == ["user-u", "user-v"]
    forget_user(project.lake, pseudonymizer, "user-u")
    assert project.lake.read_parquet(path).column("user_id").to_pylist() == ["user-v"]


def test_forget_user_never_writes_back_a_raw_day_holding_the_user(project, monkeypatch):
    # A day run that read the registry before the erasure can write the raw day after the
    # sweep; forget-user reads the day again to adjust its counts and must not put it back.
    write_incremental_day(project, [conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-u", 42),
                                    conversation_item("c3", "user-v", "hi")])
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    day = "2025-01-01"
    store = ExportStore(project.exports)
    write_day_quarantine(project.lake, day, write_raw_day(store, project.lake, day, set(), pseudonymizer).quarantine)

    def drop_lines_after_a_late_write(lake, path, holds_user):
        write_raw_day(store, project.lake, day, set(), pseudonymizer)  # the late run, with the user
        return drop_lines(lake, path, holds_user)

    drop_lines = erasure._drop_lines
    monkeypatch.setattr(erasure, "_drop_lines", drop_lines_after_a_late_write)
    forget_user(project.lake, pseudonymizer, "user-u")

    assert project.lake.read_parquet(layout.raw_conversations_path(day)).column("user_id").to_pylist() == ["user-v"]
    counts = layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]
    assert (counts["rows"], counts["quarantined"], counts["erased"], counts["unique_items"]) == (1, 0, 2, 3)


def test_forget_user_never_overwrites_a_newer_day_a_run_wrote_meanwhile(project, monkeypatch):
    # A run rewrites the raw day with a newer export between forget-user's read of the day and
    # its write: forget-user must take the user out of the newer day, not put back the older one.
    write_incremental_day(project, [conversation_item("c1", "user-u", "hello"), conversation_item("c3", "user-v", "hi")])
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    day = "2025-01-01"
    store = ExportStore(project.exports)
    write_raw_day(store, project.lake, day, set(), pseudonymizer)
    later = conversation_item("c5", "user-v", "a newer export's message")
    changes = [Change((later["conversation_id"], later["timestamp"]), micros(datetime(2025, 1, 1, 10, 30, tzinfo=UTC)), later, None)]
    ExportWriter(project.exports).write_incremental_export(changes, datetime(2025, 1, 1, 10, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    opened_version, reads = Location.opened_version, []

    @contextmanager
    def read_then_a_run_writes(self, *parts):
        with opened_version(self, *parts) as opened:
            if parts == (layout.raw_conversations_path(day),) and not reads:
                reads.append(parts)
                write_raw_day(store, project.lake, day, set(), pseudonymizer)  # the run read the registry before
            yield opened

    monkeypatch.setattr(Location, "opened_version", read_then_a_run_writes)
    report = forget_user(project.lake, pseudonymizer, "user-u")

    table = project.lake.read_parquet(layout.raw_conversations_path(day))
    assert sorted(table.column("conversation_id").to_pylist()) == ["c3", "c5"]
    assert set(table.column("user_id").to_pylist()) == {"user-v"}
    counts = layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]
    assert (counts["rows"], counts["erased"], counts["unique_items"]) == (2, 1, 3)
    assert report.rows_removed["raw"] == {day: 1}


@pytest.mark.parametrize("run_writes_the_day", [False, True], ids=["day-read-the-old-cut", "day-written-after-the-cut-lost-them"])
def test_forget_user_takes_out_of_export_records_only_the_cut_items_the_day_read(project, instance, monkeypatch, run_writes_the_day):
    # forget-user takes the user's items out of a full export's cut, then out of the day's
    # export_records. A run writing the day in between reads the cut without them: its
    # export_records never held them, and must not lose them twice.
    day, defs = a_day_run_on_a_full_export(project, instance, [conversation_item("c1", "user-u", "hello"), conversation_item("c3", "user-v", "hi")])
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    forget_with_a_write_after_the_cut_sweep(monkeypatch, project, pseudonymizer, "user-u", lambda: run_writes_the_day and write_raw_day(
        ExportStore(project.exports), project.lake, day, set(), pseudonymizer))

    provenance = layout.read_provenance(project.lake, layout.raw_conversations_path(day))
    assert provenance["counts"]["export_records"] == 1
    assert list(provenance["export_records_by_export"].values()) == [1]
    evaluation = conserved(defs, day, instance)
    assert evaluation.passed, evaluation.metadata


def test_forget_user_leaves_alone_the_export_records_of_a_day_that_never_read_the_export(project, instance):
    # A second full export is cut by day after the day was written: the day never read it.
    items = [conversation_item("c1", "user-u", "hello"), conversation_item("c3", "user-v", "hi")]
    day, defs = a_day_run_on_a_full_export(project, instance, items)
    ExportWriter(project.exports).write_full_export(items, datetime(2025, 1, 3, tzinfo=UTC))
    store, pseudonymizer = ExportStore(project.exports), Pseudonymizer(TEST_PSEUDONYM_KEY)
    for summary in store.completed():
        load_or_build_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)

    report = forget_user(project.lake, pseudonymizer, "user-u")

    assert len(report.export_day_items_removed) == 2  # both exports' cuts lost the user's item
    assert layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]["export_records"] == 1
    assert conserved(defs, day, instance).passed


def test_forget_user_leaves_alone_a_day_written_after_the_cut_lost_the_whole_day(project, instance, monkeypatch):
    # The user's item was the full export's only one of the day: its index drops the day, and a
    # run writing the day afterwards does not read that export at all.
    ExportWriter(project.exports).write_full_export([conversation_item("c1", "user-u", "hello")], datetime(2025, 1, 1, 12, tzinfo=UTC))
    write_incremental_day(project, [conversation_item("c3", "user-v", "hi")])
    day = "2025-01-01"
    defs = build_definitions(project.settings)
    defs.resolve_job_def("daily_pipeline").execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    forget_with_a_write_after_the_cut_sweep(monkeypatch, project, pseudonymizer, "user-u",
                                            lambda: write_raw_day(ExportStore(project.exports), project.lake, day, set(), pseudonymizer))

    provenance = layout.read_provenance(project.lake, layout.raw_conversations_path(day))
    assert (provenance["counts"]["export_records"], len(provenance["exports"])) == (1, 1)
    assert conserved(defs, day, instance).passed


def test_two_erasures_at_once_both_leave_a_full_exports_cut(project, monkeypatch):
    # A second forget-user runs from start to end while the first has read a cut file and not
    # yet written it: neither may put the other's user back, in the cut or in its index.
    items = [conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-w", "yo"), conversation_item("c3", "user-v", "hi")]
    ExportWriter(project.exports).write_full_export(items, datetime(2025, 1, 2, tzinfo=UTC))
    store, pseudonymizer = ExportStore(project.exports), Pseudonymizer(TEST_PSEUDONYM_KEY)
    [summary] = store.completed()
    load_or_build_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)
    opened_version, interleaved = Location.opened_version, []

    @contextmanager
    def read_then_another_erasure(self, *parts):
        with opened_version(self, *parts) as opened:
            if layout.EXPORT_DAYS in parts[0] and not interleaved:
                interleaved.append(parts)
                forget_user(project.lake, pseudonymizer, "user-w")
            yield opened

    monkeypatch.setattr(Location, "opened_version", read_then_another_erasure)
    forget_user(project.lake, pseudonymizer, "user-u")

    cut = [path for path in project.lake.list_files(layout.EXPORT_DAYS, recursive=True) if "/rows-" in path]
    assert interleaved and [u for path in cut for u in project.lake.read_parquet(path).column("user_id").to_pylist()] == ["user-v"]
    index = json.loads(project.lake.read_bytes(layout.export_index_path(summary.export_id)))
    assert (index["days"], index["erased"]) == ({"2025-01-01": 1}, 2)


def cut_items(project, day: str) -> int:
    return sum(project.lake.parquet_file(path).metadata.num_rows for path in project.lake.list_files(layout.EXPORT_DAYS, recursive=True)
               if f"/{day}/" in path)


def test_an_index_rebuilt_while_forget_user_sweeps_its_cut_is_not_lowered_twice(project, instance, monkeypatch):
    # A rebuild that read the registry with the user in it writes the cut and index without
    # them, between forget-user's sweep of the cut and its recount of the index.
    items = [conversation_item("c1", "user-u", "hello"), conversation_item("c3", "user-v", "hi"), conversation_item("c4", "user-w", "yo")]
    day, defs = a_day_run_on_a_full_export(project, instance, items)
    store, pseudonymizer = ExportStore(project.exports), Pseudonymizer(TEST_PSEUDONYM_KEY)
    [summary] = store.completed()
    rewrite, rebuilt = Location.rewrite, []

    def rebuild_before_the_recount(self, change, *parts):
        if parts == (layout.export_index_path(summary.export_id),) and not rebuilt:
            rebuilt.append(parts)
            write_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)
        return rewrite(self, change, *parts)

    monkeypatch.setattr(Location, "rewrite", rebuild_before_the_recount)
    forget_user(project.lake, pseudonymizer, "user-u")

    index = json.loads(project.lake.read_bytes(layout.export_index_path(summary.export_id)))
    assert rebuilt and (index["days"], index["erased"]) == ({day: cut_items(project, day)}, 1) == ({day: 2}, 1)
    write_raw_day(store, project.lake, day, {pseudonymizer.pseudonym("user-u")}, pseudonymizer)
    assert conserved(defs, day, instance).passed


def test_an_index_rebuilt_just_before_a_user_is_erased_is_recounted_not_overwritten(project, instance, monkeypatch):
    # forget-user runs whole right after the rebuild's last read of the registry (the user not in
    # it yet). It sweeps the rebuild's cut; the rebuild must not then write counts that hold the user.
    items = [conversation_item("c1", "user-u", "hello"), conversation_item("c3", "user-v", "hi"), conversation_item("c4", "user-w", "yo")]
    day, defs = a_day_run_on_a_full_export(project, instance, items)
    store, pseudonymizer = ExportStore(project.exports), Pseudonymizer(TEST_PSEUDONYM_KEY)
    [summary] = store.completed()
    registry_reads, read_registry = [], layout.erased_pseudonyms

    def erase_after_the_second_read(lake):
        registry_reads.append(lake)
        erased = read_registry(lake)
        if len(registry_reads) == 2:  # the rebuild's re-read, after its write
            forget_user(project.lake, pseudonymizer, "user-u")
        return erased

    monkeypatch.setattr(layout, "erased_pseudonyms", erase_after_the_second_read)
    write_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)
    monkeypatch.setattr(layout, "erased_pseudonyms", read_registry)

    index = json.loads(project.lake.read_bytes(layout.export_index_path(summary.export_id)))
    assert (index["days"], index["erased"]) == ({day: cut_items(project, day)}, 1) == ({day: 2}, 1)
    write_raw_day(store, project.lake, day, {pseudonymizer.pseudonym("user-u")}, pseudonymizer)
    assert conserved(defs, day, instance).passed


def test_a_build_stopped_after_a_user_was_erased_is_mended_by_running_forget_user_again(project, monkeypatch):
    # forget-user runs whole after the build's first read of the registry, before the build has
    # cut the export (nothing to sweep). The build's first cut and index hold the user; it notices
    # on its re-read, and is stopped while cutting again. The index stays (deleting it made
    # concurrent readers fail or cut the export again): forget-user, run again, finishes the job.
    ExportWriter(project.exports).write_full_export([conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-v", "hi")],
                                                   datetime(2025, 1, 2, tzinfo=UTC))
    store, pseudonymizer = ExportStore(project.exports), Pseudonymizer(TEST_PSEUDONYM_KEY)
    [summary] = store.completed()
    read_registry, cut_export, registry_reads, passes = layout.erased_pseudonyms, export_index._build_export_index, [], []

    def erase_after_the_first_read(lake):
        registry_reads.append(lake)
        erased = read_registry(lake)
        if len(registry_reads) == 1:
            forget_user(project.lake, pseudonymizer, "user-u")
        return erased

    def stopped_on_the_second_pass(*args):
        passes.append(args)
        if len(passes) == 2:
            raise KeyboardInterrupt("the run is stopped")
        return cut_export(*args)

    monkeypatch.setattr(layout, "erased_pseudonyms", erase_after_the_first_read)
    monkeypatch.setattr(export_index, "_build_export_index", stopped_on_the_second_pass)
    with pytest.raises(KeyboardInterrupt):
        write_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)
    monkeypatch.undo()

    def cut_users() -> list[str]:
        return [user for path in project.lake.list_files(layout.EXPORT_DAYS, recursive=True)
                for user in project.lake.read_parquet(path).column("user_id").to_pylist()]

    assert sorted(cut_users()) == ["user-u", "user-v"]
    forget_user(project.lake, pseudonymizer, "user-u")
    index = load_or_build_export_index(store, project.lake, summary, pseudonymizer=lambda: pseudonymizer)
    assert cut_users() == ["user-v"] and (index.days, index.erased) == ({"2025-01-01": 1}, 1)


def test_an_erasure_overtaking_another_leaves_the_days_export_records_right(project, instance, monkeypatch):
    # A whole erasure of user-w runs after user-u's recount of the cut and before user-u's
    # adjustment of the raw day: each takes its own user's item out of export_records once.
    items = [conversation_item("c1", "user-u", "hello"), conversation_item("c2", "user-w", "yo"), conversation_item("c3", "user-v", "hi")]
    day, defs = a_day_run_on_a_full_export(project, instance, items)
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    forget_with_a_write_after_the_cut_sweep(monkeypatch, project, pseudonymizer, "user-u", lambda: forget_user(project.lake, pseudonymizer, "user-w"))

    assert layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]["export_records"] == 1
    assert conserved(defs, day, instance).passed


def test_a_day_rebuilt_with_its_index_while_forget_user_runs_loses_nothing_twice(project, instance, monkeypatch):
    # The export's index is missing while forget-user sweeps the cut; a day run then rebuilds it
    # and reads the cut without the user, before forget-user adjusts the day.
    day, defs = a_day_run_on_a_full_export(project, instance, [conversation_item("c1", "user-u", "hello"), conversation_item("c3", "user-v", "hi")])
    store, pseudonymizer = ExportStore(project.exports), Pseudonymizer(TEST_PSEUDONYM_KEY)
    [summary] = store.completed()
    project.lake.delete(layout.export_index_path(summary.export_id))  # a build that stopped, or another INDEX_VERSION
    forget_with_a_write_after_the_cut_sweep(monkeypatch, project, pseudonymizer, "user-u",
                                            lambda: write_raw_day(store, project.lake, day, {pseudonymizer.pseudonym("user-u")}, pseudonymizer))

    assert layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]["export_records"] == 1
    assert conserved(defs, day, instance).passed


def test_an_erasure_stopped_before_its_recount_is_mended_by_running_forget_user_again(project, instance, monkeypatch):
    # The cut lost the user's item, but the index still counts it; a second forget-user finds
    # nothing to remove and must still bring the index in line, so the day's re-run adds up.
    day, defs = a_day_run_on_a_full_export(project, instance, [conversation_item("c1", "user-u", "hello"), conversation_item("c3", "user-v", "hi")])
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    recounted = erasure._recounted

    def stopped(*args):
        raise RuntimeError("stopped")

    monkeypatch.setattr(erasure, "_recounted", stopped)
    with pytest.raises(RuntimeError):
        forget_user(project.lake, pseudonymizer, "user-u")
    monkeypatch.setattr(erasure, "_recounted", recounted)
    report = forget_user(project.lake, pseudonymizer, "user-u")

    assert report.total_rows == 0 and not report.export_day_items_removed
    [summary] = ExportStore(project.exports).completed()
    index = json.loads(project.lake.read_bytes(layout.export_index_path(summary.export_id)))
    assert (index["days"], index["erased"]) == ({day: cut_items(project, day)}, 1) == ({day: 1}, 1)
    assert defs.resolve_job_def("daily_pipeline").execute_in_process(partition_key=day, instance=instance).success
    assert conserved(defs, day, instance).passed


def test_a_recount_writes_only_what_the_cut_changed(project, instance):
    day, _ = a_day_run_on_a_full_export(project, instance, [conversation_item("c1", "user-u", "hello"), conversation_item("c3", "user-v", "hi")])
    [summary] = ExportStore(project.exports).completed()
    data = project.lake.read_bytes(layout.export_index_path(summary.export_id))
    assert erasure._recounted(project.lake, summary.export_id, data) == erasure.Rewrite(None)  # in line: nothing to write
    stale = json.loads(data) | {"days": {day: 5}}
    recounted = json.loads(erasure._recounted(project.lake, summary.export_id, json.dumps(stale).encode()).data)
    assert (recounted["days"], recounted["erased"]) == ({day: 2}, 3)
    # No cut any more (retention took it, and the index no longer points at it): left alone.
    gone = stale | {"day_files": False}
    assert erasure._recounted(project.lake, summary.export_id, json.dumps(gone).encode()) == erasure.Rewrite(None)
    project.lake.delete_dir(layout.EXPORT_DAYS, summary.export_id, day)
    assert erasure._recounted(project.lake, summary.export_id, json.dumps(stale).encode()) == erasure.Rewrite(None)


@pytest.mark.parametrize(
    ("raw_erased", "quarantined", "expected"),
    [
        # A day run that noticed the erasure counted the user's quarantined item as erased, but its
        # quarantine file (written after the raw file) is still the earlier pass's when the sweep reads it.
        pytest.param({"user-u"}, {"user-u", "user-w"}, (1, 1, 1, 3), id="counted-as-erased-already"),
        # A run stopped between the two writes left a quarantine file with fewer entries than the
        # counts say: only the user's one moves to erased.
        pytest.param(set(), {"user-u"}, (1, 1, 1, 3), id="quarantine-file-missing-another-users-item"),
    ],
)
def test_forget_user_moves_only_the_users_quarantined_items_to_erased(project, raw_erased, quarantined, expected):
    write_incremental_day(project, [conversation_item("c1", "user-u", 42), conversation_item("c2", "user-w", 7),
                                    conversation_item("c3", "user-v", "hi")])
    pseudonymizer = Pseudonymizer(TEST_PSEUDONYM_KEY)
    day = "2025-01-01"
    store = ExportStore(project.exports)
    entries = write_raw_day(store, project.lake, day, set(), pseudonymizer).quarantine
    write_raw_day(store, project.lake, day, {pseudonymizer.pseudonym(user) for user in raw_erased}, pseudonymizer)
    write_day_quarantine(project.lake, day, [entry for entry in entries if entry["image"]["user_id"]["S"] in quarantined])

    forget_user(project.lake, pseudonymizer, "user-u")

    assert quarantined_users(project, day) == sorted(quarantined - {"user-u"})
    counts = layout.read_provenance(project.lake, layout.raw_conversations_path(day))["counts"]
    assert (counts["rows"], counts["quarantined"], counts["erased"], counts["unique_items"]) == expected
