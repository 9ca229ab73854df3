"""``recipe-pipeline catch-up``: the daemon's work, once, in this process.

Evaluates the real ``dynamodb_export_sensor`` (the same definition, resources and cursor logic the
daemon runs), adds the export partitions it asks for, then executes each run it requests
in-process against the Dagster instance in ``DAGSTER_HOME``, tagged exactly as the daemon tags
sensor runs. A run key that already has a run in the instance is skipped, as the daemon would, so
catch-up and a running daemon never duplicate each other. New exports are indexed by the first
tick's runs, so the sensor is evaluated again until a tick indexes nothing new: its runs are the
days. The cursor is kept next to the instance, in ``$DAGSTER_HOME/recipe_pipeline/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dagster as dg

from recipe_pipeline.export_runs import ExportCursor
from recipe_pipeline.jobs import export_index_job
from recipe_pipeline.sensors import SENSOR_NAME

RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"


@dataclass
class RunOutcome:
    partition_key: str  # a day, or an ExportId for an export_index run
    run_key: str
    run_id: str | None
    status: str  # "succeeded", "failed" or "skipped (already launched)"
    job_name: str = "daily_pipeline"


@dataclass
class CatchUpReport:
    runs: list[RunOutcome] = field(default_factory=list)
    skip_reason: str | None = None
    failed_exports: dict[str, str] = field(default_factory=dict)

    @property
    def day_runs(self) -> list[RunOutcome]:
        return [run for run in self.runs if run.job_name != export_index_job.name]

    @property
    def ok(self) -> bool:
        return not self.failed_exports and all(r.status != "failed" for r in self.runs)


def _cursor_path(instance: dg.DagsterInstance) -> str:
    return os.path.join(instance.root_directory, "recipe_pipeline", f"{SENSOR_NAME}.cursor.json")


def read_cursor(instance: dg.DagsterInstance) -> str | None:
    path = _cursor_path(instance)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read() or None


def write_cursor(instance: dg.DagsterInstance, cursor: str | None) -> None:
    path = _cursor_path(instance)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(cursor or "")
    os.replace(tmp, path)


def catch_up(defs: dg.Definitions, instance: dg.DagsterInstance, log=print) -> CatchUpReport:
    report = CatchUpReport()
    while _one_tick(defs, instance, report, log):
        pass
    return report


def _one_tick(defs: dg.Definitions, instance: dg.DagsterInstance, report: CatchUpReport, log) -> bool:
    """One sensor tick and its runs; whether an export was indexed (then the next tick has days)."""
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=read_cursor(instance), definitions=defs,
        resources=defs.resources, sensor_name=SENSOR_NAME,
    ) as context:
        tick = sensor.evaluate_tick(context)
    report.skip_reason = tick.skip_message
    if tick.cursor is not None:
        report.failed_exports = ExportCursor.parse(tick.cursor).failed
    for partitions_request in tick.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(partitions_request.partitions_def_name, list(partitions_request.partition_keys))
    indexed = False
    for request in tick.run_requests or []:
        job = defs.resolve_job_def(request.job_name or sensor.job_name)
        existing = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: SENSOR_NAME}), limit=1)
        if existing:
            report.runs.append(RunOutcome(request.partition_key, request.run_key, existing[0].run_id, "skipped (already launched)", job.name))
            continue
        log(f"running {job.name} for {request.partition_key} ...")
        result = job.execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: SENSOR_NAME},
            raise_on_error=False,
            # Quiet console; every event still goes to the instance's event log (the UI).
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        report.runs.append(RunOutcome(request.partition_key, request.run_key, result.run_id, "succeeded" if result.success else "failed", job.name))
        indexed = indexed or (job.name == export_index_job.name and result.success)
    # Like the daemon: the cursor moves once the tick's runs have been launched.
    write_cursor(instance, tick.cursor if tick.cursor is not None else read_cursor(instance))
    return indexed
