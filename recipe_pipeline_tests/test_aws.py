"""The AWS profile against a real local endpoint (moto_server over HTTP): provisioning, the IAM
policy, export requests and their failures, and the pipeline on an S3 lake."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import boto3
import dagster as dg
import pytest
from click.testing import CliRunner

from recipe_pipeline import lake as layout
from recipe_pipeline.aws import Deployment, ExportFailed, pipeline_iam_policy, plan, provision, raise_for_failed, request_exports_for_day
from recipe_pipeline.cli import main
from recipe_pipeline.export_requests import AwsResource, dynamodb_export_request


@pytest.fixture
def deployment(s3_bucket, monkeypatch, tmp_path) -> Deployment:
    env = {
        "RECIPE_PIPELINE_LAKE": f"s3://{s3_bucket}-lake/lake",
        "RECIPE_PIPELINE_EXPORTS": f"s3://{s3_bucket}-lake/ddb-exports",
        "RECIPE_PIPELINE_PSEUDONYM_KEY": "aws-test-key-0123456789",
        "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "w.duckdb"),
        "RECIPE_PIPELINE_TABLE": f"conversations-{s3_bucket[-8:]}",
        "RECIPE_PIPELINE_ATHENA_DATABASE": "recipe_analytics_test",
        "RECIPE_PIPELINE_ATHENA_WORKGROUP": f"wg-{s3_bucket[-8:]}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Deployment.from_environment()


def test_provision_creates_everything_and_a_second_run_changes_nothing(deployment):
    session = boto3.session.Session()
    dry = provision(deployment, session, dry_run=True, log=lambda _: None)
    assert any("create DynamoDB table" in c for c in dry)
    assert plan(deployment, session)  # the dry run changed nothing

    applied = provision(deployment, session, log=lambda _: None)
    assert applied == dry
    assert plan(deployment, session) == []

    dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    table = dynamodb.describe_table(TableName=deployment.table_name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["date-index"]
    assert dynamodb.describe_time_to_live(TableName=deployment.table_name)["TimeToLiveDescription"]["AttributeName"] == "ttl"
    backups = dynamodb.describe_continuous_backups(TableName=deployment.table_name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert all(s3.get_public_access_block(Bucket=deployment.bucket)["PublicAccessBlockConfiguration"].values())
    policy = json.loads(s3.get_bucket_policy(Bucket=deployment.bucket)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=deployment.bucket)["Rules"]}
    assert rules["expire-dynamodb-exports"]["Filter"]["Prefix"] == "ddb-exports/"
    assert boto3.client("glue").get_database(Name="recipe_analytics_test")["Database"]["Name"] == "recipe_analytics_test"
    workgroup = boto3.client("athena").get_work_group(WorkGroup=deployment.workgroup)["WorkGroup"]
    assert workgroup["Configuration"]["ResultConfiguration"]["OutputLocation"] == f"s3://{deployment.bucket}/athena-results/"

    out = CliRunner().invoke(main, ["provision"], catch_exceptions=False).output
    assert "nothing to change" in out


def test_the_iam_policy_is_scoped_to_the_deployment(deployment):
    policy = pipeline_iam_policy(deployment, account="123456789012", region="eu-west-1")
    resources = [r for s in policy["Statement"] for r in s["Resource"]]
    assert all(r.split(":")[4] in ("", "123456789012") for r in resources if r.startswith("arn:aws:") and ":s3:" not in r)
    assert f"arn:aws:s3:::{deployment.bucket}/lake/*" in resources
    assert not any(r == "*" or r.endswith(":*") for r in resources)
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert "dynamodb:ExportTableToPointInTime" in actions and "athena:StartQueryExecution" in actions
    assert not any(a.endswith(":*") for a in actions)
    out = CliRunner().invoke(main, ["iam-policy", "--account", "123456789012"], catch_exceptions=False).output
    assert json.loads(out)["Version"] == "2012-10-17"


def test_export_requests_carry_the_right_parameters(deployment):
    provision(deployment, boto3.session.Session(), log=lambda _: None)
    dynamodb = boto3.client("dynamodb")
    sent: list[dict] = []
    dynamodb.meta.events.register("provide-client-params.dynamodb.ExportTableToPointInTime", lambda params, **_: sent.append(dict(params)))
    descriptions = request_exports_for_day(dynamodb, deployment, date(2025, 3, 9), datetime(2025, 3, 10, 0, 20, tzinfo=UTC))
    assert [s["ExportType"] for s in sent] == ["FULL_EXPORT", "INCREMENTAL_EXPORT"]
    full, incremental = sent
    assert full["ExportTime"] == datetime(2025, 3, 9, tzinfo=UTC)
    spec = incremental["IncrementalExportSpecification"]
    assert (spec["ExportFromTime"], spec["ExportToTime"]) == (datetime(2025, 3, 9, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC))
    assert spec["ExportViewType"] == "NEW_AND_OLD_IMAGES"
    assert incremental["S3Bucket"] == deployment.exports_bucket and incremental["S3Prefix"] == "ddb-exports"
    assert incremental["ExportFormat"] == "DYNAMODB_JSON"
    assert len(descriptions) == 2 and all("ExportArn" in d for d in descriptions)
    # The same day requested again: the same idempotency token, and no second full export.
    sent.clear()
    request_exports_for_day(dynamodb, deployment, date(2025, 3, 9), datetime(2025, 3, 10, 0, 30, tzinfo=UTC))
    assert [s["ExportType"] for s in sent] == ["INCREMENTAL_EXPORT"]
    assert sent[0]["ClientToken"] == incremental["ClientToken"]


def test_a_failed_export_fails_the_run_with_awss_message(deployment, monkeypatch):
    provision(deployment, boto3.session.Session(), log=lambda _: None)
    # Exports into a bucket that does not exist: DynamoDB (here the local endpoint) marks them FAILED.
    monkeypatch.setenv("RECIPE_PIPELINE_EXPORTS", "s3://no-such-bucket-for-exports/ddb-exports")
    result = dynamodb_export_request.execute_in_process(
        resources={"aws": AwsResource()},
        run_config={"ops": {name: {"config": {"day": "2025-03-09", "poll_seconds": 0}} for name in ("request_dynamodb_exports", "wait_for_dynamodb_exports")}},
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = failure.step_failure_data.user_failure_data.description if failure.step_failure_data.user_failure_data else failure.step_failure_data.error.to_string()
    assert text.startswith("DynamoDB export arn:aws:dynamodb:")
    assert text.endswith("failed: S3NoSuchBucket: The specified bucket does not exist")  # AWS's code and message


def test_raise_for_failed_uses_the_description():
    with pytest.raises(ExportFailed, match="S3NoSuchBucket: The specified bucket does not exist"):
        raise_for_failed({"ExportArn": "arn:x", "ExportStatus": "FAILED", "FailureCode": "S3NoSuchBucket", "FailureMessage": "The specified bucket does not exist"})
    raise_for_failed({"ExportStatus": "COMPLETED"})


def test_the_pipeline_on_an_s3_lake_gives_the_same_metrics_as_on_a_local_directory(s3_bucket, tmp_path, monkeypatch):
    from recipe_pipeline.assets.ingestion import raw_conversations
    from recipe_pipeline.assets.metrics import daily_metrics, user_activity
    from recipe_pipeline.assets.privacy import anonymized_conversations
    from recipe_pipeline.resources import build_resources
    from recipe_pipeline.settings import load_settings
    from recipe_pipeline.simulate import SimulationConfig, write_simulation
    from recipe_pipeline.storage import Location

    config = SimulationConfig(start=date(2025, 1, 1), days=2, seed=9, users=25, conversations_per_day=15)
    monkeypatch.setenv("RECIPE_PIPELINE_PSEUDONYM_KEY", "same-key-0123")
    metrics, activity = {}, {}
    for name, lake in (("s3", f"s3://{s3_bucket}/lake"), ("local", str(tmp_path / "lake"))):
        settings = load_settings({"RECIPE_PIPELINE_LAKE": lake, "RECIPE_PIPELINE_DUCKDB": str(tmp_path / f"{name}.duckdb"), "RECIPE_PIPELINE_PSEUDONYM_KEY": "same-key-0123"})
        write_simulation(Location(settings.exports_url), config)
        with dg.instance_for_test() as instance:
            for day in ("2025-01-01", "2025-01-02"):
                assert dg.materialize([raw_conversations, anonymized_conversations, daily_metrics, user_activity], partition_key=day,
                                      resources=build_resources(settings), instance=instance).success
        location = Location(settings.lake_url)
        metrics[name] = [json.loads(location.read_bytes(layout.daily_metrics_path(d))) for d in ("2025-01-01", "2025-01-02")]
        activity[name] = [location.read_parquet(layout.user_activity_path(d)) for d in ("2025-01-01", "2025-01-02")]
    assert metrics["s3"] == metrics["local"]
    assert all(s3.equals(local) for s3, local in zip(activity["s3"], activity["local"]))
    assert [t.num_rows for t in activity["s3"]] == [m["unique_users"] for m in metrics["s3"]]
    assert metrics["s3"][0]["total_messages"] > 0
