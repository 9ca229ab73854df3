"""Shared fixtures: a temporary lake, AWS-layout exports written by the real writer, and the
project's resources pointed at them. Nothing here mocks project code."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg
import pyarrow as pa
import pytest

from recipe_pipeline.anonymize import ANONYMIZED_SCHEMA
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


def run_index_requests(project: Project, instance, result: dg.SensorResult) -> list[dg.ExecuteInProcessResult]:
    """What the daemon does with the sensor's export_index requests: adds each export's partition
    and runs the job for it."""
    from recipe_pipeline.definitions import build_definitions
    from recipe_pipeline.partitions import export_partitions

    export_ids = [r.partition_key for r in result.run_requests or [] if r.job_name == "export_index"]
    instance.add_dynamic_partitions(export_partitions.name, export_ids)
    job = build_definitions(project.settings).resolve_job_def("export_index")
    return [job.execute_in_process(partition_key=export_id, instance=instance, raise_on_error=False) for export_id in export_ids]


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


class FaultyProxy:
    """An HTTP proxy on 127.0.0.1 in front of the local AWS endpoint that answers the next
    matching requests with an injected fault (throttling, 5xx) and forwards everything else.
    Faults therefore reach boto3 and pyarrow over the wire, exactly as AWS would send them."""

    def __init__(self, upstream: str) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse

        self.upstream = urlparse(upstream)
        self.faults: list[dict] = []
        self.injected: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._take(self.command, self.path, self.headers)
                if fault:
                    payload = fault["body"].encode()
                    self.send_response(fault["status"])
                    for name, value in fault.get("headers", {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers["Host"] = f"{proxy.upstream.hostname}:{proxy.upstream.port}"
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                # A HEAD answer carries the object's length, not the (empty) body's.
                length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail_next(self, count: int, status: int, body: str, *, match=lambda method, path, headers: True, headers: dict | None = None) -> None:
        with self._lock:
            self.faults.append({"count": count, "status": status, "body": body, "match": match, "headers": headers or {}})

    def _take(self, method: str, path: str, headers) -> dict | None:
        with self._lock:
            for fault in self.faults:
                if fault["count"] > 0 and fault["match"](method, path, headers):
                    fault["count"] -= 1
                    self.injected.append((method, path, fault["status"]))
                    return fault
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty_aws(s3_bucket, moto_endpoint, monkeypatch):
    """The local AWS endpoint behind a fault-injecting proxy; AWS_ENDPOINT_URL points at the proxy."""
    proxy = FaultyProxy(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.close()


def anonymized_day(rows: list[dict]) -> pa.Table:
    """An anonymized day (2025-01-01) as the analytics zone holds it, a second apart from 10:00;
    each row needs conversation_id, role and message, and may set any other column."""
    full = []
    for i, row in enumerate(rows):
        moment = datetime(2025, 1, 1, 10, 0, 0, tzinfo=UTC).replace(minute=i // 60, second=i % 60)
        full.append({
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "message_ts": moment, "user_id": "0" * 32,
            "message_length": len(row["message"]), "pii_redactions": 0, "has_recipe": False, "recipe_name": None,
            "recipe_category": None, "tools_used": [], "rating": None, **row,
        })
    return pa.Table.from_pylist(full, schema=ANONYMIZED_SCHEMA)
