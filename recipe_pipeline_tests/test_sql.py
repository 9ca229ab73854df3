"""The project's SQL: Athena's dialect parses it (sqlglot), DuckDB runs the same queries
transpiled, parameters are bound rather than formatted in."""

from __future__ import annotations

import re
from datetime import date

import boto3
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from recipe_pipeline.analytics import range_values
from recipe_pipeline.anonymize import ANONYMIZED_SCHEMA
from recipe_pipeline.activity import USER_ACTIVITY_SCHEMA
from recipe_pipeline.resources import AthenaWarehouseResource, LakeResource
from recipe_pipeline.sql import athena_ddl, load_query, query_names, read_sql, to_duckdb
from recipe_pipeline.warehouse import DuckDBCatalog, bounded_duckdb, compute_daily_metrics
from recipe_pipeline_tests.conftest import anonymized_day

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


@pytest.mark.parametrize("name", query_names())
def test_parameters_sit_only_in_where_clauses(name):
    # Athena's parameterized queries: "? parameters can be placed only in the WHERE clause.
    # Syntax like SELECT ? FROM table is not supported." (querying-with-prepared-statements)
    text = load_query(name).text
    if name == "daily_metrics":  # sent wrapped
        text = read_sql("athena/daily_metrics_as_json.sql").format(daily_metrics=text)
    outside = [p.parent.sql("athena") for p in sqlglot.parse_one(text, read="athena").find_all(exp.Placeholder) if not p.find_ancestor(exp.Where)]
    assert outside == []


def test_the_seed_queries_are_all_there():
    assert set(SEED_QUERIES) <= set(query_names())


def test_binding_names_missing_parameters():
    with pytest.raises(KeyError, match="start_ymd"):
        load_query("weekly_recipe_popularity").bind({"end_ymd": 20250101})


def test_athena_ddl_parses_and_uses_partition_projection():
    statements = athena_ddl("recipe_analytics", "s3://recipe-lake/prod/", 2025)
    assert set(statements) == {"recipe_conversations", "daily_metrics", "user_activity"}
    for table, text in statements.items():
        tree = sqlglot.parse_one(text, read="athena")
        assert isinstance(tree, exp.Create) and tree.args["kind"] == "TABLE"
        assert f"recipe_analytics.{table}" in text
        assert "'projection.enabled' = 'true'" in text
        assert "year=${year}/month=${month}/day=${day}/" in text
    assert "LOCATION 's3://recipe-lake/prod/conversations/'" in statements["recipe_conversations"]
    assert "LOCATION 's3://recipe-lake/prod/aggregated/daily/'" in statements["daily_metrics"]
    assert "LOCATION 's3://recipe-lake/prod/aggregated/user_activity/'" in statements["user_activity"]
    with pytest.raises(ValueError):
        athena_ddl("bad-name; drop", "s3://x", 2025)


@pytest.mark.parametrize(("table", "schema"), [("recipe_conversations", ANONYMIZED_SCHEMA), ("user_activity", USER_ACTIVITY_SCHEMA)])
def test_athena_ddl_columns_match_the_lake_schema(table, schema):
    tree = sqlglot.parse_one(athena_ddl("db", "s3://b", 2025)[table], read="athena")
    columns = [c.name for c in tree.this.expressions if isinstance(c, exp.ColumnDef)]
    assert columns == schema.names


def test_named_queries_run_on_duckdb_over_the_pipeline_output(project, simulated, instance):
    from recipe_pipeline.catchup import catch_up
    from recipe_pipeline.definitions import build_definitions

    assert catch_up(build_definitions(project.settings), instance, log=lambda _: None).ok
    catalog = DuckDBCatalog(project.settings.duckdb_path, project.lake)
    assert [re.search(r"CREATE OR REPLACE VIEW (\w+)", s).group(1) for s in catalog.view_statements()] == [
        "recipe_conversations", "daily_metrics", "user_activity",
    ]
    values = {"start_ymd": 20250101, "end_ymd": 20250103, "start_date": "2025-01-01", "end_date": "2025-01-03"}
    columns, rows = catalog.run_query("lake_summary", values)
    assert rows[0][:4] == (3, simulated.stats.messages, simulated.stats.conversations, simulated.stats.users)
    assert columns[4] == "recipes" and rows[0][4] > 0
    columns, rows = catalog.run_query("user_engagement", values)
    assert [r[columns.index("total_conversations")] for r in sorted(rows)] == list(simulated.stats.conversations_per_day.values())
    columns, rows = catalog.run_query("weekly_recipe_popularity", values)
    assert columns == ["recipe_name", "mentions", "unique_users"] and rows
    assert rows == sorted(rows, key=lambda r: (-r[1], r[0]))
    columns, rows = catalog.run_query("recipe_diversity", {**values, "end_date": "2025-01-01"})
    assert len(rows) == 1


# One conversation names two recipes; one message has two PII spans redacted.
HAND_MADE_DAY = [
    {"conversation_id": "c1", "role": "user", "message": "Dinner ideas?"},
    {"conversation_id": "c1", "role": "assistant", "message": "Here's a recipe for ramen.", "has_recipe": True, "recipe_name": "ramen", "recipe_category": "soup"},
    {"conversation_id": "c1", "role": "assistant", "message": "Or a recipe for pancakes.", "has_recipe": True, "recipe_name": "pancakes", "recipe_category": "breakfast"},
    {"conversation_id": "c2", "role": "user", "message": "Mail [EMAIL] or call [PHONE]", "pii_redactions": 2},
    {"conversation_id": "c2", "role": "assistant", "message": "Noted.", "tools_used": ["timer"]},
]


def test_daily_metrics_count_conversations_with_a_recipe_and_sum_redacted_spans(tmp_path):
    path = str(tmp_path / "day.parquet")
    pq.write_table(anonymized_day(HAND_MADE_DAY), path)
    assert compute_daily_metrics("2025-01-01", path) == {
        "date": "2025-01-01", "total_conversations": 2, "unique_users": 1, "recipes_discussed": {"pancakes": 1, "ramen": 1},
        "total_messages": 5, "avg_conversation_length": 2.5, "user_messages": 2, "assistant_messages": 3, "tool_messages": 0,
        "conversations_with_recipe": 1, "pii_redactions": 2, "messages_by_hour": {"10": 5}, "tool_usage": {"timer": 1},
    }


def test_daily_metrics_sql_is_the_one_file_both_engines_use(s3_bucket, moto_endpoint):
    from recipe_pipeline_tests.test_athena import inject_results, result

    text = load_query("daily_metrics").text
    columns = [c.alias_or_name for c in sqlglot.parse_one(text, read="athena").selects]
    # DuckDB: the metrics row has the date, then the file's columns in its order.
    assert list(compute_daily_metrics("2025-01-01", anonymized_day(HAND_MADE_DAY))) == ["date", *columns]
    # Athena: the statement sent wraps the file's text unchanged.
    athena = boto3.client("athena")
    before = set(athena.list_query_executions()["QueryExecutionIds"])
    ok = result([("x", "varchar")], [])
    row = ["{}" if c in ("recipes_discussed", "messages_by_hour", "tool_usage") else "0" for c in columns]
    inject_results(moto_endpoint, ok, ok, ok, ok, result([(c, "varchar") for c in columns], [row]))  # CREATEs, then the metrics
    warehouse = AthenaWarehouseResource(database="recipe_analytics", workgroup="primary", lake=LakeResource(url=f"s3://{s3_bucket}/lake"))
    warehouse.daily_metrics("2025-01-01")
    sent = [i for i in athena.list_query_executions()["QueryExecutionIds"] if i not in before]
    statement = athena.get_query_execution(QueryExecutionId=sent[-1])["QueryExecution"]["Query"]
    assert text in statement and statement == read_sql("athena/daily_metrics_as_json.sql").format(daily_metrics=text)
    assert [c.alias_or_name for c in sqlglot.parse_one(statement, read="athena").selects] == columns  # the wrapper drops no column


# One user message per conversation, and the satisfaction the README's definition gives it.
SATISFACTION_CASES = {
    "How do I keep the garlic from burning?": "unknown",  # a question, not a report of failure
    "Is it burnt if it's dark brown?": "dissatisfied",  # a report word is a report word
    "The crust burned.": "dissatisfied",
    "Burnt on the bottom, sadly": "dissatisfied",
    "That didn\u2019t help": "dissatisfied",
    "It was not what I was looking for": "dissatisfied",
    "Sunburned, but the salad was delicious": "satisfied",
    "Thanks, it worked!": "satisfied",
    "thank you so much": "satisfied",
    "Perfectly done, thx": "satisfied",
    "Any ideas for a Thanksgiving side dish?": "unknown",  # "thank" began a word of the pattern
    "I'm thankless in the kitchen": "unknown",
    "An imperfect answer": "unknown",
    # Word edges are ASCII classes, alike in DuckDB and Athena: a word after a CJK letter or an
    # accented one still counts, and "_" or a digit glued to it does not.
    "とてもperfect": "satisfied",
    "burnt_offering": "unknown",
    "ruined2": "unknown",
}


def test_satisfaction_patterns_use_no_engine_dependent_word_boundary():
    code = "\n".join(line for line in load_query("conversation_outcomes").text.splitlines() if not line.lstrip().startswith("--"))
    assert "regexp_like" in code and "\\b" not in code


def test_satisfaction_matches_whole_words_of_the_definition():
    query = load_query("conversation_outcomes")
    found = {}
    with bounded_duckdb("256MB") as con:
        for message in SATISFACTION_CASES:
            con.register("day_rows", anonymized_day([{"conversation_id": "c", "role": "user", "message": message}]))
            con.execute("CREATE OR REPLACE VIEW recipe_conversations AS SELECT *, 2025 AS year, 1 AS month, 1 AS day FROM day_rows")
            [(_, found[message], _)] = con.execute(query.duckdb_text, query.bind(range_values(date(2025, 1, 1), date(2025, 1, 1)))).fetchall()
    assert found == SATISFACTION_CASES
