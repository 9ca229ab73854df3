"""Shared fixtures: a temporary lake, AWS-layout exports written by the real writer, and the
project's resources pointed at them. Nothing here mocks project code."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pytest

from recipe_pipeline.resources import build_resources
from recipe_pipeline.settings import Settings, load_settings
from recipe_pipeline.simulate import SimulationConfig, SimulationResult, write_simulation
from recipe_pipeline.storage import Location

TEST_PSEUDONYM_KEY = "test-pseudonym-key-0123456789abcdef"

# A small simulation: three days, enough users to return, every feature of the simulator.
SMALL_SIMULATION = SimulationConfig(start=date(2025, 1, 1), days=3, seed=11, users=40, conversations_per_day=25, pii_rate=0.2, edit_rate=0.1, erasure_users=1)


@dataclass
class Project:
    """A lake directory with its settings and resources, as a test sees them."""

    settings: Settings
    resources: dict
    lake: Location
    exports: Location


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    lake_dir = tmp_path / "lake"
    env = {
        "RECIPE_PIPELINE_LAKE": str(lake_dir),
        "RECIPE_PIPELINE_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("RECIPE_PIPELINE_EXPORTS", "RECIPE_PIPELINE_ENGINE", "RECIPE_PIPELINE_DUCKDB", "RECIPE_PIPELINE_START_DATE"):
        monkeypatch.delenv(name, raising=False)
    os.makedirs(env["DAGSTER_HOME"], exist_ok=True)
    settings = load_settings()
    return Project(settings, build_resources(settings), Location(settings.lake_url), Location(settings.exports_url))


@pytest.fixture
def simulated(project: Project) -> SimulationResult:
    """The small simulation written as exports into the project's export location."""
    return write_simulation(project.exports, SMALL_SIMULATION)


@pytest.fixture
def instance(project: Project):
    with dg.instance_for_test() as test_instance:
        yield test_instance
