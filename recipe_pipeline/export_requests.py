"""Asking DynamoDB for its exports: the ``dynamodb_export_request`` job and its schedule.

Every day at 00:20 UTC the previous UTC day's INCREMENTAL export is requested (view
``NEW_AND_OLD_IMAGES``, deterministic ``ClientToken`` so a retried run cannot start a second
export), preceded by a FULL export when the table has none yet. The run then waits for DynamoDB
to finish: a ``FAILED`` export fails the run with AWS's failure code and message. Completed
exports land in S3 where ``dynamodb_export_sensor`` picks them up, exactly as locally.
Only deployments on AWS load this job (see ``definitions.py``).
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from recipe_pipeline.aws import Deployment, ExportFailed, raise_for_failed, request_exports_for_day
from recipe_pipeline.aws_clients import aws_client


class AwsResource(dg.ConfigurableResource):
    """boto3 clients for the deployment; credentials, region and ``AWS_ENDPOINT_URL`` come from
    the standard AWS environment, retries from botocore's standard mode."""

    region_name: str = ""

    def client(self, service: str):
        return aws_client(service, self.region_name)

    def deployment(self) -> Deployment:
        return Deployment.from_environment()


class ExportRequestConfig(dg.Config):
    day: str = ""  # the UTC day to export; default: the day before the scheduled time
    max_wait_minutes: int = 180
    poll_seconds: int = 30


@dg.op(retry_policy=dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL))
def request_dynamodb_exports(context: dg.OpExecutionContext, config: ExportRequestConfig, aws: AwsResource) -> list:
    """Request the day's incremental export (and the first full export if there is none)."""
    if config.day:
        day = date.fromisoformat(config.day)
    else:
        scheduled = context.run.tags.get("dagster/scheduled_execution_time")
        now = datetime.fromisoformat(scheduled) if scheduled else datetime.now(UTC)
        day = now.astimezone(UTC).date() - timedelta(days=1)
    descriptions = request_exports_for_day(aws.client("dynamodb"), aws.deployment(), day, datetime.now(UTC))
    for description in descriptions:
        context.log.info(f"requested {description.get('ExportType', 'FULL_EXPORT')} {description['ExportArn']} for {day}")
    return [d["ExportArn"] for d in descriptions]


@dg.op
def wait_for_dynamodb_exports(context: dg.OpExecutionContext, config: ExportRequestConfig, aws: AwsResource, export_arns: list) -> None:
    """Poll DescribeExport until every requested export is COMPLETED; FAILED fails the run."""
    import time

    dynamodb = aws.client("dynamodb")
    deadline = time.monotonic() + config.max_wait_minutes * 60
    pending = list(export_arns)
    while pending:
        for arn in list(pending):
            description = dynamodb.describe_export(ExportArn=arn)["ExportDescription"]
            try:
                raise_for_failed(description)
            except ExportFailed as exc:
                raise dg.Failure(description=str(exc), metadata={"export_arn": arn}) from exc
            if description.get("ExportStatus") == "COMPLETED":
                context.log.info(f"export {arn} completed ({description.get('ItemCount', '?')} items)")
                pending.remove(arn)
        if pending:
            if time.monotonic() > deadline:
                raise dg.Failure(description=f"exports still running after {config.max_wait_minutes} minutes: {pending}")
            time.sleep(config.poll_seconds)


@dg.job(description="Request yesterday's DynamoDB incremental export (and a first full export) and wait for it.")
def dynamodb_export_request():
    wait_for_dynamodb_exports(request_dynamodb_exports())


dynamodb_export_request_schedule = dg.ScheduleDefinition(
    name="dynamodb_export_request_schedule",
    job=dynamodb_export_request,
    cron_schedule="20 0 * * *",
    execution_timezone="UTC",
    description="Every day at 00:20 UTC, export the previous UTC day from DynamoDB to S3.",
)
