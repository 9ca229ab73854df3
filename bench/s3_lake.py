"""The scale benchmark's day with the lake on S3: peak memory of the raw and anonymize steps.

Production keeps the lake in S3, where a file is one object that appears whole, so a day streamed
batch by batch has to be staged somewhere before it is uploaded. This runs the export's index,
``write_raw_day`` and ``write_anonymized_day`` for the scale benchmark's day (exports on local
disk, as cached by ``bench.scale``) against a local S3 endpoint (moto's server, on a loopback
port in this process), in a child process whose peak RSS is its own. The times include moto, a
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


def run_day(exports: Path, lake_url: str) -> dict:
    from recipe_pipeline.anonymize import write_anonymized_day
    from recipe_pipeline.export_index import load_or_build_export_index
    from recipe_pipeline.exports import ExportStore
    from recipe_pipeline.pseudonyms import Pseudonymizer
    from recipe_pipeline.raw import write_raw_day
    from recipe_pipeline.storage import Location

    store, lake, pseudonymizer = ExportStore(Location(str(exports))), Location(lake_url), Pseudonymizer(PSEUDONYM_KEY)
    seconds = {}
    started = time.perf_counter()
    for summary in store.completed():
        load_or_build_export_index(store, lake, summary)
    seconds["index"] = time.perf_counter() - started
    started = time.perf_counter()
    rows = write_raw_day(store, lake, DAY, set(), pseudonymizer).counts["rows"]
    seconds["raw"] = time.perf_counter() - started
    started = time.perf_counter()
    write_anonymized_day(lake, DAY, pseudonymizer)
    seconds["anonymize"] = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated exports are kept")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = run_day(Path(args.child[0]), args.child[1])
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
        out = subprocess.run([sys.executable, "-m", "bench.s3_lake", "--child", str(exports), f"s3://{bucket}/lake"],
                             env=environment, capture_output=True, text=True, check=True)
    finally:
        server.stop()
    result = {"messages": args.messages, **json.loads(out.stdout.strip().splitlines()[-1])}
    seconds = result["seconds"]
    print("| messages | rows | index (s) | raw (s) | anonymize (s) | peak RSS (MB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.messages:,} | {result['rows']:,} | {seconds['index']:.1f} | {seconds['raw']:.1f} | {seconds['anonymize']:.1f} | {result['max_rss_mb']:.0f} |")
    return result


if __name__ == "__main__":
    main()
