"""Backfill benchmark: N days (90 by default) of the demo's volume, launched as a Dagster backfill.

Simulates the days as exports, starts ``dagster dev`` (webserver + daemon, the repository's
``dagster.yaml``: queued runs, two at a time, one per partition) on a loopback port in a
temporary ``DAGSTER_HOME``, launches a partition backfill of the daily assets through the
webserver's GraphQL API (what the UI's "Materialize all" → backfill does) and waits for it.
Prints the wall time and the runs' outcome.

    python -m bench.backfill --days 90        (make bench-backfill)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAILY_ASSETS = ["raw_conversations", "anonymized_conversations", "daily_metrics", "user_activity", "athena_tables"]
START = date(2025, 1, 1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(url, json.dumps({"query": query, "variables": variables or {}}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextmanager
def dagster_dev(env: dict, log=subprocess.DEVNULL, timeout: int = 120) -> Iterator[str]:
    """``dagster dev`` (webserver + daemon) on a loopback port with ``env``; yields its GraphQL URL
    once it answers, and stops it (the whole process group) on the way out."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    server = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1",
                               "-p", str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(timeout):
            try:
                _graphql(url, "{ version }")
                break
            except OSError:
                time.sleep(1)
        else:
            raise SystemExit(f"dagster dev did not answer in {timeout} s")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } ... on InvalidSubsetError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
  status numPartitions runs(limit: 1000) { runId status } } } }"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--timeout", type=int, default=3600, help="give up after this many seconds")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="backfill-bench-"))
    env = {**os.environ, "DAGSTER_HOME": str(work / "dagster_home"), "RECIPE_PIPELINE_LAKE": str(work / "lake"),
           "RECIPE_PIPELINE_EXPORTS": str(work / "exports"), "RECIPE_PIPELINE_START_DATE": START.isoformat(),
           "RECIPE_PIPELINE_PSEUDONYM_KEY": "bench-key"}
    (work / "dagster_home").mkdir()
    shutil.copy(ROOT / "dagster.yaml", work / "dagster_home" / "dagster.yaml")
    bin_dir = Path(sys.executable).parent
    print(f"simulating {args.days} days in {work} ...", flush=True)
    subprocess.run([str(bin_dir / "recipe-pipeline"), "simulate", "--days", str(args.days), "--start", START.isoformat()],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        with dagster_dev(env) as url:
            partitions = [(START + timedelta(days=d)).isoformat() for d in range(args.days)]
            started = time.perf_counter()
            launched = _graphql(url, LAUNCH, {"p": {"partitionNames": partitions, "assetSelection": [{"path": [a]} for a in DAILY_ASSETS], "fromFailure": False}})
            backfill_id = launched["data"]["launchPartitionBackfill"].get("backfillId")
            if not backfill_id:
                raise SystemExit(f"backfill not launched: {launched}")
            print(f"backfill {backfill_id}: {len(partitions)} partitions x {len(DAILY_ASSETS)} assets", flush=True)
            status: dict = {}
            while time.perf_counter() - started < args.timeout:
                time.sleep(5)
                status = _graphql(url, STATUS, {"id": backfill_id})["data"]["partitionBackfillOrError"]
                if status["status"] not in ("REQUESTED",):
                    break
            seconds = time.perf_counter() - started
            outcomes: dict[str, int] = {}
            for run in status.get("runs", []):
                outcomes[run["status"]] = outcomes.get(run["status"], 0) + 1
            result = {"days": args.days, "status": status.get("status"), "seconds": seconds, "runs": outcomes}
            print(f"\n| days | backfill status | wall time (s) | s per partition | runs |\n|---:|---|---:|---:|---|\n"
                  f"| {args.days} | {result['status']} | {seconds:.0f} | {seconds / args.days:.1f} | {outcomes} |")
            return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
