"""The local warehouse: DuckDB playing Athena's part.

Daily metrics run the shared Athena-dialect SQL (transpiled) on one day's anonymized Arrow table
in an in-memory database. The catalog file (``warehouse.duckdb``) holds views named like the
Athena tables over the lake's files, for the named queries and for anyone with a DuckDB client.
DuckDB allows one writer per file across processes, so every connection to the catalog file is
taken under a file lock: concurrent runs queue instead of failing or corrupting it.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
from filelock import FileLock

from recipe_pipeline.lake import CONVERSATIONS, DAILY_METRICS, USER_ACTIVITY
from recipe_pipeline.sql import ATHENA_TABLES, load_query, read_sql, sql_literal
from recipe_pipeline.storage import Location

# Nothing may be downloaded at run time: parquet and json are built into the duckdb wheel.
DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
TABLES = tuple(ATHENA_TABLES)
METRICS_MEMORY_LIMIT = "384MB"


def _plain(value: Any) -> Any:
    """DuckDB/Arrow map values (lists of key/value pairs) to dicts sorted by key."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return dict(sorted(value))
    if isinstance(value, dict):
        return dict(sorted(value.items()))
    return value


@contextmanager
def bounded_duckdb(memory_limit: str, spill_dir: str | None = None, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB that spills to ``spill_dir`` (a temporary one by default) beyond
    ``memory_limit``, in UTC, never downloading extensions; on ``threads`` threads (DuckDB's
    default: one per core) — each thread's buffers come out of the same limit."""
    with ExitStack() as stack:
        spill = spill_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="duckdb-spill-"))
        config = {**DUCKDB_CONFIG, "memory_limit": memory_limit, "temp_directory": spill}
        if threads is not None:
            config["threads"] = threads
        con = stack.enter_context(duckdb.connect(config=config))
        con.execute("SET TimeZone = 'UTC'")  # days and hours are UTC, whatever the host's zone
        yield con


def parquet_relation(path: str | list[str]) -> str:
    """DuckDB's native scan of a local Parquet file (or files of one schema), as a FROM item (it
    spills within its memory limit; an Arrow object is scanned zero-copy and held in memory whole)."""
    paths = [path] if isinstance(path, str) else path
    return "read_parquet([" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "])"


def compute_daily_metrics(day: str, conversations: pa.Table | str) -> dict[str, Any]:
    """Run ``queries/daily_metrics.sql`` on one day's anonymized rows; returns the metrics row
    (its ``date`` first).

    ``conversations`` is a table or the path of a local Parquet file, which DuckDB scans itself
    in bounded memory however large the day is."""
    query = load_query("daily_metrics")
    d = date.fromisoformat(day)
    # DuckDB materializes a CTE the query reads several times: within this limit, it spills.
    with bounded_duckdb(METRICS_MEMORY_LIMIT) as con:
        if isinstance(conversations, str):
            source = parquet_relation(conversations)
        else:
            con.register("day_rows", conversations)
            source = "day_rows"
        # The SQL filters on the Hive partition columns, as Athena would; the day's file lacks them.
        con.execute(f"CREATE VIEW recipe_conversations AS SELECT *, {d.year} AS year, {d.month} AS month, {d.day} AS day FROM {source}")
        result = con.execute(query.duckdb_text, query.bind({"year": d.year, "month": d.month, "day": d.day}))
        row = dict(zip((c[0] for c in result.description), result.fetchone()))
    metrics = {"date": day, **{k: _plain(v) for k, v in row.items()}}
    for name in ("recipes_discussed", "messages_by_hour", "tool_usage"):
        metrics[name] = metrics[name] or {}
    metrics["avg_conversation_length"] = round(float(metrics["avg_conversation_length"]), 4)
    return metrics


class DuckDBCatalog:
    """The catalog file with the ``recipe_conversations``, ``daily_metrics`` and ``user_activity`` views."""

    def __init__(self, database: str, lake: Location) -> None:
        self.database = database
        self.lake = lake

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        os.makedirs(os.path.dirname(self.database) or ".", exist_ok=True)
        with FileLock(self.database + ".lock", timeout=600):
            if read_only and not os.path.exists(self.database):
                raise FileNotFoundError(f"no local warehouse at {self.database}: run `recipe-pipeline catch-up` first")
            con = duckdb.connect(self.database, read_only=read_only, config=DUCKDB_CONFIG)
            con.execute("SET TimeZone = 'UTC'")  # days and hours are UTC, whatever the host's zone
            try:
                yield con
            finally:
                con.close()

    def view_statements(self) -> list[str]:
        if self.lake.is_s3:
            raise ValueError("the DuckDB catalog reads a local lake only; on S3 use RECIPE_PIPELINE_ENGINE=athena")
        activity_files = self.lake.path(USER_ACTIVITY, "*", "*", "*", "*.parquet")
        globs = {
            "conversations_glob": sql_literal(self.lake.path(CONVERSATIONS, "*", "*", "*", "*.parquet")),
            "metrics_glob": sql_literal(self.lake.path(DAILY_METRICS, "*", "*", "*", "*.json")),
            "activity_glob": sql_literal(activity_files),
        }
        # Split the template, not the filled-in text: a lake path may hold a ';'.
        templates = [t for t in read_sql("duckdb/views.sql").split(";") if t.strip()]
        statements = [t.format(**globs).strip() for t in templates]
        if not glob.glob(activity_files):
            empty = read_sql("duckdb/user_activity_empty.sql").strip()
            statements = [empty if "CREATE OR REPLACE VIEW user_activity " in s else s for s in statements]
        return statements

    def refresh(self) -> list[str]:
        """(Re)create the views; they read the files at query time, so new days appear at once."""
        statements = self.view_statements()
        with self.connect() as con:
            for statement in statements:
                con.execute(statement)
        return statements

    def partition_counts(self, day: str) -> dict[str, int]:
        d = date.fromisoformat(day)
        counts = {}
        with self.connect(read_only=True) as con:
            for table in TABLES:
                counts[table] = con.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE year = ? AND month = ? AND day = ?", [d.year, d.month, d.day]
                ).fetchone()[0]
        return counts

    def run_query(self, name: str, values: Mapping[str, Any]) -> tuple[list[str], list[tuple]]:
        query = load_query(name)
        with self.connect(read_only=True) as con:
            result = con.execute(query.duckdb_text, query.bind(values))
            columns = [c[0] for c in result.description]
            return columns, result.fetchall()
