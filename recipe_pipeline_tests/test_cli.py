"""The ``recipe-pipeline`` command line, run through click on a temporary lake."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from recipe_pipeline.cli import format_table, main


@pytest.fixture
def cli(project):
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result.output

    return invoke


def test_simulate_catch_up_and_the_seed_queries(cli, project):
    out = cli("simulate", "--days", "3", "--users", "30", "--conversations-per-day", "15", "--seed", "3")
    assert "wrote 3 exports" in out
    out = cli("catch-up")
    assert "6 run(s) succeeded, 0 failed, 0 skipped (3 export index run(s), 3 day run(s))" in out
    assert "nothing to do" in cli("catch-up")

    out = cli("query", "weekly_recipe_popularity")
    assert "2024-12-28 .. 2025-01-03" in out
    header, rule, *rows = out.splitlines()[1:]
    assert header.split() == ["recipe_name", "mentions", "unique_users"]
    assert rows and all(int(r.split()[-1]) >= 1 for r in rows)

    out = cli("query", "user_engagement", "--start", "2025-01-01", "--end", "2025-01-03")
    assert [line.split()[0] for line in out.splitlines()[3:]] == ["2025-01-03", "2025-01-02", "2025-01-01"]
    out = cli("query", "recipe_diversity", "--end", "2025-01-02")
    assert "unique_recipes" in out and "2025-01-02" in out


def test_every_query_the_cli_lists_runs(cli):
    listed = cli("query", "no_such_query", expect=1).split("known: ")[1].split()
    names = [n.rstrip(",") for n in listed]
    assert {"active_users", "new_vs_returning", "retention_cohorts"} <= set(names)
    cli("simulate", "--days", "2", "--users", "5", "--conversations-per-day", "3", "--seed", "1")
    cli("catch-up")
    for name in names:
        assert cli("query", name).startswith(f"{name}  2024-12-27 .. 2025-01-02"), name


def test_query_retention_cohorts_counts_returns_after_the_range_as_the_reports_do(cli, project):
    from datetime import date

    from recipe_pipeline import analytics
    from recipe_pipeline.warehouse import DuckDBCatalog

    cli("simulate", "--days", "3", "--users", "30", "--conversations-per-day", "15", "--seed", "3")
    cli("catch-up")
    out = cli("query", "retention_cohorts", "--start", "2025-01-01", "--end", "2025-01-01")
    run = DuckDBCatalog(project.settings.duckdb_path, project.lake).run_query
    [cohort] = analytics.retention(run, date(2025, 1, 1), date(2025, 1, 1), date(2025, 1, 3))
    assert cohort["day_1"] > 0  # returns on 2025-01-02, after --end: read all the same
    [line] = [line for line in out.splitlines() if line.startswith("2025-01-01 ")]
    assert line.split()[:3] == ["2025-01-01", str(cohort["users"]), str(cohort["day_1"])]


def test_simulate_refuses_a_location_with_other_exports(cli):
    cli("simulate", "--days", "2", "--users", "5", "--conversations-per-day", "2", "--seed", "1")
    cli("simulate", "--days", "2", "--users", "5", "--conversations-per-day", "2", "--seed", "1")  # same: allowed
    out = cli("simulate", "--days", "2", "--users", "5", "--conversations-per-day", "2", "--seed", "2", expect=1)
    assert "did not write" in out and "--force" in out


def test_query_errors_are_clear(cli):
    out = cli("query", "no_such_query", expect=1)
    assert "unknown query 'no_such_query'" in out and "weekly_recipe_popularity" in out
    out = cli("query", "user_engagement", expect=1)
    assert "no data yet" in out


def test_malformed_dates_are_usage_errors(cli):
    out = cli("query", "user_engagement", "--start", "2025/01/13", expect=2)
    assert "Invalid value for '--start'" in out and "%Y-%m-%d" in out
    out = cli("query", "user_engagement", "--end", "2025-02-30", expect=2)
    assert "Invalid value for '--end'" in out
    out = cli("retention", "--today", "yesterday", "--dry-run", expect=2)
    assert "Invalid value for '--today'" in out


def test_configuration_errors_name_the_variable(cli, monkeypatch):
    monkeypatch.setenv("RECIPE_PIPELINE_ENGINE", "spark")
    out = cli("catch-up", expect=1)
    assert "RECIPE_PIPELINE_ENGINE" in out and "spark" in out


def test_demo_prints_a_summary(cli, project):
    out = cli("demo", "--days", "2")
    assert "summary 2025-01-01 .. 2025-01-02: 2 days processed" in out
    assert "top recipes:" in out and str(project.settings.duckdb_path) in out


def test_format_table_aligns_columns():
    assert format_table(["a", "bb"], [(1, 2.5), ("xyz", None)]).splitlines() == ["a    bb  ", "---  ----", "1    2.50", "xyz      "]
