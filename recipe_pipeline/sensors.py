"""``dynamodb_export_sensor``: indexes each newly completed export in a run of its own, then
requests the daily partitions the export touches."""


from datetime import UTC, datetime

import dagster as dg

from recipe_pipeline.export_index import INDEX_VERSION, cached_export_index
from recipe_pipeline.export_runs import ExportCursor, plan_export_runs
from recipe_pipeline.jobs import daily_pipeline_job, export_index_job
from recipe_pipeline.partitions import export_partitions, first_day
from recipe_pipeline.resources import DynamoDBExportsResource, LakeResource
from recipe_pipeline.storage import Location

SENSOR_NAME = "dynamodb_export_sensor"
PARTITION_TAG = "dagster/partition"


def _index_run_failed(instance: dg.DagsterInstance, export_id: str) -> str | None:
    """How the export's latest index run ended, if it has and did not succeed (one re-executed
    from the UI counts). One that succeeded wrote an index: if the planner finds none, it was of
    an older ``INDEX_VERSION`` (an upgrade), and the export is indexed again under this one's
    run key."""
    runs = instance.get_runs(dg.RunsFilter(job_name=export_index_job.name, tags={PARTITION_TAG: export_id}), limit=1)
    if runs and runs[0].is_finished and runs[0].status != dg.DagsterRunStatus.SUCCESS:
        return f"{runs[0].run_id} ended {runs[0].status.value}"
    return None


def _index_run_key(instance: dg.DagsterInstance, lake: Location, export_id: str) -> str | None:
    """The run key of the export's next index run, or None if its index has just been written.
    If its latest index run succeeded, the index it wrote is gone (removed by hand, or the lake
    moved): the key names that run, so the export is indexed again rather than its request taken
    for a repeat, and its days and every later export's waiting silently."""
    runs = instance.get_runs(dg.RunsFilter(job_name=export_index_job.name, tags={PARTITION_TAG: export_id}), limit=1)
    key = f"index:v{INDEX_VERSION}:{export_id}"
    if not runs or runs[0].status != dg.DagsterRunStatus.SUCCESS:
        return key
    # Or it succeeded since the planner looked: the next tick handles the export.
    return None if cached_export_index(lake, export_id) is not None else f"{key}:after:{runs[0].run_id}"


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[daily_pipeline_job, export_index_job],
    # A tick reads listings, manifests and indexes only (0.006 s with a year of exports), so it
    # can run every minute: an export's days are requested a minute after its index run.
    minimum_interval_seconds=60,
    description=(
        "Watches the DynamoDB export location for completed exports (manifest-summary.json present). "
        "A new export gets a partition of dynamodb_export_index and a run to index it (reading an "
        "export takes longer than a tick may); once indexed, the sensor requests a run for every UTC "
        "day whose items the export touches, by each item's own timestamp, including earlier days "
        "that an incremental export updates or deletes."
    ),
)
def dynamodb_export_sensor(
    context: dg.SensorEvaluationContext, lake: LakeResource, exports: DynamoDBExportsResource
) -> dg.SensorResult:
    plan = plan_export_runs(
        exports.store(), lake.location(), ExportCursor.parse(context.cursor), first_day=first_day(), now=datetime.now(UTC),
        index_run_failed=lambda export_id: _index_run_failed(context.instance, export_id),
    )
    for export_id, problem in plan.problems.items():
        context.log.error(f"not processed, looked at again on the next tick: {problem}")
    for day, items in plan.ignored_days.items():
        context.log.warning(f"{items} item(s) dated {day} precede RECIPE_PIPELINE_START_DATE and are not processed")
    for day, items in plan.not_days.items():
        context.log.error(f"{items} item(s) are indexed under {day!r}, which is not a UTC day: no run is requested for it "
                          "(re-index the export: its items with impossible timestamps are then quarantined)")
    existing = set(context.instance.get_dynamic_partitions(export_partitions.name)) if plan.to_index else set()
    new_partitions = [eid for eid in plan.to_index if eid not in existing]
    # Requested again on every tick until the index exists or the run has failed: the run key makes
    # the repeats no-ops. An index run that failed is a problem (the days wait, reported), and is
    # re-executed from the UI once the export is fixed.
    # The index's version in the key: after an upgrade, an export indexed by the older version is
    # indexed again rather than its request taken for a repeat.
    index_run_keys = {export_id: _index_run_key(context.instance, lake.location(), export_id) for export_id in plan.to_index}
    run_requests = [
        dg.RunRequest(run_key=run_key, job_name=export_index_job.name, partition_key=export_id)
        for export_id, run_key in index_run_keys.items() if run_key is not None
    ]
    run_requests += [
        dg.RunRequest(
            run_key=request.run_key,
            job_name=daily_pipeline_job.name,
            partition_key=request.day,
            tags={"recipe_pipeline/exports": ",".join(request.export_ids)[:1000]},
        )
        for request in plan.requests
    ]
    partition_requests = [export_partitions.build_add_request(new_partitions)] if new_partitions else []
    if run_requests:
        return dg.SensorResult(run_requests=run_requests, cursor=plan.cursor.to_json(), dynamic_partitions_requests=partition_requests)
    reason = "no new completed exports"
    if plan.problems:
        reason = "unreadable export(s): " + "; ".join(plan.problems.values())
    elif plan.not_days:
        reason = "index day(s) that are not dates, not requested: " + ", ".join(plan.not_days)
    elif plan.new_exports:
        reason = f"{len(plan.new_exports)} new export(s) touch no day that is a partition yet"
    return dg.SensorResult(skip_reason=reason, cursor=plan.cursor.to_json())
