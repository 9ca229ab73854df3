"""Configuration: working defaults, errors that name the variable, and no side effects."""

from __future__ import annotations

import os

import pytest

from recipe_pipeline.settings import ConfigurationError, load_settings


def tree(path) -> list[str]:
    """Everything below ``path``, as relative paths."""
    found = []
    for root, dirs, files in os.walk(path):
        found += [os.path.relpath(os.path.join(root, name), path) for name in dirs + files]
    return sorted(found)


def s3_env(tmp_path, **extra) -> dict[str, str]:
    return {
        "RECIPE_PIPELINE_LAKE": "s3://bucket/lake",
        "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "w.duckdb"),
        "RECIPE_PIPELINE_PSEUDONYM_KEY": "k",
        **extra,
    }


# -- defaults --------------------------------------------------------------------------------
def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.lake_url == "./.lake"
    assert settings.exports_url == os.path.join("./.lake", "exports")
    assert settings.engine == "duckdb"
    assert settings.start_date == "2025-01-01"
    assert settings.duckdb_path == str(tmp_path / ".lake" / "warehouse.duckdb")
    assert not settings.pseudonym_key_from_env and settings.pseudonym_key_secret is None
    assert not settings.is_production
    assert tree(tmp_path) == []  # reading settings creates nothing


def test_empty_strings_mean_the_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ("LAKE", "EXPORTS", "ENGINE", "START_DATE", "DUCKDB", "PSEUDONYM_KEY")
    assert load_settings({f"RECIPE_PIPELINE_{n}": "" for n in names}) == load_settings({})


def test_the_environment_is_read_when_no_mapping_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("RECIPE_PIPELINE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("RECIPE_PIPELINE_START_DATE", "2024-12-30")
    for name in ("RECIPE_PIPELINE_EXPORTS", "RECIPE_PIPELINE_ENGINE", "RECIPE_PIPELINE_DUCKDB"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.lake_url == str(tmp_path / "lake") and settings.start_date == "2024-12-30"


def test_explicit_local_values(tmp_path):
    settings = load_settings(
        {
            "RECIPE_PIPELINE_LAKE": str(tmp_path / "lake"),
            "RECIPE_PIPELINE_EXPORTS": str(tmp_path / "drop"),
            "RECIPE_PIPELINE_ENGINE": " DuckDB ",
            "RECIPE_PIPELINE_START_DATE": "2024-02-29",
            "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "db" / "w.duckdb"),
            "RECIPE_PIPELINE_PSEUDONYM_KEY": "secret",
        }
    )
    assert settings.exports_url == str(tmp_path / "drop")
    assert settings.engine == "duckdb" and settings.start_date == "2024-02-29"
    assert settings.duckdb_path == str(tmp_path / "db" / "w.duckdb")
    assert settings.pseudonym_key_from_env
    assert tree(tmp_path) == []


def test_s3_lake(tmp_path):
    settings = load_settings(s3_env(tmp_path, RECIPE_PIPELINE_LAKE="s3://bucket/lake/"))
    assert settings.lake_url == "s3://bucket/lake" and settings.exports_url == "s3://bucket/lake/exports"
    assert settings.is_production and settings.pseudonym_key_from_env


def test_athena_on_an_s3_lake_needs_no_local_database(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings({"RECIPE_PIPELINE_LAKE": "s3://bucket/lake", "RECIPE_PIPELINE_ENGINE": "athena", "RECIPE_PIPELINE_PSEUDONYM_KEY": "k"})
    assert settings.engine == "athena"
    assert tree(tmp_path) == []


def test_athena_on_an_s3_lake_loads_from_a_read_only_directory_with_a_read_only_home(tmp_path, monkeypatch):
    # The default DuckDB path was joined to the S3 URL ("<cwd>/s3:/bucket/lake/warehouse.duckdb")
    # and checked for writability: a container with a read-only working directory failed to load.
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    monkeypatch.chdir(read_only)
    monkeypatch.setenv("HOME", str(read_only))
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: not str(path).startswith(str(read_only)))  # also as root
    settings = load_settings({"RECIPE_PIPELINE_LAKE": "s3://bucket/lake", "RECIPE_PIPELINE_ENGINE": "athena", "RECIPE_PIPELINE_PSEUDONYM_KEY": "k"})
    assert "s3:" not in settings.duckdb_path


# -- errors that name the variable -----------------------------------------------------------
@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RECIPE_PIPELINE_ENGINE": "spark"}, "RECIPE_PIPELINE_ENGINE='spark' is not one of duckdb, athena"),
        ({"RECIPE_PIPELINE_ENGINE": "trino"}, "RECIPE_PIPELINE_ENGINE='trino'"),
        ({"RECIPE_PIPELINE_ENGINE": "athena"}, "RECIPE_PIPELINE_ENGINE=athena needs the lake on S3"),
        ({"RECIPE_PIPELINE_START_DATE": "01/02/2025"}, "RECIPE_PIPELINE_START_DATE='01/02/2025' is not a YYYY-MM-DD date"),
        ({"RECIPE_PIPELINE_START_DATE": "2025-02-30"}, "RECIPE_PIPELINE_START_DATE='2025-02-30'"),
        ({"RECIPE_PIPELINE_START_DATE": "20250101"}, "RECIPE_PIPELINE_START_DATE='20250101'"),  # Dagster refuses it
        ({"RECIPE_PIPELINE_START_DATE": "2025-W01-3"}, "RECIPE_PIPELINE_START_DATE='2025-W01-3'"),
        ({"RECIPE_PIPELINE_START_DATE": "yesterday"}, "RECIPE_PIPELINE_START_DATE='yesterday'"),
        ({"RECIPE_PIPELINE_LAKE": "gs://bucket/x"}, "RECIPE_PIPELINE_LAKE='gs://bucket/x': only local paths and s3://"),
        ({"RECIPE_PIPELINE_LAKE": "https://example.com/lake"}, "RECIPE_PIPELINE_LAKE='https://example.com/lake': only local paths"),
        ({"RECIPE_PIPELINE_LAKE": "file:///tmp/lake"}, "RECIPE_PIPELINE_LAKE='file:///tmp/lake': only local paths"),
        ({"RECIPE_PIPELINE_EXPORTS": "gs://bucket/exports"}, "RECIPE_PIPELINE_EXPORTS='gs://bucket/exports': only local paths"),
        ({"RECIPE_PIPELINE_LAKE": "s3://"}, "RECIPE_PIPELINE_LAKE='s3://' names no bucket"),
        ({"RECIPE_PIPELINE_LAKE": "s3://bucket/x"}, "RECIPE_PIPELINE_DUCKDB must name a local file when RECIPE_PIPELINE_LAKE is on S3"),
        ({"RECIPE_PIPELINE_DUCKDB": "s3://bucket/w.duckdb"}, "RECIPE_PIPELINE_DUCKDB='s3://bucket/w.duckdb' must name a local file"),
    ],
)
def test_errors_name_the_variable(environ, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as error:
        load_settings(environ)
    assert message in str(error.value)
    assert tree(tmp_path) == []


@pytest.mark.parametrize(
    "variable",
    [
        "RECIPE_PIPELINE_LAKE",
        "RECIPE_PIPELINE_EXPORTS",
        "RECIPE_PIPELINE_ENGINE",
        "RECIPE_PIPELINE_START_DATE",
        "RECIPE_PIPELINE_DUCKDB",
        "RECIPE_PIPELINE_PSEUDONYM_KEY",  # a blank key is no secret
        "RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET",
    ],
)
@pytest.mark.parametrize("blank", ["   ", "\t", " \n "])
def test_a_blank_value_is_an_error_naming_the_variable(variable, blank, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=f"^{variable} is set but empty"):
        load_settings({variable: blank})


def test_a_lake_under_a_regular_file_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match=r"^RECIPE_PIPELINE_LAKE=.*exists and is not a directory"):
        load_settings({"RECIPE_PIPELINE_LAKE": str(blocker / "lake")})
    with pytest.raises(ConfigurationError, match=r"^RECIPE_PIPELINE_LAKE=.*exists and is not a directory"):
        load_settings({"RECIPE_PIPELINE_LAKE": str(blocker)})  # the lake path is itself a file
    with pytest.raises(ConfigurationError, match=r"^RECIPE_PIPELINE_EXPORTS=.*exists and is not a directory"):
        load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake"), "RECIPE_PIPELINE_EXPORTS": str(blocker / "x")})
    with pytest.raises(ConfigurationError, match=r"^RECIPE_PIPELINE_DUCKDB="):
        load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake"), "RECIPE_PIPELINE_DUCKDB": str(blocker / "db" / "w.duckdb")})
    assert tree(tmp_path) == ["file"]


def test_production_refuses_the_development_key(tmp_path):
    with pytest.raises(ConfigurationError, match="RECIPE_PIPELINE_PSEUDONYM_KEY .* must be set when RECIPE_PIPELINE_LAKE is on S3"):
        load_settings({"RECIPE_PIPELINE_LAKE": "s3://bucket/lake", "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "w.duckdb")})
    settings = load_settings(
        {
            "RECIPE_PIPELINE_LAKE": "s3://bucket/lake",
            "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "w.duckdb"),
            "RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET": "arn:aws:secretsmanager:us-east-1:1:secret:k",
        }
    )
    assert settings.is_production and settings.pseudonym_key_secret.endswith(":k")
    assert not settings.pseudonym_key_from_env


# -- no side effects -------------------------------------------------------------------------
def test_loading_settings_creates_nothing_on_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    deep = tmp_path / "a" / "b" / "c"
    load_settings({"RECIPE_PIPELINE_LAKE": str(deep / "lake")})
    load_settings({"RECIPE_PIPELINE_LAKE": str(deep / "lake"), "RECIPE_PIPELINE_EXPORTS": str(deep / "exports"), "RECIPE_PIPELINE_DUCKDB": str(deep / "db" / "w.duckdb")})
    load_settings(s3_env(tmp_path, RECIPE_PIPELINE_DUCKDB=str(deep / "w.duckdb")))
    load_settings({"RECIPE_PIPELINE_LAKE": "s3://b/l", "RECIPE_PIPELINE_ENGINE": "athena", "RECIPE_PIPELINE_PSEUDONYM_KEY": "k"})
    load_settings({"RECIPE_PIPELINE_LAKE": "~/lake"})
    assert tree(tmp_path) == []


def test_local_mode_warns_naming_the_variable(tmp_path):
    from recipe_pipeline.resources import build_resources
    from recipe_pipeline.settings import DevPseudonymKeyWarning

    with pytest.warns(DevPseudonymKeyWarning, match="RECIPE_PIPELINE_PSEUDONYM_KEY"):
        resources = build_resources(load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake")}))
    assert resources["pseudonyms"].is_dev_key
