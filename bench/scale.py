"""Scale benchmark: one day of N messages (1M by default) as a DynamoDB export, timed four ways
in the same run, each in its own child process (wall time and peak RSS from the OS):

- floor: read, decompress and parse every data file into Arrow (pyarrow.json), nothing else;
- ours: ``raw_conversations`` + ``anonymized_conversations`` + ``daily_metrics`` materialized
  by Dagster for that partition, and the same three steps as plain functions (the difference is
  Dagster's run overhead, and the privacy audits ``anonymized_conversations`` runs before it
  publishes a day, which are its own checks); and the Dagster run again with the assets'
  separate blocking checks, as a scheduled daily run has them;
- peer: the seed's logic the plain-Python way (a dict per item, ``re.sub`` per message,
  ``hashlib`` per user id, Python loops to aggregate);
- I/O bound: the floor plus the Parquet I/O the two file-writing assets cannot skip (write the
  raw file, read it back, write the anonymized file) with no transform: the best any path that
  keeps the asset graph's files could do, which says how far the ratio targets are reachable.

The floor, the I/O bound and ours run ``--repeat`` rounds, interleaved, so that a spell of a
slower machine falls on all of them alike; the table shows each one's median and range, and its
highest peak RSS. The peer, many times slower, runs once.

    python -m bench.scale --messages 1000000      (make bench-scale; exports cached in .bench/)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAY = "2025-03-01"
CACHE = Path(os.environ.get("RECIPE_PIPELINE_BENCH_CACHE", ".bench"))
PII_RATE = 0.04  # of user messages (2% of all), as in the demo's simulation
# Part of the cache key: a change to the generated exports makes new ones. Version 4: the day as
# the daily INCREMENTAL export production reads each day, rather than a FULL export, which is now
# cut by day when it is indexed (its day's run would read that cut, not parse the export).
GENERATOR_VERSION = 4


def chat_day(rng: random.Random, users: list[str], start: datetime, messages: int):
    """One day's ``messages`` items from ``start``, evenly spread: conversations of 2–10 messages
    about one recipe, users alternating with the assistant."""
    from bench.chat_text import assistant_message, user_message
    from recipe_pipeline.recipes import RECIPE_CATALOGUE

    recipes = list(RECIPE_CATALOGUE)
    conversation, user, recipe, left = None, None, None, 0
    for i in range(messages):
        if left == 0:
            conversation, user, left = f"conv-{rng.getrandbits(64):016x}", rng.choice(users), rng.randint(2, 10)
            recipe = rng.choice(recipes)
        left -= 1
        role = "user" if i % 2 == 0 else "assistant"
        text = user_message(rng, recipe, PII_RATE) if role == "user" else assistant_message(rng, recipe)
        moment = start + timedelta(microseconds=int(i * 86_400_000_000 / messages))
        yield {
            "conversation_id": conversation, "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "user_id": user,
            "role": role, "message": text,
            "metadata": {"tools_used": [rng.choice(["web_search", "timer", "cookware_check"])]} if i % 7 == 0 else {},
            "date_str": moment.date().isoformat(), "ttl": int((moment + timedelta(days=90)).timestamp()),
        }


def generate(root: Path, messages: int, seed: int = 1) -> Path:
    """The day's INCREMENTAL export (``NEW_AND_OLD_IMAGES``) of ``messages`` new items, as
    production reads one each day (cached by generator version, size and seed)."""
    from recipe_pipeline.export_writer import Change, ExportWriter, micros
    from recipe_pipeline.storage import Location

    exports = root / f"exports-v{GENERATOR_VERSION}-{messages}-{seed}"
    if (exports / "DONE").exists():
        return exports
    rng = random.Random(seed)
    users = [f"user-{rng.getrandbits(48):012x}" for _ in range(max(1, messages // 30))]
    start = datetime.fromisoformat(DAY).replace(tzinfo=UTC)

    def items():
        return chat_day(rng, users, start, messages)

    # DynamoDB splits an export into files by table partition: about 125k items a file here.
    files = max(8, messages // 125_000)
    changes = (Change((item["conversation_id"], item["timestamp"]), micros(datetime.fromisoformat(item["timestamp"])) + 1_000, item, None)
               for item in items())
    # The table's first full export, from before the day (empty), which the day's increment extends.
    ExportWriter(Location(str(exports)), files_per_export=1).write_full_export([], start)
    ExportWriter(Location(str(exports)), files_per_export=files).write_incremental_export(changes, start, start + timedelta(days=1))
    (exports / "DONE").write_text("ok")
    return exports


# The contenders' names in the table, and the ways ours runs.
FLOOR, OURS, PEER = "floor: parse exports into Arrow", "ours: raw + anonymized + metrics ({mode})", "peer: seed-style Python"
IO_BOUND = "I/O bound: floor + write raw, read it, write anonymized"
FUNCTIONS, DAGSTER, DAGSTER_WITH_CHECKS = "functions", "dagster", "dagster + blocking checks"


# -- the contenders, each run in a child process ------------------------------------------------
def export_data_paths(store) -> list[str]:
    """Every data file of the exports that holds items."""
    return [data_file.path for summary in store.completed() for data_file in store.data_files(summary) if data_file.item_count]


def export_file_parser(store):
    """A function reading one data file of ``store``: its gzip stream decompressed into the
    multi-threaded parser, the fastest plain read we found (the floor's, and the I/O bound's
    first step). Made before a contender's clock starts, with the parser imported."""
    import pyarrow as pa
    import pyarrow.json as pj

    def parse(path: str) -> pa.Table:
        with pa.CompressedInputStream(pa.BufferReader(store.location.read_bytes(path)), "gzip") as stream:
            return pj.read_json(stream)

    return parse


def run_floor(exports: Path) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from recipe_pipeline.exports import ExportStore
    from recipe_pipeline.storage import Location

    store = ExportStore(Location(str(exports)))
    parse = export_file_parser(store)
    started = time.perf_counter()  # as ours, after the imports
    # Two files at a time, as our path reads them (zlib and the parser release the GIL).
    with ThreadPoolExecutor(2) as pool:
        rows = sum(pool.map(lambda path: parse(path).num_rows, export_data_paths(store)))
    return {"rows": rows, "seconds": time.perf_counter() - started}


# What the raw file keeps of each export line, as the floor's parser reads it (NewImage, Metadata),
# with the raw schema's types; the anonymized file keeps the columns the two files share.
IO_BOUND_COLUMNS = {
    "conversation_id": ("NewImage", "conversation_id", "S"), "timestamp": ("NewImage", "timestamp", "S"),
    "user_id": ("NewImage", "user_id", "S"), "role": ("NewImage", "role", "S"), "message": ("NewImage", "message", "S"),
    "date_str": ("NewImage", "date_str", "S"), "ttl": ("NewImage", "ttl", "N"), "write_micros": ("Metadata", "WriteTimestampMicros", "N"),
}
IO_BOUND_INTEGERS = {"ttl", "write_micros"}
IO_BOUND_SHARED = ["conversation_id", "timestamp", "user_id", "role", "message"]


def run_io_bound(exports: Path, work: Path) -> dict:
    """The Parquet I/O of our asset graph with no transform at all, through the lake's own reader
    and writers: the floor's parse (two files ahead, as our raw step reads them), each line's
    columns written as the raw file, then that file read back in the anonymize step's batches and
    written as the anonymized file. The two assets are separate steps, each writing its file, so
    no path that keeps them can take less; ours adds resolving, sorting, PII, pseudonyms, recipes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from recipe_pipeline.anonymize import BATCH_ROWS
    from recipe_pipeline.export_columns import in_order_ahead
    from recipe_pipeline.exports import ExportStore
    from recipe_pipeline.storage import Location, parquet_batches

    store, lake = ExportStore(Location(str(exports))), Location(str(work))
    parse_file = export_file_parser(store)
    started = time.perf_counter()  # as ours, after the imports
    schema = pa.schema([(name, pa.int64() if name in IO_BOUND_INTEGERS else pa.string()) for name in IO_BOUND_COLUMNS])

    def parse(path: str) -> pa.Table:
        parsed = parse_file(path)
        columns = [pc.struct_field(parsed.column(top), list(inner)) for top, *inner in IO_BOUND_COLUMNS.values()]
        return pa.table([pc.cast(column, field.type) for column, field in zip(columns, schema)], schema=schema)

    with lake.open_parquet_writer(schema, "raw.parquet") as writer:
        for table in in_order_ahead(parse, export_data_paths(store)):
            writer.write(table)
    with lake.open_parquet_writer(pa.schema([schema.field(name) for name in IO_BOUND_SHARED]), "anonymized.parquet") as writer:
        for batch in parquet_batches(lake.parquet_file("raw.parquet"), BATCH_ROWS, columns=IO_BOUND_SHARED):
            writer.write(batch)
    return {"rows": writer.rows, "seconds": time.perf_counter() - started}


def index_exports(exports: Path, lake: Path) -> float:
    """What the sensor does once per export when it lands: index the days it holds."""
    from recipe_pipeline.export_index import load_or_build_export_index
    from recipe_pipeline.exports import ExportStore
    from recipe_pipeline.storage import Location

    started = time.perf_counter()
    store = ExportStore(Location(str(exports)))
    for summary in store.completed():
        load_or_build_export_index(store, Location(str(lake)), summary)
    return time.perf_counter() - started


def run_ours(exports: Path, lake: Path, mode: str) -> dict:
    import warnings

    os.environ.update({"RECIPE_PIPELINE_LAKE": str(lake), "RECIPE_PIPELINE_EXPORTS": str(exports), "RECIPE_PIPELINE_PSEUDONYM_KEY": "bench-key"})
    warnings.simplefilter("ignore")
    index_seconds = index_exports(exports, lake)
    started = time.perf_counter()
    if mode in (DAGSTER, DAGSTER_WITH_CHECKS):
        import dagster as dg

        from recipe_pipeline.assets.ingestion import raw_conversations
        from recipe_pipeline.assets.metrics import daily_metrics
        from recipe_pipeline.assets.privacy import anonymized_conversations
        from recipe_pipeline.checks import asset_checks
        from recipe_pipeline.resources import build_resources
        from recipe_pipeline.settings import load_settings

        assets = [raw_conversations, anonymized_conversations, daily_metrics]
        asset_keys = {a.key for a in assets}
        checks = [c for c in asset_checks if {k.asset_key for k in c.check_keys} <= asset_keys] if mode == DAGSTER_WITH_CHECKS else []
        with dg.instance_for_test() as instance:
            result = dg.materialize([*assets, *checks], partition_key=DAY, resources=build_resources(load_settings()), instance=instance)
            assert result.success
            assert all(e.passed for e in result.get_asset_check_evaluations())
    else:
        from recipe_pipeline import lake as layout
        from recipe_pipeline.anonymize import write_anonymized_day
        from recipe_pipeline.exports import ExportStore
        from recipe_pipeline.pseudonyms import Pseudonymizer
        from recipe_pipeline.raw import write_raw_day
        from recipe_pipeline.storage import Location
        from recipe_pipeline.warehouse import compute_daily_metrics

        # The plain functions the three assets are thin over, in the same order.
        lake_location = Location(str(lake))
        pseudonymizer = Pseudonymizer("bench-key")
        write_raw_day(ExportStore(Location(str(exports))), lake_location, DAY, set(), pseudonymizer)
        write_anonymized_day(lake_location, DAY, pseudonymizer)
        with lake_location.local_file(layout.conversations_path(DAY)) as path:
            metrics = compute_daily_metrics(DAY, path)
        (lake / "functions-metrics.json").write_text(json.dumps(metrics))
    metrics_path = lake / "aggregated/daily/year=2025/month=03/day=01/daily-metrics-2025-03-01.json"
    seconds = time.perf_counter() - started
    metrics = json.loads((lake / "functions-metrics.json" if mode == FUNCTIONS else metrics_path).read_text())
    return {"rows": metrics["total_messages"], "conversations": metrics["total_conversations"], "seconds": seconds, "index_seconds": index_seconds}


SEED_PATTERNS = [
    (r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b", "[EMAIL]"),
    (r"\b\d{3}[-.]?\d{3}[-.]?\d{4}\b", "[PHONE]"),
    (r"\b\d{16}\b", "[CARD]"),
]
SEED_RECIPE = [r"recipe for (.+?)(?:\.|,|!|\?|$)", r"how to make (.+?)(?:\.|,|!|\?|$)", r"cooking (.+?)(?:\.|,|!|\?|$)"]


def _plain(value: dict):
    (kind, inner), = value.items()
    if kind == "M":
        return {k: _plain(v) for k, v in inner.items()}
    if kind == "L":
        return [_plain(v) for v in inner]
    if kind == "N":
        return float(inner)
    return inner


def run_peer(exports: Path) -> dict:
    """The seed's way: a dict per item, re.sub per message, hashlib per user id, Python loops."""
    manifests = sorted(exports.glob("AWSDynamoDB/*/manifest-files.json"))
    items: dict[tuple[str, str], dict] = {}
    for manifest in manifests:
        for line in manifest.read_text().splitlines():
            entry = json.loads(line)
            path = exports / entry["dataFileS3Key"][entry["dataFileS3Key"].index("AWSDynamoDB/"):]
            with gzip.open(path, "rt") as handle:
                for raw in handle:
                    doc = json.loads(raw)
                    item = {k: _plain(v) for k, v in (doc.get("Item") or doc["NewImage"]).items()}
                    items[(item["conversation_id"], item["timestamp"])] = item
    conversations: dict[str, int] = {}
    users: set[str] = set()
    recipes: dict[str, int] = {}
    hours: dict[str, int] = {}
    for item in items.values():
        message = item["message"]
        for pattern, replacement in SEED_PATTERNS:
            message = re.sub(pattern, replacement, message)
        salt = item["timestamp"][:10]
        users.add(hashlib.sha256(f"{salt}:{item['user_id']}".encode()).hexdigest()[:16])
        conversations[item["conversation_id"]] = conversations.get(item["conversation_id"], 0) + 1
        for pattern in SEED_RECIPE:
            match = re.search(pattern, message.lower())
            if match:
                recipes[match.group(1).strip()] = recipes.get(match.group(1).strip(), 0) + 1
                break
        hour = item["timestamp"][11:13]
        hours[hour] = hours.get(hour, 0) + 1
    return {"rows": len(items), "conversations": len(conversations)}


def peak_rss_mb() -> float:
    """This process's peak resident set since it exec'd, in MB.

    ``VmHWM`` belongs to the address space the interpreter started with. ``ru_maxrss`` does not:
    Linux carries the parent's peak over fork and exec, so every child of a parent that had just
    generated a large export reported the parent's figure instead of its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc: kilobytes, bytes on macOS
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _child(args: list[str]) -> dict:
    """Run one contender in a fresh interpreter; its wall time and peak RSS come back as JSON."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "bench.scale", "--child", *args], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--skip-peer", action="store_true", help="skip the (slow) seed-style peer")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated exports and lakes are kept")
    parser.add_argument("--profile", action="store_true", help="profile our path (functions) with pyinstrument instead")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the floor, the I/O bound and ours, interleaved (default 3); medians are shown")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.profile:
        return profile(args.cache, args.messages)
    if args.child:
        kind, exports, *rest = args.child
        started = time.perf_counter()
        result = {"floor": lambda: run_floor(Path(exports)), "peer": lambda: run_peer(Path(exports)),
                  "io-bound": lambda: run_io_bound(Path(exports), Path(rest[0])),
                  "ours": lambda: run_ours(Path(exports), Path(rest[0]), rest[1])}[kind]()
        result.setdefault("seconds", time.perf_counter() - started)
        result["max_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return

    cache = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    print(f"generating (or reusing) an export of {args.messages:,} messages in {cache}/ ...", flush=True)
    exports = generate(cache, args.messages)
    samples: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        samples.setdefault(FLOOR, []).append(_child(["floor", str(exports)]))
        work = cache / f"io-bound-{args.messages}"
        subprocess.run(["rm", "-rf", str(work)], check=True)
        samples.setdefault(IO_BOUND, []).append(_child(["io-bound", str(exports), str(work)]))
        subprocess.run(["rm", "-rf", str(work)], check=True)
        for mode in (FUNCTIONS, DAGSTER, DAGSTER_WITH_CHECKS):
            lake = cache / f"lake-{args.messages}-{mode.replace(' + ', '-').replace(' ', '-')}"
            subprocess.run(["rm", "-rf", str(lake)], check=True)
            samples.setdefault(OURS.format(mode=mode), []).append(_child(["ours", str(exports), str(lake), mode]))
    if not args.skip_peer:
        samples[PEER] = [_child(["peer", str(exports)])]
    runs = {name: summary(results) for name, results in samples.items()}
    print(table(runs, args.messages))
    return runs


def summary(results: list[dict]) -> dict:
    """One contender's rounds: median seconds (and the range), the highest peak RSS."""
    rows = {result["rows"] for result in results}
    if len(rows) != 1:
        raise AssertionError(f"the rounds disagree on the row count: {sorted(rows)}")
    seconds = [result["seconds"] for result in results]
    merged = {**results[0], "seconds": statistics.median(seconds), "min_seconds": min(seconds), "max_seconds": max(seconds),
              "max_rss_mb": max(result["max_rss_mb"] for result in results), "runs": len(results)}
    if "index_seconds" in results[0]:
        merged["index_seconds"] = statistics.median(result["index_seconds"] for result in results)
    return merged


def profile(cache: Path, messages: int) -> None:
    """Where our path's time goes (pyinstrument; the PII worker processes show as the pool's wait)."""
    from pyinstrument import Profiler

    exports = generate(cache, messages)
    lake = cache / f"lake-{messages}-profile"
    subprocess.run(["rm", "-rf", str(lake)], check=True)
    index_exports(exports, lake)
    with Profiler(interval=0.005) as profiler:
        run_ours(exports, lake, FUNCTIONS)
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def table(runs: dict[str, dict], messages: int) -> str:
    floor = runs[FLOOR]["seconds"]
    ours = runs.get(OURS.format(mode=FUNCTIONS), {}).get("seconds")
    rounds = max(run.get("runs", 1) for run in runs.values())
    lines = [f"scale benchmark: {messages:,} messages in one day" + (f"; floor, I/O bound and ours: median of {rounds} interleaved rounds" if rounds > 1 else ""), "",
             "| path | rows | seconds | range (s) | messages/s | peak RSS (MB) | vs floor |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, run in runs.items():
        spread = f"{run['min_seconds']:.2f}–{run['max_seconds']:.2f}" if run.get("runs", 1) > 1 else "one run"
        lines.append(f"| {name} | {run['rows']:,} | {run['seconds']:.2f} | {spread} | {messages / run['seconds']:,.0f} | {run['max_rss_mb']:.0f} | {run['seconds'] / floor:.1f}x |")
    index = runs.get(OURS.format(mode=FUNCTIONS), {}).get("index_seconds")
    if index is not None:
        lines += ["", f"the export_index run, once per export and not per partition: indexing the export's days took {index:.2f} s (not in the rows above)"]
    peer, bound, ratios = runs.get(PEER), runs.get(IO_BOUND, {}).get("seconds"), []
    if ours:
        ratio = f"ours / floor = {ours / floor:.2f} (target <= 2.0)"
        ratios.append(ratio + (f"; peer / ours = {peer['seconds'] / ours:.2f} (target >= 10)" if peer else "; peer skipped"))
    if bound:
        reach = f"; peer / I/O bound = {peer['seconds'] / bound:.2f}" if peer else ""
        ratios.append(f"I/O bound / floor = {bound / floor:.2f}{reach}: the best ratios a path writing both files, with transforms free, could reach")
    if ratios:
        lines += ["", *ratios]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
