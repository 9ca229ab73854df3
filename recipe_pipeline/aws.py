"""The AWS side: what ``recipe-pipeline provision`` creates, the pipeline's IAM policy, and the
DynamoDB export requests. Everything is derived from one ``Deployment`` (from the environment),
so the resources, the policy and the pipeline's configuration cannot drift apart.

| variable                           | meaning                                  | default                    |
|------------------------------------|------------------------------------------|----------------------------|
| RECIPE_PIPELINE_LAKE               | s3://bucket/prefix of the lake           | (required for AWS)         |
| RECIPE_PIPELINE_EXPORTS            | where DynamoDB exports land              | <lake>/exports             |
| RECIPE_PIPELINE_TABLE              | the DynamoDB table                       | recipe-conversations       |
| RECIPE_PIPELINE_ATHENA_DATABASE    | Glue database of the Athena tables       | recipe_analytics           |
| RECIPE_PIPELINE_ATHENA_WORKGROUP   | Athena workgroup                         | recipe-pipeline            |
| RECIPE_PIPELINE_ATHENA_RESULTS     | Athena query result location             | s3://<bucket>/athena-results/ |
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from recipe_pipeline.retention import lifecycle_configuration
from recipe_pipeline.settings import ConfigurationError, load_settings


@dataclass(frozen=True)
class Deployment:
    lake_url: str
    exports_url: str
    table_name: str = "recipe-conversations"
    database: str = "recipe_analytics"
    workgroup: str = "recipe-pipeline"
    results_url: str = ""
    pseudonym_key_secret: str | None = None

    @property
    def bucket(self) -> str:
        return self.lake_url[len("s3://") :].split("/", 1)[0]

    @property
    def exports_bucket(self) -> str:
        return self.exports_url[len("s3://") :].split("/", 1)[0]

    @property
    def exports_prefix(self) -> str:
        return self.exports_url[len("s3://") :].partition("/")[2].strip("/")

    @property
    def lake_prefix(self) -> str:
        return self.lake_url[len("s3://") :].partition("/")[2].strip("/")

    @property
    def athena_results(self) -> str:
        return self.results_url or f"s3://{self.bucket}/athena-results/"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Deployment:
        env = os.environ if environ is None else environ
        settings = load_settings(env)
        if not settings.lake_url.startswith("s3://") or not settings.exports_url.startswith("s3://"):
            raise ConfigurationError("RECIPE_PIPELINE_LAKE (and RECIPE_PIPELINE_EXPORTS) must be s3:// URLs to provision AWS")
        return cls(
            lake_url=settings.lake_url,
            exports_url=settings.exports_url,
            table_name=env.get("RECIPE_PIPELINE_TABLE") or "recipe-conversations",
            database=settings.athena_database,
            workgroup=settings.athena_workgroup,
            results_url=env.get("RECIPE_PIPELINE_ATHENA_RESULTS") or "",
            pseudonym_key_secret=settings.pseudonym_key_secret,
        )


# -- provisioning ------------------------------------------------------------------------------
@dataclass
class Change:
    description: str
    apply: Callable[[], Any]


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def tls_only_policy(bucket: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]}


def table_definition(deployment: Deployment) -> dict:
    return {
        "TableName": deployment.table_name,
        "KeySchema": [{"AttributeName": "conversation_id", "KeyType": "HASH"}, {"AttributeName": "timestamp", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "conversation_id", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "S"},
            {"AttributeName": "date_str", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "date-index",
                "KeySchema": [{"AttributeName": "date_str", "KeyType": "HASH"}, {"AttributeName": "timestamp", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }


def plan(deployment: Deployment, session: Any) -> list[Change]:
    """What must change for the account to match ``deployment`` (empty when it already does)."""
    dynamodb, s3, glue, athena = (session.client(name) for name in ("dynamodb", "s3", "glue", "athena"))
    changes: list[Change] = []
    table = deployment.table_name

    try:
        dynamodb.describe_table(TableName=table)
        table_exists = True
    except Exception as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        table_exists = False

    def create_table() -> None:
        dynamodb.create_table(**table_definition(deployment))
        dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 60})

    if not table_exists:
        changes.append(Change(f"create DynamoDB table {table} (on-demand, date-index GSI, stream NEW_IMAGE)", create_table))
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] if table_exists else {}
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING") or ttl.get("AttributeName") != "ttl":
        changes.append(Change(f"enable TTL on {table}.ttl", lambda: dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})))
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"] if table_exists else {}
    if backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") != "ENABLED":
        changes.append(Change(f"enable point-in-time recovery on {table} (exports need it)", lambda: dynamodb.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})))

    for bucket in sorted({deployment.bucket, deployment.exports_bucket}):
        changes += _bucket_changes(s3, bucket, deployment)

    try:
        glue.get_database(Name=deployment.database)
    except Exception as exc:
        if _error_code(exc) != "EntityNotFoundException":
            raise
        changes.append(Change(f"create Glue database {deployment.database}", lambda: glue.create_database(
            DatabaseInput={"Name": deployment.database, "Description": "recipe-pipeline analytics tables"})))

    workgroup_config = {"ResultConfiguration": {"OutputLocation": deployment.athena_results}, "EnforceWorkGroupConfiguration": True,
                        "PublishCloudWatchMetricsEnabled": True}
    try:
        current = athena.get_work_group(WorkGroup=deployment.workgroup).get("WorkGroup")
    except Exception as exc:
        if _error_code(exc) != "InvalidRequestException":
            raise
        current = None
    if current:
        location = current.get("Configuration", {}).get("ResultConfiguration", {}).get("OutputLocation")
        if location != deployment.athena_results:
            changes.append(Change(f"set Athena workgroup {deployment.workgroup} results to {deployment.athena_results}", lambda: athena.update_work_group(
                WorkGroup=deployment.workgroup,
                ConfigurationUpdates={"ResultConfigurationUpdates": {"OutputLocation": deployment.athena_results}})))
    else:
        changes.append(Change(f"create Athena workgroup {deployment.workgroup} (results in {deployment.athena_results})", lambda: athena.create_work_group(
            Name=deployment.workgroup, Configuration=workgroup_config, Description="recipe-pipeline queries")))
    return changes


def _bucket_changes(s3: Any, bucket: str, deployment: Deployment) -> list[Change]:
    changes: list[Change] = []
    try:
        s3.head_bucket(Bucket=bucket)
        exists = True
    except Exception as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        exists = False
    region = s3.meta.region_name

    def create() -> None:
        kwargs: dict = {"Bucket": bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)

    if not exists:
        changes.append(Change(f"create S3 bucket {bucket}", create))

    def current(getter: Callable[[], Any], missing: tuple[str, ...]) -> Any:
        if not exists:
            return None
        try:
            return getter()
        except Exception as exc:
            if _error_code(exc) in missing:
                return None
            raise

    block = current(lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"], ("NoSuchPublicAccessBlockConfiguration",))
    if block != PUBLIC_ACCESS_BLOCK:
        changes.append(Change(f"block all public access to {bucket}", lambda: s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)))
    encryption = current(lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"], ("ServerSideEncryptionConfigurationNotFoundError",))
    algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in (encryption or {}).get("Rules", [])]
    if not algorithms or algorithms[0] not in ("AES256", "aws:kms"):
        changes.append(Change(f"default encryption (SSE-S3) on {bucket}", lambda: s3.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration=ENCRYPTION)))
    policy = current(lambda: json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]), ("NoSuchBucketPolicy",))
    if policy != tls_only_policy(bucket):
        changes.append(Change(f"TLS-only bucket policy on {bucket}", lambda: s3.put_bucket_policy(
            Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))))
    if bucket == deployment.bucket:
        wanted = lifecycle_configuration(deployment.lake_url, deployment.exports_url)
        rules = current(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"], ("NoSuchLifecycleConfiguration",))
        if _normalized_rules(rules) != _normalized_rules(wanted["Rules"]):
            changes.append(Change(f"lifecycle rules on {bucket} (conversations 90 days, aggregates 2 years)", lambda: s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration=wanted)))
    return changes


def _normalized_rules(rules: list[dict] | None) -> list[tuple]:
    out = []
    for rule in rules or []:
        out.append((rule.get("ID"), rule.get("Filter", {}).get("Prefix", rule.get("Prefix")), rule.get("Status"),
                    (rule.get("Expiration") or {}).get("Days"), (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")))
    return sorted(out, key=lambda r: r[0] or "")


def provision(deployment: Deployment, session: Any, *, dry_run: bool = False, log: Callable[[str], None] = print) -> list[str]:
    changes = plan(deployment, session)
    for change in changes:
        log(("would " if dry_run else "") + change.description)
        if not dry_run:
            change.apply()
    if not changes:
        log("nothing to change: the account matches the configuration")
    return [c.description for c in changes]


# -- IAM ---------------------------------------------------------------------------------------
def pipeline_iam_policy(deployment: Deployment, account: str = "*", region: str = "*") -> dict:
    """Least-privilege policy for the pipeline's runs (not for provisioning)."""
    lake = f"arn:aws:s3:::{deployment.bucket}"
    lake_objects = f"{lake}/{deployment.lake_prefix + '/' if deployment.lake_prefix else ''}*"
    exports_bucket = f"arn:aws:s3:::{deployment.exports_bucket}"
    table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{deployment.table_name}"
    results = deployment.athena_results[len("s3://") :]
    statements = [
        {"Sid": "ListLakeAndExports", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
         "Resource": sorted({lake, exports_bucket})},
        {"Sid": "ReadWriteLake", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
         "Resource": [lake_objects, f"arn:aws:s3:::{results.rstrip('/')}/*"]},
        {"Sid": "ReadExports", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"{exports_bucket}/{deployment.exports_prefix + '/' if deployment.exports_prefix else ''}*"]},
        {"Sid": "RequestExports", "Effect": "Allow", "Action": ["dynamodb:ExportTableToPointInTime", "dynamodb:DescribeExport", "dynamodb:ListExports", "dynamodb:DescribeTable"],
         "Resource": [table_arn, f"{table_arn}/export/*"]},
        {"Sid": "DynamoDBExportWritesToS3", "Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"],
         "Resource": [f"{exports_bucket}/*"]},
        {"Sid": "RunAthenaQueries", "Effect": "Allow", "Action": ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution", "athena:GetWorkGroup"],
         "Resource": [f"arn:aws:athena:{region}:{account}:workgroup/{deployment.workgroup}"]},
        {"Sid": "ManageAnalyticsTables", "Effect": "Allow",
         "Action": ["glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchCreatePartition"],
         "Resource": [f"arn:aws:glue:{region}:{account}:catalog", f"arn:aws:glue:{region}:{account}:database/{deployment.database}",
                      f"arn:aws:glue:{region}:{account}:table/{deployment.database}/*"]},
    ]
    if deployment.pseudonym_key_secret:
        secret = deployment.pseudonym_key_secret
        resource = secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}-*"
        statements.append({"Sid": "ReadPseudonymKey", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [resource]})
    return {"Version": "2012-10-17", "Statement": statements}


# -- exports -----------------------------------------------------------------------------------
def client_token(*parts: str) -> str:
    """Deterministic idempotency token: a retried request cannot start a second export."""
    return "recipe-pipeline-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def incremental_export_request(deployment: Deployment, table_arn: str, day: date, view: str = "NEW_AND_OLD_IMAGES") -> dict:
    """``ExportTableToPointInTime`` parameters for one UTC day: [day 00:00, next day 00:00)."""
    start = datetime.combine(day, time(), UTC)
    request = {
        "TableArn": table_arn,
        "S3Bucket": deployment.exports_bucket,
        "ExportFormat": "DYNAMODB_JSON",
        "ExportType": "INCREMENTAL_EXPORT",
        "IncrementalExportSpecification": {"ExportFromTime": start, "ExportToTime": start + timedelta(days=1), "ExportViewType": view},
        "ClientToken": client_token(table_arn, "incremental", day.isoformat(), view),
        "S3SseAlgorithm": "AES256",
    }
    if deployment.exports_prefix:
        request["S3Prefix"] = deployment.exports_prefix
    return request


def full_export_request(deployment: Deployment, table_arn: str, at: datetime) -> dict:
    request = {
        "TableArn": table_arn,
        "S3Bucket": deployment.exports_bucket,
        "ExportFormat": "DYNAMODB_JSON",
        "ExportType": "FULL_EXPORT",
        "ExportTime": at,
        "ClientToken": client_token(table_arn, "full", at.isoformat()),
        "S3SseAlgorithm": "AES256",
    }
    if deployment.exports_prefix:
        request["S3Prefix"] = deployment.exports_prefix
    return request


def list_exports(dynamodb: Any, table_arn: str) -> list[dict]:
    """Every export of the table (botocore has no paginator for ListExports)."""
    summaries, token = [], None
    while True:
        response = dynamodb.list_exports(TableArn=table_arn, MaxResults=25, **({"NextToken": token} if token else {}))
        summaries += response.get("ExportSummaries", [])
        token = response.get("NextToken")
        if not token:
            return summaries


class ExportFailed(RuntimeError):
    """DynamoDB reported an export as FAILED; the message is AWS's."""


def request_exports_for_day(dynamodb: Any, deployment: Deployment, day: date, now: datetime) -> list[dict]:
    """Request the day's incremental export, preceded by a full export when the table has none
    (a full export is the base every incremental one builds on). Returns the ExportDescriptions."""
    table_arn = dynamodb.describe_table(TableName=deployment.table_name)["Table"]["TableArn"]
    descriptions = []
    existing = list_exports(dynamodb, table_arn)
    if not any(e.get("ExportType", "FULL_EXPORT") == "FULL_EXPORT" and e.get("ExportStatus") != "FAILED" for e in existing):
        at = datetime.combine(day, time(), UTC)
        descriptions.append(dynamodb.export_table_to_point_in_time(**full_export_request(deployment, table_arn, at))["ExportDescription"])
    descriptions.append(dynamodb.export_table_to_point_in_time(**incremental_export_request(deployment, table_arn, day))["ExportDescription"])
    return descriptions


def raise_for_failed(description: dict) -> None:
    if description.get("ExportStatus") == "FAILED":
        raise ExportFailed(
            f"DynamoDB export {description.get('ExportArn')} failed: "
            f"{description.get('FailureCode') or 'no code'}: {description.get('FailureMessage') or 'no message'}"
        )
