"""Sensor benchmark: ``dynamodb_export_sensor`` ticks with a year of daily exports present.

One full export and 365 daily incremental exports (AWS layout, small items) are written once
and cached; then the sensor is evaluated for real (``build_sensor_context`` + ``evaluate_tick``):
the first tick, which reads 366 manifests and requests an ``export_index`` run for each; the tick
after those runs (done here as the functions they are thin over, and timed apart), which reads the
366 indexes and requests the days; a tick with nothing new; and ticks after one more export lands,
before and after its index. The steady ticks must stay well under a second: they list the export
folder and compare with the cursor, and never re-read an old manifest.

    python -m bench.sensor_tick          (part of make bench)
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.scale import CACHE

START = datetime(2024, 1, 1, tzinfo=UTC)


def _item(day: datetime, n: int) -> dict:
    moment = day + timedelta(minutes=7 * n)
    return {"conversation_id": f"conv-{day:%Y%m%d}-{n // 4}", "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "user_id": f"user-{n % 13}", "role": "user" if n % 2 == 0 else "assistant", "message": f"message {n}"}


def write_year(exports: Path, days: int = 365, items_per_day: int = 20) -> None:
    from recipe_pipeline.export_writer import Change, ExportWriter, micros
    from recipe_pipeline.storage import Location

    if (exports / "DONE").exists():
        return
    writer = ExportWriter(Location(str(exports)))
    writer.write_full_export([_item(START - timedelta(days=1), n) for n in range(items_per_day)], START)
    for offset in range(days):
        day = START + timedelta(days=offset)
        changes = [Change((i["conversation_id"], i["timestamp"]), micros(day) + n, i, None) for n, i in enumerate(_item(day, n) for n in range(items_per_day))]
        writer.write_incremental_export(changes, day, day + timedelta(days=1))
    (exports / "DONE").write_text("ok")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sensor-bench-"))
    exports = work / "exports"
    # Before the package loads: the daily partitions start at RECIPE_PIPELINE_START_DATE.
    os.environ.update({"RECIPE_PIPELINE_LAKE": str(work / "lake"), "RECIPE_PIPELINE_EXPORTS": str(exports),
                       "RECIPE_PIPELINE_START_DATE": START.date().isoformat(), "RECIPE_PIPELINE_PSEUDONYM_KEY": "bench-key"})
    import dagster as dg

    from recipe_pipeline.definitions import build_definitions
    from recipe_pipeline.export_index import write_export_index
    from recipe_pipeline.export_writer import Change, ExportWriter, micros
    from recipe_pipeline.exports import ExportStore
    from recipe_pipeline.sensors import SENSOR_NAME
    from recipe_pipeline.settings import load_settings
    from recipe_pipeline.storage import Location

    source = args.cache / f"year-of-exports-{args.days}"
    print(f"writing (or reusing) {args.days + 1} exports in {source}/ ...", flush=True)
    write_year(source, args.days)
    try:
        shutil.copytree(source, exports)
        defs = build_definitions(load_settings())
        sensor = defs.resolve_sensor_def(SENSOR_NAME)

        with dg.instance_for_test() as instance:
            store, lake = ExportStore(Location(str(exports))), Location(str(work / "lake"))

            def tick(cursor: str | None) -> tuple[float, dg.SensorResult]:
                with dg.build_sensor_context(
                    instance=instance, instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources=defs.resources,
                    sensor_name=SENSOR_NAME,
                ) as context:
                    started = time.perf_counter()
                    result = sensor.evaluate_tick(context)
                    seconds = time.perf_counter() - started
                # What the daemon does with the tick's partitions; the index runs are done below.
                for request in result.dynamic_partitions_requests or []:
                    instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
                return seconds, result

            def index(result: dg.SensorResult) -> float:
                started = time.perf_counter()
                for request in result.run_requests or []:
                    if request.job_name == "export_index":
                        write_export_index(store, lake, store.summary(request.partition_key))
                return time.perf_counter() - started

            first_seconds, first = tick(None)
            index_seconds = index(first)
            days_seconds, days = tick(first.cursor)
            idle = [tick(days.cursor) for _ in range(5)]
            day = START + timedelta(days=args.days)
            ExportWriter(Location(str(exports))).write_incremental_export(
                [Change((i["conversation_id"], i["timestamp"]), micros(day) + n, i, None) for n, i in enumerate(_item(day, n) for n in range(20))],
                day, day + timedelta(days=1))
            new_seconds, new = tick(days.cursor)
            index(new)
            new_days_seconds, new_days = tick(days.cursor)
            results = {
                "exports": args.days + 1,
                "first tick (reads every manifest, requests an index run per export)": (first_seconds, len(first.run_requests or [])),
                f"(the {len(first.run_requests or [])} index runs' work, outside the sensor)": (index_seconds, 0),
                "tick after the index runs (reads every index, requests the days)": (days_seconds, len(days.run_requests or [])),
                "tick, nothing new (median of 5)": (sorted(s for s, _ in idle)[2], len(idle[0][1].run_requests or [])),
                "tick, one new export (requests its index run)": (new_seconds, len(new.run_requests or [])),
                "tick after its index run (requests its day)": (new_days_seconds, len(new_days.run_requests or [])),
            }
            print(f"\nsensor ticks with {args.days + 1} exports present (cursor {len(days.cursor or ''):,} bytes)\n")
            print("| tick | seconds | run requests |\n|---|---:|---:|")
            for name, (seconds, requests) in list(results.items())[1:]:
                print(f"| {name} | {seconds:.3f} | {requests} |")
            return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
