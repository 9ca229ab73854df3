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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real local AWS endpoint (``moto_server``) on a loopback port, for the S3 code paths.

    boto3 and pyarrow talk HTTP to it exactly as they would to AWS; nothing is patched."""
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    executable = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which("moto_server")
    assert executable, "moto_server not found: install the dev extra (moto[server])"
    process = subprocess.Popen([executable, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("moto_server exited at start-up") from None
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_bucket(moto_endpoint, monkeypatch) -> str:
    """A fresh bucket on the local endpoint, with the standard AWS variables pointing at it."""
    import uuid

    import boto3

    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"recipe-lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's headless Chromium, installed with apt-get when the machine lacks it."""
    import shutil
    import subprocess

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = prefix + ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(prefix + ["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which("chromium")
    assert found, "chromium could not be installed with apt-get"
    return found
