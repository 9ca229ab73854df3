"""Resources: every external system behind a ``ConfigurableResource``, filled from the environment.

- ``lake``: the data lake, a local directory or ``s3://bucket/prefix`` (pyarrow filesystems).
- ``exports``: where DynamoDB's native exports land (the folder or prefix holding ``AWSDynamoDB/``).
- ``pseudonyms``: the secret key for user pseudonyms (``RECIPE_PIPELINE_PSEUDONYM_KEY``).
- ``warehouse``: the query engine. ``DuckDBWarehouseResource`` locally; Athena comes with the AWS
  profile. Local and production differ only in these values, never in branches inside assets.
"""


import json
import warnings
from datetime import date
from typing import Any

import dagster as dg

from recipe_pipeline.athena import AthenaRunner
from recipe_pipeline.aws_clients import aws_client
from recipe_pipeline.exports import ExportStore
from recipe_pipeline.lake import conversations_path
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.settings import DEV_PSEUDONYM_KEY, DevPseudonymKeyWarning, Settings, warn_dev_key
from recipe_pipeline.sql import athena_ddl, load_query, read_sql
from recipe_pipeline.storage import Location
from recipe_pipeline.warehouse import TABLES, DuckDBCatalog, compute_daily_metrics


class LakeResource(dg.ConfigurableResource):
    """The data lake: raw (restricted), conversations, aggregated, quarantine zones."""

    url: str
    quarantine_threshold: float = 0.001  # share of a day's items that may be quarantined before a warning

    def location(self) -> Location:
        return Location(self.url)


class DynamoDBExportsResource(dg.ConfigurableResource):
    """The landing place of DynamoDB table exports (``AWSDynamoDB/<ExportId>/...``)."""

    url: str

    def store(self) -> ExportStore:
        return ExportStore(Location(self.url))


class PseudonymKeyResource(dg.ConfigurableResource):
    """The secret HMAC key that turns user ids into stable pseudonyms: given directly
    (``RECIPE_PIPELINE_PSEUDONYM_KEY``) or read from AWS Secrets Manager at run time
    (``RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET``, the secret's name or ARN; SecretString is the key)."""

    key: str = ""
    secret_id: str = ""

    @property
    def is_dev_key(self) -> bool:
        return not self.secret_id and self.key == DEV_PSEUDONYM_KEY

    def resolve_key(self) -> str:
        if self.key:
            return self.key
        if not self.secret_id:
            raise ValueError("no pseudonym key: set RECIPE_PIPELINE_PSEUDONYM_KEY or RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET")
        import boto3

        secret = boto3.client("secretsmanager").get_secret_value(SecretId=self.secret_id)
        if not secret.get("SecretString"):
            raise ValueError(f"secret {self.secret_id!r} has no SecretString to use as the pseudonym key")
        return secret["SecretString"]

    def pseudonymizer(self) -> Pseudonymizer:
        return Pseudonymizer(self.resolve_key())


class WarehouseResource(dg.ConfigurableResource):
    """The query engine in Athena's role: computes daily metrics, serves the tables, runs the
    named queries. ``DuckDBWarehouseResource`` locally, ``AthenaWarehouseResource`` on AWS."""

    def daily_metrics(self, day: str) -> dict[str, Any]:
        """The day's metrics from ``recipe_conversations`` (the anonymized partition)."""
        raise NotImplementedError

    def register_tables(self, day: str) -> dict[str, Any]:
        raise NotImplementedError

    def partition_counts(self, day: str) -> dict[str, int]:
        raise NotImplementedError

    def run_query(self, name: str, values: dict[str, Any]) -> tuple[list[str], list[tuple]]:
        raise NotImplementedError


class DuckDBWarehouseResource(WarehouseResource):
    """DuckDB in Athena's role: daily metrics from the shared SQL, and a catalog file with
    ``recipe_conversations``/``daily_metrics``/``user_activity`` views over the lake."""

    database: str
    lake: LakeResource

    def catalog(self) -> DuckDBCatalog:
        return DuckDBCatalog(self.database, self.lake.location())

    def daily_metrics(self, day: str) -> dict[str, Any]:
        with self.lake.location().local_file(conversations_path(day)) as path:
            return compute_daily_metrics(day, path)

    def register_tables(self, day: str) -> dict[str, Any]:
        """Make ``day`` queryable; returns the statements run and the rows each table serves."""
        catalog = self.catalog()
        statements = catalog.refresh()
        return {"statements": statements, "rows": catalog.partition_counts(day), "database": self.database}

    def partition_counts(self, day: str) -> dict[str, int]:
        return self.catalog().partition_counts(day)

    def run_query(self, name: str, values: dict[str, Any]) -> tuple[list[str], list[tuple]]:
        return self.catalog().run_query(name, values)


class AthenaWarehouseResource(WarehouseResource):
    """Athena (Trino) in production: external tables over the S3 lake with partition projection
    (created idempotently, never ``MSCK REPAIR``), daily metrics computed by Athena SQL over
    ``recipe_conversations`` so compute scales with Athena, named queries with bound parameters.
    boto3 honours ``AWS_ENDPOINT_URL``/``AWS_REGION``; retries use botocore's standard mode."""

    database: str
    workgroup: str
    lake: LakeResource
    first_year: int = 2025
    timeout_seconds: int = 1800

    def runner(self) -> AthenaRunner:
        return AthenaRunner(aws_client("athena"), self.workgroup, self.database, timeout_seconds=self.timeout_seconds)

    def table_statements(self) -> list[str]:
        ddl = athena_ddl(self.database, self.lake.url, self.first_year)
        return [f"CREATE DATABASE IF NOT EXISTS {self.database}", *ddl.values()]

    def ensure_tables(self, runner: AthenaRunner | None = None) -> list[str]:
        runner = runner or self.runner()
        statements = self.table_statements()
        for statement in statements:
            runner.execute(statement)
        return statements

    def daily_metrics(self, day: str) -> dict[str, Any]:
        d = date.fromisoformat(day)
        runner = self.runner()
        self.ensure_tables(runner)
        query = load_query("daily_metrics")
        sql = read_sql("athena/daily_metrics_as_json.sql").format(daily_metrics=query.text)
        columns, rows = runner.query(sql, query.bind({"year": d.year, "month": d.month, "day": d.day}))
        metrics = {"date": day, **dict(zip(columns, rows[0]))}  # the SQL takes no parameter outside WHERE
        for name in ("recipes_discussed", "messages_by_hour", "tool_usage"):
            metrics[name] = dict(sorted(json.loads(metrics[name]).items())) if metrics[name] else {}
        for name in ("total_conversations", "unique_users", "total_messages", "user_messages", "assistant_messages",
                     "tool_messages", "conversations_with_recipe", "pii_redactions"):
            metrics[name] = int(metrics[name] or 0)
        metrics["avg_conversation_length"] = round(float(metrics["avg_conversation_length"] or 0.0), 4)
        return metrics

    def partition_counts(self, day: str) -> dict[str, int]:
        d = date.fromisoformat(day)
        runner = self.runner()
        counts = {}
        for table in TABLES:
            _, rows = runner.query(f"SELECT COUNT(*) FROM {self.database}.{table} WHERE year = ? AND month = ? AND day = ?", [d.year, d.month, d.day])
            counts[table] = int(rows[0][0])
        return counts

    def register_tables(self, day: str) -> dict[str, Any]:
        statements = self.ensure_tables()
        return {"statements": statements, "rows": self.partition_counts(day), "database": f"athena:{self.database}"}

    def run_query(self, name: str, values: dict[str, Any]) -> tuple[list[str], list[tuple]]:
        query = load_query(name)
        return self.runner().query(query.text, query.bind(values))


def build_resources(settings: Settings) -> dict[str, Any]:
    lake = LakeResource(url=settings.lake_url, quarantine_threshold=settings.quarantine_threshold)
    if settings.pseudonym_key_from_env:
        pseudonyms = PseudonymKeyResource(key=dg.EnvVar("RECIPE_PIPELINE_PSEUDONYM_KEY"))
    elif settings.pseudonym_key_secret:
        pseudonyms = PseudonymKeyResource(secret_id=dg.EnvVar("RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET"))
    else:
        pseudonyms = PseudonymKeyResource(key=DEV_PSEUDONYM_KEY)
        with warnings.catch_warnings():
            warnings.simplefilter("always", DevPseudonymKeyWarning)
            warn_dev_key()
    return {
        "lake": lake,
        "exports": DynamoDBExportsResource(url=settings.exports_url),
        "pseudonyms": pseudonyms,
        "warehouse": _warehouse(settings, lake),
    }


def _warehouse(settings: Settings, lake: LakeResource) -> WarehouseResource:
    if settings.engine == "athena":
        return AthenaWarehouseResource(
            database=settings.athena_database,
            workgroup=settings.athena_workgroup,
            lake=lake,
            first_year=date.fromisoformat(settings.start_date).year,
        )
    return DuckDBWarehouseResource(database=settings.duckdb_path, lake=lake)
