"""Weekly reports and the dashboard, materialized for real; the dashboard opened in headless
Chromium, its charts counted as rendered, and a screenshot kept as a test artifact."""

from __future__ import annotations

import json
import os
import re
import subprocess
import warnings
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from recipe_pipeline.assets.reporting import DASHBOARD_PATH
from recipe_pipeline.catchup import catch_up
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.simulate import SimulationConfig, write_simulation
from recipe_pipeline.export_writer import ExportWriter
from recipe_pipeline.recipes import RECIPE_CATALOGUE
from recipe_pipeline.settings import load_settings
from recipe_pipeline.storage import Location
from recipe_pipeline_tests.conftest import CHROMIUM_FLAGS
from recipe_pipeline_tests.test_analytics import msg

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def build(project, instance):
    write_simulation(project.exports, SimulationConfig(days=13, seed=5, users=60, conversations_per_day=25))
    defs = build_definitions(project.settings)
    assert catch_up(defs, instance, log=lambda _: None).ok
    return defs


def test_weekly_reports_and_the_dashboard(project, instance, chromium):
    defs = build(project, instance)
    # The first full ISO week of the data is 2025-01-06 .. 2025-01-12.
    reports = defs.resolve_job_def("weekly_reports").execute_in_process(partition_key="2025-01-06", instance=instance)
    assert reports.success
    engagement = {k: v.value for k, v in reports.asset_materializations_for_node("engagement_report")[0].metadata.items()}
    assert engagement["wau"] > 0 and 0 < engagement["stickiness"] <= 1 and 0 <= engagement["completion_rate"] <= 1
    assert isinstance(engagement["average_dau"], float)
    body = json.loads(project.lake.read_bytes("reports/engagement/week=2025-01-06/engagement.json"))
    assert [r["date"] for r in body["active_users"]] == [f"2025-01-{d:02d}" for d in range(6, 13)]
    popularity = reports.asset_materializations_for_node("recipe_popularity_report")[0].metadata
    assert popularity["distinct_recipes"].value > 0 and "| recipe_name |" in popularity["top_recipes"].value
    assert project.lake.exists("reports/retention_cohorts/week=2025-01-06/retention-cohorts.json")
    assert project.lake.exists("reports/usage_heatmap/week=2025-01-06/usage-heatmap.json")

    dashboard = defs.resolve_job_def("dashboard").execute_in_process(instance=instance)
    assert dashboard.success
    page_path = project.lake.path(DASHBOARD_PATH)
    page = Path(page_path).read_text()
    assert "2025-01-01 .. 2025-01-13" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from a network

    # Open it in a real browser: the inline script counts the marks each chart laid out.
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, "--virtual-time-budget=5000", "--dump-dom", f"file://{page_path}"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    charts = int(re.search(r'data-charts="(\d+)"', dom).group(1))
    rendered = int(re.search(r'data-rendered-charts="(\d+)"', dom).group(1))
    assert charts == rendered == 8
    for chart_id in ("chart-active-users", "chart-top-recipes", "chart-conversation-length", "chart-categories", "chart-usage-heatmap"):
        marks = int(re.search(rf'id="{chart_id}"[^>]*data-rendered-marks="(\d+)"', dom).group(1))
        assert marks > 0, chart_id
    assert int(re.search(r'id="chart-top-recipes"[^>]*data-rendered-marks="(\d+)"', dom).group(1)) == 10

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / f"dashboard-{os.getpid()}.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, "--window-size=1400,2400", f"--screenshot={screenshot}", f"file://{page_path}"],
                   capture_output=True, timeout=120, check=True)
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1400
    assert len(png) > 50_000  # a blank page compresses to a few KB
    screenshot.replace(ARTIFACTS / "dashboard.png")


def test_reports_use_the_weekly_partitions(project):
    defs = build_definitions(project.settings)
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey("engagement_report"))
    assert node.partitions_def.get_partition_keys()[0] == "2025-01-06"
    assert dg.AssetKey("athena_tables") in node.parent_keys


# Two ISO weeks whose numbers are known; the lake ends on the second Sunday, as when the Monday
# schedule reports on the week just past.
WEEK = "2025-01-13"
REPORT_ITEMS = [
    msg("a1", "user-a", "2025-01-12T10:00:00Z", "user", "hello"),
    msg("b1", "user-b", "2025-01-12T11:00:00Z", "user", "hello"),
    msg("a2", "user-a", "2025-01-19T10:00:00Z", "user", "hello"),
    msg("c2", "user-c", "2025-01-19T11:00:00Z", "user", "hello"),
    msg("d2", "user-d", "2025-01-18T11:00:00Z", "user", "hello"),
    # 25 dishes in the week: more than the top list's 20
    *[msg(f"r{i}", "user-a", f"2025-01-14T10:{i:02d}:00Z", "assistant", f"Here's a recipe for {dish}.")
      for i, dish in enumerate(sorted(RECIPE_CATALOGUE)[:25])],
]


@pytest.fixture(scope="module")
def week_metadata(tmp_path_factory):
    """The weekly reports of WEEK on a small lake built by the real pipeline: asset -> metadata."""
    settings = load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path_factory.mktemp("reports") / "lake")})
    ExportWriter(Location(settings.exports_url)).write_full_export(REPORT_ITEMS, datetime(2025, 1, 20, tzinfo=UTC))
    with warnings.catch_warnings(), dg.instance_for_test() as instance:
        warnings.simplefilter("ignore")  # the development pseudonym key is fine for a test lake
        defs = build_definitions(settings)
        assert catch_up(defs, instance, log=lambda _: None).ok
        result = defs.resolve_job_def("weekly_reports").execute_in_process(partition_key=WEEK, instance=instance)
        week_before = defs.resolve_job_def("weekly_reports").execute_in_process(partition_key="2025-01-06", instance=instance)
    return {
        **{node: {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}
           for node in ("engagement_report", "recipe_popularity_report", "retention_cohorts")},
        "engagement_report of the week before": {
            k: v.value for k, v in week_before.asset_materializations_for_node("engagement_report")[0].metadata.items()},
    }


def test_engagement_report_wau_growth_against_the_week_before(week_metadata):
    engagement = week_metadata["engagement_report"]
    # WAU on Sunday 01-19 is {a, c, d}; seven days earlier, on 01-12, {a, b}.
    assert (engagement["wau"], engagement["wau_growth"]) == (3, 0.5)


def test_a_rate_nothing_measured_is_left_out_not_plotted_as_0(week_metadata):
    # The first week with data: no WAU seven days before its Sunday, so no growth to report.
    engagement = week_metadata["engagement_report of the week before"]
    assert engagement["wau"] == 2 and "wau_growth" not in engagement
    assert "stickiness" in engagement and "completion_rate" in engagement


def test_recipe_popularity_report_counts_every_distinct_recipe(week_metadata):
    assert week_metadata["recipe_popularity_report"]["distinct_recipes"] == 25


def test_retention_report_leaves_out_rates_not_observable_yet(week_metadata):
    retention = week_metadata["retention_cohorts"]
    # The week's cohorts: d (Sat 01-18, not back on Sunday) and c (Sun 01-19, the lake's last day).
    assert (retention["new_users"], retention["day_1_retention"]) == (2, 0.0)  # measured: 0%
    assert "day_7_retention" not in retention and "day_30_retention" not in retention
    # The latest cohorts with a known day 7: 01-06 .. 01-12, i.e. a and b on 01-12; a came back 01-19.
    assert (retention["latest_day_7_retention"], retention["latest_day_7_cohorts"]) == (0.5, "2025-01-06 .. 2025-01-12")
    assert "latest_day_30_retention" not in retention


def test_weekly_retention_is_the_share_of_the_observable_cohorts_users_who_came_back():
    from recipe_pipeline.assets.reporting import _retention_metadata

    # 3 of a Monday's 4 new users back on Tuesday, Tuesday's 1 not back on Wednesday: 3 of 5 users.
    # (Each cohort's rate weighed alike gave 0.375.)
    cohorts = [{"users": 4, "day_1": 3, "day_1_rate": 0.75}, {"users": 1, "day_1": 0, "day_1_rate": 0.0},
               {"users": 7, "day_1": 0, "day_1_rate": None}]  # not observable yet: left out
    assert _retention_metadata(cohorts, 1, "day_1_retention") == {"day_1_retention": 0.6}
    assert _retention_metadata(cohorts[2:], 1, "day_1_retention") == {}


@pytest.mark.parametrize("asset_name", ["retention_cohorts", "engagement_report", "stakeholder_dashboard"])
def test_reports_on_a_lake_with_no_data_fail_at_once_saying_so(tmp_path, asset_name):
    # retention_cohorts raised a bare IndexError, and every report retried a missing warehouse
    # three times (about a minute) before failing.
    from recipe_pipeline.assets import reporting

    settings = load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake")})
    with warnings.catch_warnings(), dg.instance_for_test() as instance:
        warnings.simplefilter("ignore")
        defs = build_definitions(settings)
        asset = getattr(reporting, asset_name)
        result = dg.materialize([asset], partition_key="2025-01-06" if asset.partitions_def else None, instance=instance,
                                resources=defs.resources, raise_on_error=False)
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "IndexError" not in str(failure.step_failure_data.error)
    assert "no daily data yet" in str(failure.step_failure_data.error) or "warehouse" in str(failure.step_failure_data.error)


def test_the_dashboard_covers_the_days_whose_conversations_are_still_kept(tmp_path):
    # Its figures all come from the conversations (kept 90 days); the daily metrics (kept 2
    # years) gave it a range whose first days had no data behind them any more.
    from datetime import date

    from recipe_pipeline import lake as layout
    from recipe_pipeline.retention import apply_retention

    settings = load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake")})
    ExportWriter(Location(settings.exports_url)).write_full_export(REPORT_ITEMS, datetime(2025, 1, 20, tzinfo=UTC))
    with warnings.catch_warnings(), dg.instance_for_test() as instance:
        warnings.simplefilter("ignore")
        defs = build_definitions(settings)
        assert catch_up(defs, instance, log=lambda _: None).ok
        lake = Location(settings.lake_url)
        apply_retention(lake, date(2025, 4, 13))  # 2025-01-12's conversations expire, its metrics stay
        assert layout.days_present(lake, layout.DAILY_METRICS)[0] == "2025-01-12" < layout.days_present(lake, layout.CONVERSATIONS)[0]
        result = defs.resolve_job_def("dashboard").execute_in_process(instance=instance)
    metadata = result.asset_materializations_for_node("stakeholder_dashboard")[0].metadata
    assert metadata["date_range"].value.startswith(layout.days_present(lake, layout.CONVERSATIONS)[0]) and metadata["days"].value >= 1
    assert not metadata["date_range"].value.startswith("2025-01-12")


def test_every_slice_of_the_category_pie_has_a_colour_of_its_own():
    from recipe_pipeline.dashboard import pie_chart
    from recipe_pipeline.recipes import RECIPE_CATALOGUE

    categories = sorted(set(RECIPE_CATALOGUE.values())) + ["other"]
    fills = re.findall(r'<path d="[^"]*" fill="(#[0-9a-f]{6})"', pie_chart("categories", [(c, 100 - i) for i, c in enumerate(categories)]))
    assert len(fills) == len(categories) and len(set(fills)) == len(fills)
