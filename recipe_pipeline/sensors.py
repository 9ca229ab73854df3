"""``dynamodb_export_sensor``: requests the daily partitions that newly completed exports touch."""


from datetime import UTC, datetime

import dagster as dg

from recipe_pipeline.export_runs import ExportCursor, plan_export_runs
from recipe_pipeline.jobs import daily_pipeline_job
from recipe_pipeline.partitions import first_day
from recipe_pipeline.resources import DynamoDBExportsResource, LakeResource, PseudonymKeyResource

SENSOR_NAME = "dynamodb_export_sensor"


@dg.sensor(
    name=SENSOR_NAME,
    job=daily_pipeline_job,
    minimum_interval_seconds=300,
    description=(
        "Watches the DynamoDB export location for completed exports (manifest-summary.json present) "
        "and requests a run for every UTC day whose items an export touches, by each item's own "
        "timestamp, including earlier days that an incremental export updates or deletes."
    ),
)
def dynamodb_export_sensor(
    context: dg.SensorEvaluationContext, lake: LakeResource, exports: DynamoDBExportsResource, pseudonyms: PseudonymKeyResource
) -> dg.SensorResult:
    plan = plan_export_runs(
        exports.store(), lake.location(), ExportCursor.parse(context.cursor), first_day=first_day(), now=datetime.now(UTC),
        pseudonymizer=pseudonyms.pseudonymizer,  # the key is resolved only if an erased user's line may be there
    )
    for export_id, problem in plan.problems.items():
        context.log.error(f"export {export_id} cannot be read and will be retried on the next tick: {problem}")
    for day, items in plan.ignored_days.items():
        context.log.warning(f"{items} item(s) dated {day} precede RECIPE_PIPELINE_START_DATE and are not processed")
    run_requests = [
        dg.RunRequest(
            run_key=request.run_key,
            partition_key=request.day,
            tags={"recipe_pipeline/exports": ",".join(request.export_ids)[:1000]},
        )
        for request in plan.requests
    ]
    if run_requests:
        return dg.SensorResult(run_requests=run_requests, cursor=plan.cursor.to_json())
    reason = "no new completed exports"
    if plan.problems:
        reason = "unreadable export(s): " + "; ".join(plan.problems.values())
    elif plan.new_exports:
        reason = f"{len(plan.new_exports)} new export(s) touch no day that is a partition yet"
    return dg.SensorResult(skip_reason=reason, cursor=plan.cursor.to_json())
