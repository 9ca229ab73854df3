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
