"""The Athena runner and warehouse: a real local endpoint for the happy path (results injected
through moto's API), a botocore stubber on single calls for failure and paging; and every
statement the project sends to Athena parses in sqlglot's Athena dialect."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
import sqlglot
from botocore.stub import Stubber

from recipe_pipeline.athena import AthenaQueryError, AthenaRunner, athena_literal
from recipe_pipeline.resources import AthenaWarehouseResource, LakeResource
from recipe_pipeline.sql import load_query, read_sql


def inject_results(endpoint: str, *results: dict) -> None:
    body = json.dumps({"region": "us-east-1", "results": list(results)}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/static/athena/query-results", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(request)


def result(columns: list[tuple[str, str]], rows: list[list[str | None]]) -> dict:
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    return {
        "rows": [header] + [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in rows],
        "column_info": [{"Name": name, "Type": kind, "CatalogName": "hive", "SchemaName": "", "TableName": "", "Label": name,
                         "Nullable": "UNKNOWN", "CaseSensitive": False, "Precision": 0, "Scale": 0} for name, kind in columns],
    }


def test_a_query_on_the_local_endpoint_returns_typed_rows(s3_bucket, moto_endpoint):
    inject_results(moto_endpoint, result([("recipe_name", "varchar"), ("mentions", "bigint"), ("share", "double")], [["ramen", "12", "0.5"], ["pho", None, "0.25"]]))
    runner = AthenaRunner(boto3.client("athena"), "primary", "recipe_analytics", sleep=lambda _: None)
    columns, rows = runner.query("SELECT recipe_name, mentions, share FROM recipe_conversations WHERE year = ?", [2025])
    assert columns == ["recipe_name", "mentions", "share"]
    assert rows == [("ramen", 12, 0.5), ("pho", None, 0.25)]


def test_parameters_are_bound_as_literals_not_formatted_into_sql():
    assert [athena_literal(v) for v in (2025, "2025-01-01", "it's", 0.5, True)] == ["2025", "'2025-01-01'", "'it''s'", "0.5", "true"]


def stubbed_runner(**kwargs) -> tuple[AthenaRunner, Stubber]:
    client = boto3.client("athena", region_name="us-east-1")
    stubber = Stubber(client)
    return AthenaRunner(client, "wg", "db", sleep=lambda _: None, **kwargs), stubber


def execution(state: str, reason: str = "") -> dict:
    status = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {"QueryExecution": {"QueryExecutionId": "q1", "Status": status}}


def test_failed_and_cancelled_queries_raise_with_athenas_reason():
    runner, stubber = stubbed_runner()
    with stubber:
        stubber.add_response("start_query_execution", {"QueryExecutionId": "q1"}, {"QueryString": "SELECT 1", "WorkGroup": "wg", "QueryExecutionContext": {"Database": "db"}})
        stubber.add_response("get_query_execution", execution("RUNNING"))
        stubber.add_response("get_query_execution", execution("FAILED", "TABLE_NOT_FOUND: line 1:15: Table 'db.nope' does not exist"))
        with pytest.raises(AthenaQueryError, match="q1 FAILED: TABLE_NOT_FOUND"):
            runner.query("SELECT 1")
        stubber.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        stubber.add_response("get_query_execution", execution("CANCELLED", "Query cancelled by user"))
        with pytest.raises(AthenaQueryError, match="CANCELLED: Query cancelled by user"):
            runner.query("SELECT 1")


def test_a_failure_athena_calls_not_retryable_is_permanent_and_fails_the_step_without_retries():
    from recipe_pipeline.assets.common import is_permanent

    runner, stubber = stubbed_runner()
    user_error = {"ErrorCategory": 2, "ErrorType": 1004, "Retryable": False, "ErrorMessage": "line 1:1: mismatched input 'CREAT'"}
    system_error = {"ErrorCategory": 1, "ErrorType": 401, "Retryable": True, "ErrorMessage": "Query exhausted resources"}
    raised = []
    with stubber:
        for error in (user_error, system_error):
            stubber.add_response("start_query_execution", {"QueryExecutionId": "q1"})
            stubber.add_response("get_query_execution", {"QueryExecution": {"QueryExecutionId": "q1", "Status": {"State": "FAILED", "AthenaError": error}}})
            with pytest.raises(AthenaQueryError, match=error["ErrorMessage"]) as failed:
                runner.query("SELECT 1")
            raised.append(failed.value)
    assert [is_permanent(exc) for exc in raised] == [True, False]  # fail_fast: no retry of the user's error


def test_polling_backs_off_and_the_wait_is_bounded():
    delays: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        now[0] += seconds

    client = boto3.client("athena", region_name="us-east-1")
    runner = AthenaRunner(client, "wg", first_poll_seconds=1, max_poll_seconds=4, timeout_seconds=20, sleep=sleep, clock=lambda: now[0])
    with Stubber(client) as stubber:
        stubber.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        for _ in range(7):  # polls at t = 0, 1, 3, 7, 11, 15, 19; the next would pass 20 s
            stubber.add_response("get_query_execution", execution("RUNNING"))
        stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q1"})
        with pytest.raises(AthenaQueryError, match="still RUNNING after 20s; stopped it"):
            runner.execute("SELECT 1")
    assert delays[:4] == [1, 2, 4, 4]


def test_results_are_paged():
    runner, stubber = stubbed_runner()
    info = {"ColumnInfo": [{"Name": "n", "Type": "integer"}]}
    with stubber:
        stubber.add_response("get_query_results", {"ResultSet": {"Rows": [{"Data": [{"VarCharValue": "n"}]}, {"Data": [{"VarCharValue": "1"}]}], "ResultSetMetadata": info}, "NextToken": "t2"},
                             {"QueryExecutionId": "q1", "MaxResults": 2})
        stubber.add_response("get_query_results", {"ResultSet": {"Rows": [{"Data": [{"VarCharValue": "2"}]}, {"Data": [{"VarCharValue": "3"}]}], "ResultSetMetadata": info}},
                             {"QueryExecutionId": "q1", "MaxResults": 2, "NextToken": "t2"})
        assert runner.results("q1", page_size=2) == (["n"], [(1,), (2,), (3,)])


def test_daily_metrics_on_athena_are_parsed_like_duckdbs(s3_bucket, moto_endpoint):
    ok = result([("x", "varchar")], [])
    metrics_row = result(
        [("total_conversations", "bigint"), ("unique_users", "bigint"), ("recipes_discussed", "varchar"),
         ("total_messages", "bigint"), ("avg_conversation_length", "double"), ("user_messages", "bigint"), ("assistant_messages", "bigint"),
         ("tool_messages", "bigint"), ("conversations_with_recipe", "bigint"), ("pii_redactions", "bigint"), ("messages_by_hour", "varchar"), ("tool_usage", "varchar")],
        [["3", "2", '{"ramen":2}', "10", "3.3333333", "5", "4", "1", "2", "1", '{"09":4,"10":6}', '{"timer":1}']],
    )
    # CREATE DATABASE + three CREATE TABLEs, then the metrics query.
    inject_results(moto_endpoint, ok, ok, ok, ok, metrics_row)
    warehouse = AthenaWarehouseResource(database="recipe_analytics", workgroup="primary", lake=LakeResource(url=f"s3://{s3_bucket}/lake"))
    metrics = warehouse.daily_metrics("2025-01-01")
    assert metrics == {
        "date": "2025-01-01", "total_conversations": 3, "unique_users": 2, "recipes_discussed": {"ramen": 2}, "total_messages": 10,
        "avg_conversation_length": 3.3333, "user_messages": 5, "assistant_messages": 4, "tool_messages": 1, "conversations_with_recipe": 2,
        "pii_redactions": 1, "messages_by_hour": {"09": 4, "10": 6}, "tool_usage": {"timer": 1},
    }


def test_every_statement_sent_to_athena_parses_as_athena_sql(s3_bucket):
    warehouse = AthenaWarehouseResource(database="recipe_analytics", workgroup="primary", lake=LakeResource(url=f"s3://{s3_bucket}/lake"))
    statements = warehouse.table_statements()
    statements.append(read_sql("athena/daily_metrics_as_json.sql").format(daily_metrics=load_query("daily_metrics").text))
    statements.append("SELECT COUNT(*) FROM recipe_analytics.recipe_conversations WHERE year = ? AND month = ? AND day = ?")
    for statement in statements:
        assert sqlglot.parse_one(statement, read="athena") is not None, statement


def test_register_tables_creates_them_idempotently_and_counts_the_day(s3_bucket, moto_endpoint):
    ok = result([("x", "varchar")], [])
    inject_results(moto_endpoint, ok, ok, ok, ok, result([("_col0", "bigint")], [["42"]]), result([("_col0", "bigint")], [["1"]]),
                   result([("_col0", "bigint")], [["7"]]))
    warehouse = AthenaWarehouseResource(database="recipe_analytics", workgroup="primary", lake=LakeResource(url=f"s3://{s3_bucket}/lake"))
    registered = warehouse.register_tables("2025-01-01")
    assert registered["rows"] == {"recipe_conversations": 42, "daily_metrics": 1, "user_activity": 7}
    assert registered["statements"][0] == "CREATE DATABASE IF NOT EXISTS recipe_analytics"
    assert all("IF NOT EXISTS" in statement for statement in registered["statements"])
    code = ["\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--")) for statement in registered["statements"]]
    assert not any("MSCK" in text for text in code) and all("projection.enabled" in text for text in code[1:])
