"""The project's SQL, kept in one place.

``queries/`` holds analytics in Athena's (Trino) dialect: Athena runs them as written, DuckDB
runs them transpiled by sqlglot, so both engines share one definition. Parameters are ``?``
placeholders bound in the order the file's ``-- params:`` line names; dates are never formatted
into SQL text. ``athena/`` holds Athena DDL, ``duckdb/`` the local catalog's views (DDL takes no
parameters in either engine: only configured locations are filled in, quoted).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import sqlglot

from recipe_pipeline import lake as layout

_PARAMS = re.compile(r"^--\s*params:\s*(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Query:
    name: str
    text: str  # Athena/Trino dialect
    params: tuple[str, ...]
    description: str

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        missing = [p for p in self.params if p not in values]
        if missing:
            raise KeyError(f"query {self.name!r} needs parameter(s) {', '.join(missing)}")
        return [values[p] for p in self.params]

    @property
    def duckdb_text(self) -> str:
        return to_duckdb(self.text)


def read_sql(relative: str) -> str:
    return resources.files(__package__).joinpath(relative).read_text()


@cache
def to_duckdb(athena_sql: str) -> str:
    # sqlglot warns that Trino's reduce() "finish" lambda has no DuckDB twin; ours is identity.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    return sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]


@cache
def load_query(name: str) -> Query:
    try:
        text = read_sql(f"queries/{name}.sql")
    except FileNotFoundError:
        raise KeyError(f"unknown query {name!r}; known: {', '.join(query_names())}") from None
    match = _PARAMS.search(text)
    params = tuple(p.strip() for p in match.group(1).split(",") if p.strip()) if match else ()
    description = text.splitlines()[0].removeprefix("--").strip()
    return Query(name, text, params, description)


def query_names() -> list[str]:
    folder = resources.files(__package__).joinpath("queries")
    return sorted(p.name.removesuffix(".sql") for p in folder.iterdir() if p.name.endswith(".sql"))


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Each table and the lake zone it reads.
ATHENA_TABLES = {"recipe_conversations": layout.CONVERSATIONS, "daily_metrics": layout.DAILY_METRICS, "user_activity": layout.USER_ACTIVITY}


def athena_ddl(database: str, lake_url: str, first_year: int) -> dict[str, str]:
    """``CREATE EXTERNAL TABLE`` statements for the Athena tables over ``lake_url`` (an
    ``s3://`` base), with partition projection from ``first_year``. Table -> statement."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise ValueError(f"Athena database name {database!r} must be lower-case letters, digits and underscores")
    base = lake_url.rstrip("/")
    projection = "\n".join(line for line in read_sql("athena/partition_projection.sql").splitlines() if not line.startswith("--"))
    statements = {}
    for table, zone in ATHENA_TABLES.items():
        values = {"location": f"{base}/{zone}", "first_year": int(first_year)}
        statements[table] = read_sql(f"athena/{table}.sql").format(database=database, partition_projection=projection.format(**values), **values)
    return statements
