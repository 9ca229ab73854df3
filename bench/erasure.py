"""Erasure benchmark: ``forget-user`` on the scale benchmark's day of N messages (1M by default).

The day's raw file is built once from the scale benchmark's export (cached beside it); each round
copies it into a fresh lake and erases the day's busiest user there, in a child process, so its
wall time and peak RSS are its own. forget-user rewrites the file a row group at a time, from
file to file: its memory should stay flat as the day grows. The idle line is a child that
only imports the pipeline, for scale.

    python -m bench.erasure --messages 1000000      (make bench-erasure)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.scale import CACHE, DAY, generate, index_exports, peak_rss_mb

PSEUDONYM_KEY = "bench-key"


def raw_lake(cache: Path, messages: int) -> Path:
    """A lake holding the benchmark day's raw file (cached)."""
    from recipe_pipeline.exports import ExportStore
    from recipe_pipeline.pseudonyms import Pseudonymizer
    from recipe_pipeline.raw import write_raw_day
    from recipe_pipeline.storage import Location

    lake = cache / f"lake-{messages}-erasure"
    if (lake / "DONE").exists():
        return lake
    shutil.rmtree(lake, ignore_errors=True)
    exports = generate(cache, messages)
    index_exports(exports, lake)
    write_raw_day(ExportStore(Location(str(exports))), Location(str(lake)), DAY, set(), Pseudonymizer(PSEUDONYM_KEY))
    (lake / "DONE").write_text("ok")
    return lake


def busiest_user(lake: Path) -> str:
    from recipe_pipeline import lake as layout
    from recipe_pipeline.storage import Location

    file = Location(str(lake)).parquet_file(layout.raw_conversations_path(DAY))
    users: Counter[str] = Counter()
    for group in range(file.num_row_groups):
        users.update(file.read_row_group(group, columns=["user_id"]).column("user_id").to_pylist())
    return users.most_common(1)[0][0]


def forget(lake: Path, user_id: str) -> dict:
    from recipe_pipeline.erasure import forget_user
    from recipe_pipeline.pseudonyms import Pseudonymizer
    from recipe_pipeline.storage import Location

    with tempfile.TemporaryDirectory(prefix="bench-erasure-") as work:
        copy = Path(work) / "lake"
        shutil.copytree(lake, copy)
        started = time.perf_counter()
        report = forget_user(Location(str(copy)), Pseudonymizer(PSEUDONYM_KEY), user_id)
        return {"seconds": time.perf_counter() - started, "rows_removed": report.total_rows}


def idle() -> dict:
    from recipe_pipeline.erasure import forget_user

    assert forget_user  # imported, as every round's child does, and nothing else
    return {"seconds": 0.0, "rows_removed": 0}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.erasure", "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated exports and lakes are kept")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3); the median time and the highest peak are shown")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = forget(Path(rest[0]), rest[1]) if kind == "forget" else idle()
        result["max_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return result

    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"building (or reusing) the raw day of {args.messages:,} messages in {args.cache}/ ...", flush=True)
    lake = raw_lake(args.cache, args.messages)
    from recipe_pipeline import lake as layout

    file_mb = (lake / layout.raw_conversations_path(DAY)).stat().st_size / 1e6
    user_id = busiest_user(lake)
    rounds = [_child(["forget", str(lake), user_id]) for _ in range(args.repeat)]
    baseline = _child(["idle"])
    assert len({r["rows_removed"] for r in rounds}) == 1, "every round removes the same rows"
    result = {"messages": args.messages, "file_mb": file_mb, "rows_removed": rounds[0]["rows_removed"],
              "seconds": sorted(r["seconds"] for r in rounds)[len(rounds) // 2], "max_rss_mb": max(r["max_rss_mb"] for r in rounds),
              "idle_rss_mb": baseline["max_rss_mb"], "runs": len(rounds)}
    print(f"| messages | raw file (MB) | rows removed | forget-user (s, median of {len(rounds)}) | peak RSS (MB) | idle child (MB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.messages:,} | {file_mb:.0f} | {result['rows_removed']} | {result['seconds']:.2f} | {result['max_rss_mb']:.0f} | {result['idle_rss_mb']:.0f} |")
    return result


if __name__ == "__main__":
    main()
