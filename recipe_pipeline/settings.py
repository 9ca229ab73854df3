"""Configuration from the environment, validated once, with errors that name the variable.

| variable                        | meaning                                    | local default        |
|---------------------------------|--------------------------------------------|----------------------|
| RECIPE_PIPELINE_LAKE            | lake base: a directory or s3://bucket/pfx  | ./.lake              |
| RECIPE_PIPELINE_EXPORTS         | where DynamoDB exports land (AWSDynamoDB/) | <lake>/exports       |
| RECIPE_PIPELINE_ENGINE          | duckdb or athena                           | duckdb               |
| RECIPE_PIPELINE_PSEUDONYM_KEY   | secret key for user pseudonyms             | a dev key + warning  |
| RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET | AWS Secrets Manager id holding that key | unset                |
| RECIPE_PIPELINE_START_DATE      | first daily partition (YYYY-MM-DD)         | 2025-01-01           |
| RECIPE_PIPELINE_DUCKDB          | local warehouse database file              | <lake>/warehouse.duckdb |
| RECIPE_PIPELINE_ATHENA_DATABASE | Glue database of the Athena tables         | recipe_analytics     |
| RECIPE_PIPELINE_QUARANTINE_THRESHOLD | quarantined share that warns          | 0.001 (0.1%)         |
| RECIPE_PIPELINE_ATHENA_WORKGROUP| Athena workgroup                           | recipe-pipeline      |

Reading these has no side effects: nothing is created until a run writes.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

ENGINES = ("duckdb", "athena")
DEV_PSEUDONYM_KEY = "recipe-pipeline-local-development-key-not-secret"


class ConfigurationError(ValueError):
    """A setting that cannot work; the message names the environment variable."""


class DevPseudonymKeyWarning(UserWarning):
    """Pseudonyms are being made with the public development key."""


@dataclass(frozen=True)
class Settings:
    lake_url: str
    exports_url: str
    engine: str
    start_date: str
    duckdb_path: str
    pseudonym_key_from_env: bool
    pseudonym_key_secret: str | None = None
    athena_database: str = "recipe_analytics"
    athena_workgroup: str = "recipe-pipeline"
    quarantine_threshold: float = 0.001

    @property
    def is_production(self) -> bool:
        """A lake on S3 is a deployment: real users' data, so no development defaults."""
        return _is_s3(self.lake_url)


def _is_s3(url: str) -> bool:
    return url.startswith("s3://")


def _check_local_dir_creatable(variable: str, path: str) -> None:
    """Fail now, naming ``variable``, if ``path`` could never be created as a directory."""
    current = os.path.abspath(os.path.expanduser(path))
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    if not os.path.isdir(current):
        raise ConfigurationError(f"{variable}={path!r} cannot be created: {current!r} exists and is not a directory")
    if not os.access(current, os.W_OK | os.X_OK):
        raise ConfigurationError(f"{variable}={path!r} cannot be created: {current!r} is not writable")


def _check_url(variable: str, url: str) -> str:
    if not url.strip():
        raise ConfigurationError(f"{variable} is set but empty")
    if "://" in url and not _is_s3(url):
        raise ConfigurationError(f"{variable}={url!r}: only local paths and s3://bucket/prefix are supported")
    if _is_s3(url) and not url[len("s3://") :].strip("/"):
        raise ConfigurationError(f"{variable}={url!r} names no bucket")
    if not _is_s3(url):
        _check_local_dir_creatable(variable, url)
    return url.rstrip("/") if _is_s3(url) else url


_VARIABLES = (
    "RECIPE_PIPELINE_LAKE", "RECIPE_PIPELINE_EXPORTS", "RECIPE_PIPELINE_ENGINE", "RECIPE_PIPELINE_PSEUDONYM_KEY",
    "RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET", "RECIPE_PIPELINE_START_DATE", "RECIPE_PIPELINE_DUCKDB",
    "RECIPE_PIPELINE_ATHENA_DATABASE", "RECIPE_PIPELINE_ATHENA_WORKGROUP",
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    for variable in _VARIABLES:
        # Unset or "" means the default; blanks are a mistake (a "   " pseudonym key is no secret).
        value = env.get(variable)
        if value and not value.strip():
            raise ConfigurationError(f"{variable} is set but empty")
    lake = _check_url("RECIPE_PIPELINE_LAKE", env.get("RECIPE_PIPELINE_LAKE") or "./.lake")
    default_exports = lake + "/exports" if _is_s3(lake) else os.path.join(lake, "exports")
    exports = _check_url("RECIPE_PIPELINE_EXPORTS", env.get("RECIPE_PIPELINE_EXPORTS") or default_exports)

    engine = (env.get("RECIPE_PIPELINE_ENGINE") or "duckdb").strip().lower()
    if engine not in ENGINES:
        raise ConfigurationError(f"RECIPE_PIPELINE_ENGINE={engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "athena" and not _is_s3(lake):
        raise ConfigurationError("RECIPE_PIPELINE_ENGINE=athena needs the lake on S3 (RECIPE_PIPELINE_LAKE=s3://bucket/prefix)")

    start = env.get("RECIPE_PIPELINE_START_DATE") or "2025-01-01"
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", start):
            raise ValueError(start)  # fromisoformat also takes 20250101 and 2025-W01-3; Dagster does not
        date.fromisoformat(start)
    except ValueError as exc:
        raise ConfigurationError(f"RECIPE_PIPELINE_START_DATE={start!r} is not a YYYY-MM-DD date") from exc

    duckdb_path = env.get("RECIPE_PIPELINE_DUCKDB")
    if duckdb_path and "://" in duckdb_path:
        raise ConfigurationError(f"RECIPE_PIPELINE_DUCKDB={duckdb_path!r} must name a local file, not a URL")
    if duckdb_path:
        _check_local_dir_creatable("RECIPE_PIPELINE_DUCKDB", os.path.dirname(os.path.abspath(duckdb_path)))
    elif _is_s3(lake) and engine == "athena":
        # Unused with Athena, so not checked: a container's home may well be read-only.
        duckdb_path = os.path.join(os.path.expanduser("~"), ".recipe-pipeline", "warehouse.duckdb")
    elif _is_s3(lake):
        raise ConfigurationError("RECIPE_PIPELINE_DUCKDB must name a local file when RECIPE_PIPELINE_LAKE is on S3")
    else:
        duckdb_path = os.path.join(lake, "warehouse.duckdb")
        _check_local_dir_creatable("RECIPE_PIPELINE_DUCKDB", os.path.dirname(os.path.abspath(duckdb_path)))

    key_from_env = bool(env.get("RECIPE_PIPELINE_PSEUDONYM_KEY"))
    key_secret = (env.get("RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET") or "").strip() or None
    if _is_s3(lake) and not key_from_env and not key_secret:
        raise ConfigurationError(
            "RECIPE_PIPELINE_PSEUDONYM_KEY (or RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET, an AWS Secrets Manager "
            "secret id) must be set when RECIPE_PIPELINE_LAKE is on S3: pseudonyms made with the public "
            "development key can be recomputed by anyone"
        )

    threshold_text = env.get("RECIPE_PIPELINE_QUARANTINE_THRESHOLD") or "0.001"
    try:
        quarantine_threshold = float(threshold_text)
        if not 0 <= quarantine_threshold <= 1:
            raise ValueError
    except ValueError as exc:
        raise ConfigurationError(f"RECIPE_PIPELINE_QUARANTINE_THRESHOLD={threshold_text!r} is not a share between 0 and 1 (e.g. 0.001)") from exc

    return Settings(
        lake_url=lake,
        exports_url=exports,
        engine=engine,
        start_date=start,
        duckdb_path=os.path.abspath(os.path.expanduser(duckdb_path)),
        pseudonym_key_from_env=key_from_env,
        pseudonym_key_secret=key_secret,
        athena_database=env.get("RECIPE_PIPELINE_ATHENA_DATABASE") or "recipe_analytics",
        athena_workgroup=env.get("RECIPE_PIPELINE_ATHENA_WORKGROUP") or "recipe-pipeline",
        quarantine_threshold=quarantine_threshold,
    )


def warn_dev_key() -> None:
    warnings.warn(
        "RECIPE_PIPELINE_PSEUDONYM_KEY is not set: user pseudonyms use the public development key. "
        "Set RECIPE_PIPELINE_PSEUDONYM_KEY to a secret before processing real users.",
        DevPseudonymKeyWarning,
        stacklevel=2,
    )
