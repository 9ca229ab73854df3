"""Resources: every external system behind a ``ConfigurableResource``, filled from the environment.

- ``lake``: the data lake, a local directory or ``s3://bucket/prefix`` (pyarrow filesystems).
- ``exports``: where DynamoDB's native exports land (the folder or prefix holding ``AWSDynamoDB/``).
- ``pseudonyms``: the secret key for user pseudonyms (``RECIPE_PIPELINE_PSEUDONYM_KEY``).
- ``warehouse``: the query engine. ``DuckDBWarehouseResource`` locally; Athena comes with the AWS
  profile. Local and production differ only in these values, never in branches inside assets.
"""


import warnings
from typing import Any

import dagster as dg
import pyarrow as pa

from recipe_pipeline.exports import ExportStore
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.settings import DEV_PSEUDONYM_KEY, DevPseudonymKeyWarning, Settings, warn_dev_key
from recipe_pipeline.storage import Location
from recipe_pipeline.warehouse import DuckDBCatalog, compute_daily_metrics


class LakeResource(dg.ConfigurableResource):
    """The data lake: raw (restricted), conversations, aggregated, quarantine zones."""

    url: str

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


class DuckDBWarehouseResource(dg.ConfigurableResource):
    """DuckDB in Athena's role: daily metrics from the shared SQL, and a catalog file with
    ``recipe_conversations``/``daily_metrics`` views over the lake."""

    database: str
    lake: LakeResource

    def catalog(self) -> DuckDBCatalog:
        return DuckDBCatalog(self.database, self.lake.location())

    def daily_metrics(self, day: str, conversations: pa.Table) -> dict[str, Any]:
        return compute_daily_metrics(day, conversations)

    def register_tables(self, day: str) -> dict[str, Any]:
        """Make ``day`` queryable; returns the statements run and the rows each table serves."""
        catalog = self.catalog()
        statements = catalog.refresh()
        return {"statements": statements, "rows": catalog.partition_counts(day), "database": self.database}


def build_resources(settings: Settings) -> dict[str, Any]:
    lake = LakeResource(url=settings.lake_url)
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
        "warehouse": DuckDBWarehouseResource(database=settings.duckdb_path, lake=lake),
    }
