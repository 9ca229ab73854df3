"""End to end: PII of every kind planted in exports never reaches the analytics zone, the
aggregates, the warehouse, run metadata or logs; raw user ids stay in the restricted zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bench.pii_corpus import load_corpus
from recipe_pipeline.catchup import catch_up
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.export_writer import ExportWriter
from recipe_pipeline.pii import PII_KINDS

RESTRICTED = ("raw/", "quarantine/", "exports/")


def planted_examples() -> list[dict]:
    """Five labeled examples of every kind from the benchmark corpus."""
    chosen: dict[str, list[dict]] = {}
    for example in load_corpus():
        if example["pii"]:
            chosen.setdefault(example["pii"][0]["kind"], [])
            if len(chosen[example["pii"][0]["kind"]]) < 5:
                chosen[example["pii"][0]["kind"]].append(example)
    assert set(chosen) == set(PII_KINDS)
    return [e for examples in chosen.values() for e in examples]


def test_planted_pii_of_every_kind_never_leaves_the_restricted_zone(project, instance):
    examples = planted_examples()
    items = [
        {
            "conversation_id": f"conv-{i // 4}", "timestamp": f"2025-01-01T12:{i // 60:02d}:{i % 60:02d}.000001Z",
            "user_id": f"user-secret-{i % 3}", "role": "user", "message": e["text"], "metadata": {"tools_used": []},
        }
        for i, e in enumerate(examples)
    ]
    ExportWriter(project.exports).write_full_export(items, datetime(2025, 1, 2, tzinfo=UTC))
    report = catch_up(build_definitions(project.settings), instance, log=lambda _: None)
    assert report.ok and [r.partition_key for r in report.day_runs] == ["2025-01-01"]

    secrets = [label["value"] for e in examples for label in e["pii"]] + ["user-secret-0", "user-secret-1", "user-secret-2"]
    analytics_files = [p for p in project.lake.list_files(recursive=True) if not p.startswith(RESTRICTED)]
    assert any(p.startswith("conversations/") for p in analytics_files) and any(p.startswith("aggregated/") for p in analytics_files)
    for path in analytics_files:
        body = project.lake.read_bytes(path)
        if path.endswith(".parquet"):
            body = json.dumps(project.lake.read_parquet(path).to_pylist(), default=str).encode()
        for secret in secrets:
            assert secret.encode() not in body, (path, secret)

    # Run metadata and every logged event: neither the PII nor a raw message from the raw zone.
    run_id = report.day_runs[0].run_id
    logged = json.dumps([str(record) for record in instance.all_logs(run_id)])
    for secret in secrets + [e["text"] for e in examples]:
        assert secret not in logged, secret


class Unscrubbed:
    """Stands in for a regression in the scrub (``anonymize.start_scrub``): the real privacy asset
    writes the messages as they came."""

    def __init__(self, messages, workers):
        self.messages = messages

    def result(self):
        import pyarrow as pa

        from recipe_pipeline.pii import ScrubResult

        return ScrubResult(self.messages, pa.array([0] * len(self.messages), pa.int32()), {})


def test_a_day_the_scrub_misses_is_audited_before_it_is_published_and_never_reaches_the_analytics_zone(project, instance, monkeypatch):
    # Athena serves whatever file is in the analytics zone (partition projection), so the audit
    # runs on the staged file, before it is published.
    import dagster as dg

    from recipe_pipeline import anonymize
    from recipe_pipeline import lake as layout

    monkeypatch.setattr(anonymize, "start_scrub", Unscrubbed)
    items = [{"conversation_id": "conv-1", "timestamp": "2025-01-01T12:00:00.000001Z", "user_id": "user-secret-0", "role": "user",
              "message": "mail me at jane.doe@example.com", "metadata": {"tools_used": []}}]
    ExportWriter(project.exports).write_full_export(items, datetime(2025, 1, 2, tzinfo=UTC))
    job = build_definitions(project.settings).resolve_job_def("daily_pipeline")
    result = job.execute_in_process(partition_key="2025-01-01", instance=instance, raise_on_error=False)

    assert not result.success
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.asset_key == dg.AssetKey("anonymized_conversations")} == {
        "anonymized_has_no_pii": False, "anonymized_has_no_raw_user_ids": True}
    assert project.lake.exists(layout.raw_conversations_path("2025-01-01"))
    assert not [p for p in project.lake.list_files(recursive=True) if not p.startswith(RESTRICTED)]
    assert layout.days_present(project.lake, layout.CONVERSATIONS) == []  # no empty day directory left either
    assert "jane.doe@example.com" not in json.dumps([str(record) for record in instance.all_logs(result.run_id)])


def test_a_rebuilt_day_that_fails_the_audit_withdraws_its_previous_file(project, instance, monkeypatch):
    # Kept, the previous file went on serving an item deleted since (the reviewer's reproducer):
    # the analytics zone must never hold what raw no longer does.
    from datetime import timedelta

    from recipe_pipeline import anonymize
    from recipe_pipeline import lake as layout
    from recipe_pipeline.export_writer import Change

    def message(conversation, at, user, text):
        return {"conversation_id": conversation, "timestamp": at, "user_id": user, "role": "user", "message": text, "metadata": {"tools_used": []}}

    ts1, ts2, start = "2025-01-01T12:00:00.000001Z", "2025-01-01T13:00:00.000001Z", datetime(2025, 1, 2, tzinfo=UTC)
    writer = ExportWriter(project.exports)
    writer.write_full_export([message("c1", ts1, "user-a", "how long do I bake bread")], start)
    job = build_definitions(project.settings).resolve_job_def("daily_pipeline")
    assert job.execute_in_process(partition_key="2025-01-01", instance=instance).success
    writer.write_incremental_export([
        Change(("c1", ts1), 1735808400000000, None, message("c1", ts1, "user-a", "how long do I bake bread")),  # deleted
        Change(("c2", ts2), 1735808400000001, message("c2", ts2, "user-b", "mail me at jane.doe@example.com"), None),
    ], start, start + timedelta(days=1))
    monkeypatch.setattr(anonymize, "start_scrub", Unscrubbed)

    result = job.execute_in_process(partition_key="2025-01-01", instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "its previous file was withdrawn" in str(failure.step_failure_data.error)
    assert project.lake.read_parquet(layout.raw_conversations_path("2025-01-01")).column("conversation_id").to_pylist() == ["c2"]
    assert not project.lake.exists(layout.conversations_path("2025-01-01"))
    assert layout.days_present(project.lake, layout.CONVERSATIONS) == []
