"""The Definitions load, the asset graph has the shape users see in the UI (snapshot), and
loading them has no side effects."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg

from recipe_pipeline.definitions import build_definitions, defs
from recipe_pipeline.schedules import daily_analytics_schedule


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


def asset_graph_summary(definitions: dg.Definitions) -> dict:
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitioned": node.partitions_def is not None,
            "owners": list(node.owners),
            "has_description": bool(node.description),
        }
    # Separate checks and those an asset evaluates itself (its check_specs) alike, with where they run.
    checks = sorted(
        [(spec.asset_key.to_user_string(), spec.name, spec.blocking, "separate") for checks_def in definitions.asset_checks or []
         for spec in checks_def.check_specs]
        + [(spec.asset_key.to_user_string(), spec.name, spec.blocking, "in the asset") for assets_def in definitions.assets or []
           if isinstance(assets_def, dg.AssetsDefinition) for spec in assets_def.check_specs]
    )
    return {
        "assets": assets,
        "checks": checks,
        "jobs": sorted(job.name for job in definitions.jobs or []),
        # Resolved, as the daemon sees them (a schedule of a job taking its partitions from its assets is resolved with them).
        "schedules": sorted((r.name, r.cron_schedule, r.execution_timezone) for r in (definitions.resolve_schedule_def(s.name) for s in definitions.schedules or [])),
        "sensors": sorted(s.name for s in definitions.sensors or []),
        "resources": sorted(definitions.resources),
    }


def test_asset_graph_matches_snapshot(snapshot):
    assert asset_graph_summary(defs) == snapshot


def test_the_lineage_users_see():
    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys) for k in graph.get_all_asset_keys()}
    assert parents["anonymized_conversations"] == ["raw_conversations"]
    assert parents["daily_metrics"] == ["anonymized_conversations"]
    assert parents["raw_conversations"] == ["dynamodb_exports"]
    assert parents["user_activity"] == ["anonymized_conversations"]
    assert "daily_metrics" in parents["athena_tables"] and "user_activity" in parents["athena_tables"]


def test_schedule_requests_yesterdays_partition():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 3, 10, 2, 0, tzinfo=UTC))
    [request] = list(defs.resolve_schedule_def(daily_analytics_schedule.name).evaluate_tick(context).run_requests)
    assert request.partition_key == "2025-03-09"


def test_partitions_are_utc_days_from_the_configured_start():
    job = defs.resolve_job_def("daily_pipeline")
    partitions = job.partitions_def
    assert partitions.timezone == "UTC"
    assert partitions.get_first_partition_key() == "2025-01-01"


def test_loading_definitions_creates_nothing(tmp_path):
    lake = tmp_path / "not-yet" / "lake"
    env = {**os.environ, "RECIPE_PIPELINE_LAKE": str(lake), "RECIPE_PIPELINE_PSEUDONYM_KEY": "k" * 32}
    subprocess.run([sys.executable, "-c", "import recipe_pipeline.definitions"], env=env, check=True, cwd=tmp_path)
    assert not (tmp_path / "not-yet").exists()
    assert os.listdir(tmp_path) == []


def test_a_bad_configuration_fails_at_load_naming_the_variable(tmp_path):
    env = {**os.environ, "RECIPE_PIPELINE_ENGINE": "spark"}
    result = subprocess.run([sys.executable, "-c", "import recipe_pipeline.definitions"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0
    assert "RECIPE_PIPELINE_ENGINE='spark'" in result.stderr


def test_build_definitions_binds_resources_to_settings(project):
    built = build_definitions(project.settings)
    assert built.resources["lake"].url == project.settings.lake_url
    assert built.resources["exports"].url == project.settings.exports_url
