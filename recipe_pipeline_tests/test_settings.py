"""Configuration: working defaults, and errors that name the variable."""

from __future__ import annotations

import os

import pytest

from recipe_pipeline.settings import ConfigurationError, load_settings


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.lake_url == "./.lake"
    assert settings.exports_url == os.path.join("./.lake", "exports")
    assert settings.engine == "duckdb" and settings.start_date == "2025-01-01"
    assert settings.duckdb_path == str(tmp_path / ".lake" / "warehouse.duckdb")
    assert not settings.pseudonym_key_from_env
    assert os.listdir(tmp_path) == []  # reading settings creates nothing


def test_s3_lake(tmp_path):
    settings = load_settings({"RECIPE_PIPELINE_LAKE": "s3://bucket/lake/", "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "w.duckdb"), "RECIPE_PIPELINE_PSEUDONYM_KEY": "k"})
    assert settings.lake_url == "s3://bucket/lake" and settings.exports_url == "s3://bucket/lake/exports"
    assert settings.pseudonym_key_from_env


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RECIPE_PIPELINE_ENGINE": "spark"}, "RECIPE_PIPELINE_ENGINE='spark' is not one of duckdb, athena"),
        ({"RECIPE_PIPELINE_ENGINE": "athena"}, "RECIPE_PIPELINE_ENGINE=athena needs the lake on S3"),
        ({"RECIPE_PIPELINE_START_DATE": "01/02/2025"}, "RECIPE_PIPELINE_START_DATE='01/02/2025' is not a YYYY-MM-DD date"),
        ({"RECIPE_PIPELINE_LAKE": "   "}, "RECIPE_PIPELINE_LAKE is set but empty"),
        ({"RECIPE_PIPELINE_LAKE": "gs://bucket/x"}, "RECIPE_PIPELINE_LAKE='gs://bucket/x': only local paths and s3://"),
        ({"RECIPE_PIPELINE_LAKE": "s3://"}, "names no bucket"),
        ({"RECIPE_PIPELINE_LAKE": "s3://bucket/x"}, "RECIPE_PIPELINE_DUCKDB must name a local file"),
    ],
)
def test_errors_name_the_variable(environ, message):
    with pytest.raises(ConfigurationError) as error:
        load_settings(environ)
    assert message in str(error.value)


def test_a_lake_under_a_regular_file_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="RECIPE_PIPELINE_LAKE=.*exists and is not a directory"):
        load_settings({"RECIPE_PIPELINE_LAKE": str(blocker / "lake")})
    with pytest.raises(ConfigurationError, match="RECIPE_PIPELINE_EXPORTS="):
        load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake"), "RECIPE_PIPELINE_EXPORTS": str(blocker / "x")})
    assert not (tmp_path / "lake").exists()


def test_production_refuses_the_development_key(tmp_path):
    with pytest.raises(ConfigurationError, match="RECIPE_PIPELINE_PSEUDONYM_KEY .* must be set when RECIPE_PIPELINE_LAKE is on S3"):
        load_settings({"RECIPE_PIPELINE_LAKE": "s3://bucket/lake", "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "w.duckdb")})
    settings = load_settings({"RECIPE_PIPELINE_LAKE": "s3://bucket/lake", "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "w.duckdb"), "RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET": "arn:aws:secretsmanager:us-east-1:1:secret:k"})
    assert settings.is_production and settings.pseudonym_key_secret.endswith(":k")


def test_local_mode_warns_naming_the_variable(tmp_path):
    from recipe_pipeline.resources import build_resources
    from recipe_pipeline.settings import DevPseudonymKeyWarning

    with pytest.warns(DevPseudonymKeyWarning, match="RECIPE_PIPELINE_PSEUDONYM_KEY"):
        resources = build_resources(load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake")}))
    assert resources["pseudonyms"].is_dev_key
