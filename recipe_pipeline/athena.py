"""Running the project's SQL on Athena (Trino): start, poll with backoff, fail loudly, page.

dagster-aws's ``AthenaClient`` polls at a fixed interval, cannot pass ``ExecutionParameters``
(dates would have to be formatted into SQL) and reads results as untyped CSV from S3 in one
piece; this runner keeps the named queries parameterized, backs off, bounds the wait (and stops
the query on timeout), surfaces ``FAILED``/``CANCELLED`` with Athena's reason, and pages through
``GetQueryResults`` converting values by their column types.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any


class AthenaQueryError(RuntimeError):
    """A query Athena reported as FAILED or CANCELLED, or that did not finish in time.
    ``retryable`` is False when Athena says running it again cannot help (``AthenaError.Retryable``
    false: a user error such as a syntax error or a missing table, ErrorCategory 2)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def athena_literal(value: Any) -> str:
    """An ``ExecutionParameters`` entry: Athena substitutes them as SQL literals."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "tinyint": int, "smallint": int, "integer": int, "bigint": int,
    "double": float, "float": float, "real": float, "decimal": float,
    "boolean": lambda v: v.lower() == "true",
    "json": json.loads,
}


class AthenaRunner:
    def __init__(
        self,
        client: Any,
        workgroup: str,
        database: str | None = None,
        *,
        first_poll_seconds: float = 0.5,
        max_poll_seconds: float = 10.0,
        timeout_seconds: float = 1800.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.workgroup = workgroup
        self.database = database
        self.first_poll_seconds = first_poll_seconds
        self.max_poll_seconds = max_poll_seconds
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep
        self._clock = clock

    def start(self, sql: str, parameters: Sequence[Any] = ()) -> str:
        kwargs: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.workgroup}
        if self.database:
            kwargs["QueryExecutionContext"] = {"Database": self.database}
        if parameters:
            kwargs["ExecutionParameters"] = [athena_literal(p) for p in parameters]
        return self.client.start_query_execution(**kwargs)["QueryExecutionId"]

    def wait(self, execution_id: str) -> dict:
        """Poll until the query ends; returns the QueryExecution. Backs off exponentially."""
        deadline = self._clock() + self.timeout_seconds
        delay = self.first_poll_seconds
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            status = execution["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return execution
            if state in ("FAILED", "CANCELLED"):
                error = status.get("AthenaError", {})
                reason = status.get("StateChangeReason") or error.get("ErrorMessage") or "no reason given"
                raise AthenaQueryError(f"Athena query {execution_id} {state}: {reason}", retryable=error.get("Retryable", True))
            if self._clock() + delay > deadline:
                self.client.stop_query_execution(QueryExecutionId=execution_id)
                raise AthenaQueryError(f"Athena query {execution_id} still {state} after {self.timeout_seconds:.0f}s; stopped it")
            self._sleep(delay)
            delay = min(delay * 2, self.max_poll_seconds)

    def results(self, execution_id: str, page_size: int = 1000) -> tuple[list[str], list[tuple]]:
        """Column names and typed rows, every page of them."""
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple] = []
        token = None
        first_page = True
        while True:
            kwargs: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": page_size}
            if token:
                kwargs["NextToken"] = token
            page = self.client.get_query_results(**kwargs)
            result_set = page["ResultSet"]
            if first_page:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [c["Name"] for c in info]
                types = [c.get("Type", "varchar").lower() for c in info]
            data = result_set.get("Rows", [])
            if first_page and data and [d.get("VarCharValue") for d in data[0]["Data"]] == columns:
                data = data[1:]  # a SELECT's first row repeats the column names
            for row in data:
                values = []
                for value, kind in zip(row["Data"], types):
                    text = value.get("VarCharValue")
                    values.append(None if text is None else _CONVERTERS.get(kind.split("(")[0], str)(text))
                rows.append(tuple(values))
            first_page = False
            token = page.get("NextToken")
            if not token:
                return columns, rows

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        execution_id = self.start(sql, parameters)
        self.wait(execution_id)
        return self.results(execution_id)

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> str:
        execution_id = self.start(sql, parameters)
        self.wait(execution_id)
        return execution_id
