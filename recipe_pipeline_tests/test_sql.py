"""The project's SQL: Athena's dialect parses it (sqlglot), DuckDB runs the same queries
transpiled, parameters are bound rather than formatted in."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from recipe_pipeline.sql import athena_ddl, load_query, query_names, read_sql, to_duckdb
from recipe_pipeline.warehouse import DuckDBCatalog

SEED_QUERIES = ("weekly_recipe_popularity", "user_engagement", "recipe_diversity")


@pytest.mark.parametrize("name", query_names())
def test_every_named_query_is_athena_sql_with_declared_parameters(name):
    query = load_query(name)
    tree = sqlglot.parse_one(query.text, read="athena")
    assert isinstance(tree, exp.Query)
    placeholders = list(tree.find_all(exp.Placeholder))
    assert len(placeholders) == len(query.params) > 0
    assert "{" not in query.text  # nothing is string-formatted into a query
    assert to_duckdb(query.text)


def test_the_seed_queries_are_all_there():
    assert set(SEED_QUERIES) <= set(query_names())


def test_binding_names_missing_parameters():
    with pytest.raises(KeyError, match="start_ymd"):
        load_query("weekly_recipe_popularity").bind({"end_ymd": 20250101})


def test_athena_ddl_parses_and_uses_partition_projection():
    statements = athena_ddl("recipe_analytics", "s3://recipe-lake/prod/", 2025)
    assert set(statements) == {"recipe_conversations", "daily_metrics"}
    for table, text in statements.items():
        tree = sqlglot.parse_one(text, read="athena")
        assert isinstance(tree, exp.Create) and tree.args["kind"] == "TABLE"
        assert f"recipe_analytics.{table}" in text
        assert "'projection.enabled' = 'true'" in text
        assert "year=${year}/month=${month}/day=${day}/" in text
    assert "LOCATION 's3://recipe-lake/prod/conversations/'" in statements["recipe_conversations"]
    assert "LOCATION 's3://recipe-lake/prod/aggregated/daily/'" in statements["daily_metrics"]
    with pytest.raises(ValueError):
        athena_ddl("bad-name; drop", "s3://x", 2025)


def test_athena_ddl_columns_match_the_lake_schema():
    from recipe_pipeline.anonymize import ANONYMIZED_SCHEMA

    tree = sqlglot.parse_one(athena_ddl("db", "s3://b", 2025)["recipe_conversations"], read="athena")
    columns = [c.name for c in tree.this.expressions if isinstance(c, exp.ColumnDef)]
    assert columns == ANONYMIZED_SCHEMA.names


def test_named_queries_run_on_duckdb_over_the_pipeline_output(project, simulated, instance):
    from recipe_pipeline.catchup import catch_up
    from recipe_pipeline.definitions import build_definitions

    assert catch_up(build_definitions(project.settings), instance, log=lambda _: None).ok
    catalog = DuckDBCatalog(project.settings.duckdb_path, project.lake)
    assert [re.search(r"CREATE OR REPLACE VIEW (\w+)", s).group(1) for s in catalog.view_statements()] == [
        "recipe_conversations", "daily_metrics",
    ]
    values = {"start_ymd": 20250101, "end_ymd": 20250103, "start_date": "2025-01-01", "end_date": "2025-01-03"}
    columns, rows = catalog.run_query("lake_summary", values)
    assert rows == [(3, simulated.stats.messages, simulated.stats.conversations, simulated.stats.users)]
    columns, rows = catalog.run_query("user_engagement", values)
    assert [r[columns.index("total_conversations")] for r in sorted(rows)] == list(simulated.stats.conversations_per_day.values())
    columns, rows = catalog.run_query("weekly_recipe_popularity", values)
    assert columns == ["recipe_name", "mentions", "unique_users"] and rows
    assert rows == sorted(rows, key=lambda r: (-r[1], r[0]))
    columns, rows = catalog.run_query("recipe_diversity", {**values, "end_date": "2025-01-01"})
    assert len(rows) == 1


def test_daily_metrics_sql_is_the_one_file_both_engines_use():
    text = read_sql("queries/daily_metrics.sql")
    assert "recipe_conversations" in text and "?" in text
