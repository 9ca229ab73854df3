"""Backfill benchmark: the days of one FULL export that spans many of them.

DynamoDB's first full export holds every item the table still has: with a 90-day TTL, 90 days.
Its index cuts it by day (``raw/export_days/``), so a day's ``raw_conversations`` reads its own
cut. Before, each day's run parsed the whole export again, and a first backfill cost days x parse.
This times both in the same run, on the same export (cached in ``.bench/``):

- cut by day: indexing (parse, count and cut), then ``raw_conversations`` for every day;
- whole export: indexing without the cut, then ``raw_conversations`` for every day, each parsing
  the whole export as before.

Only the ingestion step differs; the later assets read the same raw day either way, so they are
not run. Each contender runs in its own process, with its peak RSS.

    python -m bench.full_export [--days 30] [--messages-per-day 50000]     (part of make bench)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.scale import CACHE, GENERATOR_VERSION, chat_day, peak_rss_mb

START = datetime(2025, 1, 1, tzinfo=UTC)
CUT, WHOLE = "cut by day", "whole export per day"


def generate(root: Path, days: int, per_day: int, seed: int = 1) -> Path:
    """A FULL export, taken at the end of ``days`` days of ``per_day`` messages each (cached)."""
    from recipe_pipeline.export_writer import ExportWriter
    from recipe_pipeline.storage import Location

    exports = root / f"full-export-v{GENERATOR_VERSION}-{days}x{per_day}-{seed}"
    if (exports / "DONE").exists():
        return exports
    shutil.rmtree(exports, ignore_errors=True)
    rng = random.Random(seed)
    users = [f"user-{rng.getrandbits(48):012x}" for _ in range(max(1, per_day // 30))]

    def items():
        for day in range(days):
            yield from chat_day(rng, users, START + timedelta(days=day), per_day)

    total = days * per_day
    ExportWriter(Location(str(exports)), files_per_export=max(8, total // 125_000)).write_full_export(items(), START + timedelta(days=days))
    (exports / "DONE").write_text("ok")
    return exports


def run(exports: Path, lake: Path, contender: str) -> dict:
    from recipe_pipeline.export_index import write_export_index
    from recipe_pipeline.exports import ExportStore
    from recipe_pipeline.pseudonyms import Pseudonymizer
    from recipe_pipeline.raw import write_raw_day
    from recipe_pipeline.storage import Location

    store, location, pseudonymizer = ExportStore(Location(str(exports))), Location(str(lake)), Pseudonymizer("bench-key")
    started = time.perf_counter()
    [summary] = store.completed()
    index = write_export_index(store, location, summary, cut_by_day=contender == CUT)
    indexed = time.perf_counter()
    rows = sum(write_raw_day(store, location, day, set(), pseudonymizer).counts["rows"] for day in sorted(index.days))
    finished = time.perf_counter()
    return {"days": len(index.days), "rows": rows, "index_seconds": indexed - started, "days_seconds": finished - indexed,
            "seconds": finished - started, "max_rss_mb": peak_rss_mb()}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--messages-per-day", type=int, default=50_000)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(Path(args.child[0]), Path(args.child[1]), args.child[2])))
        return None

    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"generating (or reusing) a full export of {args.days} days x {args.messages_per_day:,} messages in {args.cache}/ ...", flush=True)
    exports = generate(args.cache, args.days, args.messages_per_day)
    results = {}
    for contender in (CUT, WHOLE):
        lake = args.cache / f"lake-full-export-{contender.split()[0]}"
        shutil.rmtree(lake, ignore_errors=True)
        out = subprocess.run([sys.executable, "-m", "bench.full_export", "--child", str(exports), str(lake), contender],
                             capture_output=True, text=True, check=True).stdout
        results[contender] = json.loads(out.strip().splitlines()[-1])
        shutil.rmtree(lake, ignore_errors=True)
    if results[CUT]["rows"] != results[WHOLE]["rows"]:
        raise AssertionError(f"the contenders disagree on the rows: {results}")
    print(f"\nbackfill of the {results[CUT]['days']} days of one full export ({results[CUT]['rows']:,} messages), raw_conversations only\n")
    print("| contender | index (s) | every day's raw_conversations (s) | total (s) | per day (s) | peak RSS (MB) |\n|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result['index_seconds']:.2f} | {result['days_seconds']:.2f} | {result['seconds']:.2f} "
              f"| {result['days_seconds'] / result['days']:.2f} | {result['max_rss_mb']:.0f} |")
    print(f"\nwhole / cut = {results[WHOLE]['seconds'] / results[CUT]['seconds']:.1f}x")
    return results


if __name__ == "__main__":
    main()
