"""The scale benchmark's day with the lake on S3: peak memory of the raw and anonymize steps.

Production keeps the lake in S3, where a file is one object that appears whole, so a day streamed
batch by batch has to be staged somewhere before it is uploaded. This runs the export's index,
``write_raw_day`` and ``write_anonymized_day`` for the scale benchmark's day (exports on local
disk, as cached by ``bench.scale``) against a local S3 endpoint (moto's server, on a loopback
port in this process), each step in a child process whose peak RSS is its own. The times include moto, a
Python server on the same two cores, so only the memory is the point: it should grow with the
day no more than on a local lake.

    python -m bench.s3_lake --messages 1000000      (make bench-s3-lake)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.scale import CACHE, DAY, generate, peak_rss_mb

PSEUDONYM_KEY = "bench-key"
AWS_TEST_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


STEPS = ("index", "raw", "anonymize")


def run_step(step: str, exports: Path, lake_url: str) -> dict:
    """One step of the day, as its asset runs it: the export's index, the raw day, or its
    anonymized day (each after the one before, on the same lake)."""
    from recipe_pipeline.anonymize import write_anonymized_day
    from recipe_pipeline.export_index import load_or_build_export_index
    from recipe_pipeline.exports import ExportStore
    from recipe_pipeline.pseudonyms import Pseudonymizer
    from recipe_pipeline.raw import write_raw_day
    from recipe_pipeline.storage import Location

    store, lake, pseudonymizer = ExportStore(Location(str(exports))), Location(lake_url), Pseudonymizer(PSEUDONYM_KEY)
    started = time.perf_counter()
    rows = None
    if step == "index":
        for summary in store.completed():
            load_or_build_export_index(store, lake, summary)
    elif step == "raw":
        rows = write_raw_day(store, lake, DAY, set(), pseudonymizer).counts["rows"]
    else:
        rows = write_anonymized_day(lake, DAY, pseudonymizer).rows
    return {"rows": rows, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated exports are kept")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = run_step(args.child[0], Path(args.child[1]), args.child[2])
        result["max_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return result

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request

    args.cache.mkdir(parents=True, exist_ok=True)
    exports = generate(args.cache, args.messages)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # a free port
    server.start()
    try:
        host, port = server.get_host_and_port()
        environment = {**os.environ, **AWS_TEST_ENVIRONMENT, "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
        environment.pop("AWS_PROFILE", None)
        bucket = f"bench-lake-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=environment["AWS_ENDPOINT_URL"], region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=bucket)
        steps = {}
        for step in STEPS:  # each in a process of its own: its peak RSS is the step's
            out = subprocess.run([sys.executable, "-m", "bench.s3_lake", "--child", step, str(exports), f"s3://{bucket}/lake"],
                                 env=environment, capture_output=True, text=True, check=True)
            steps[step] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    result = {"messages": args.messages, "rows": steps["anonymize"]["rows"], "steps": steps,
              "max_rss_mb": max(step["max_rss_mb"] for step in steps.values())}
    print("| messages | step | seconds | peak RSS (MB) |")
    print("|---:|---|---:|---:|")
    for step, measured in steps.items():
        print(f"| {args.messages:,} | {step} | {measured['seconds']:.1f} | {measured['max_rss_mb']:.0f} |")
    return result


if __name__ == "__main__":
    main()
