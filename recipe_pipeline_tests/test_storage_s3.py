"""The same pipeline code on ``s3://`` exports and lake, against a real local S3 endpoint
(``moto_server`` over HTTP, started by the fixture)."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from datetime import date

import boto3
import dagster as dg
import pytest

from recipe_pipeline import lake as layout
from recipe_pipeline import storage
from recipe_pipeline.assets.ingestion import raw_conversations
from recipe_pipeline.assets.metrics import daily_metrics
from recipe_pipeline.assets.privacy import anonymized_conversations
from recipe_pipeline.exports import ExportStore
from recipe_pipeline.resources import build_resources
from recipe_pipeline.settings import load_settings
from recipe_pipeline.simulate import SimulationConfig, write_simulation
from recipe_pipeline.storage import Location


def test_location_round_trip_on_s3(s3_bucket):
    location = Location(f"s3://{s3_bucket}/prefix")
    location.write_bytes(b"\x1f\x8b not really gzip", "a/b.json.gz")
    assert location.read_bytes("a/b.json.gz") == b"\x1f\x8b not really gzip"
    assert location.exists("a/b.json.gz") and not location.exists("a/missing")
    assert location.list_dirs() == ["a"]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["prefix/a/b.json.gz"]  # no temporary objects left behind
    # Retention ages a copy cut by day with no index by when it was written: S3's LastModified.
    last_modified = boto3.client("s3").head_object(Bucket=s3_bucket, Key="prefix/a/b.json.gz")["LastModified"]
    assert location.last_modified("a").replace(microsecond=0) == last_modified.replace(microsecond=0)
    assert location.last_modified("missing") is None


def test_pipeline_reads_exports_from_s3_and_writes_the_lake_to_s3(s3_bucket, tmp_path, instance):
    env = {
        "RECIPE_PIPELINE_LAKE": f"s3://{s3_bucket}/lake",
        "RECIPE_PIPELINE_EXPORTS": f"s3://{s3_bucket}/exports",
        "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "warehouse.duckdb"),
        "RECIPE_PIPELINE_PSEUDONYM_KEY": "s3-test-key-0123456789",
    }
    settings = load_settings(env)
    config = SimulationConfig(start=date(2025, 1, 1), days=2, seed=5, users=20, conversations_per_day=10)
    result = write_simulation(Location(settings.exports_url), config)
    store = ExportStore(Location(settings.exports_url))
    assert [s.export_id for s in store.completed()] == result.export_ids

    day = "2025-01-01"
    run = dg.materialize(
        [raw_conversations, anonymized_conversations, daily_metrics],
        partition_key=day,
        resources=build_resources(settings),
        instance=instance,
    )
    assert run.success
    lake = Location(settings.lake_url)
    assert lake.read_parquet(layout.raw_conversations_path(day)).num_rows == result.stats.messages_per_day[day]
    metrics = json.loads(lake.read_bytes(layout.daily_metrics_path(day)))
    assert metrics["total_messages"] == result.stats.messages_per_day[day]
    assert metrics["total_conversations"] == result.stats.conversations_per_day[day]


def test_the_pseudonym_key_can_come_from_secrets_manager(s3_bucket, monkeypatch, tmp_path):
    from recipe_pipeline.pseudonyms import Pseudonymizer

    boto3.client("secretsmanager").create_secret(Name="recipe-pipeline/pseudonym-key", SecretString="from-secrets-manager-0123")
    env = {
        "RECIPE_PIPELINE_LAKE": f"s3://{s3_bucket}/lake",
        "RECIPE_PIPELINE_DUCKDB": str(tmp_path / "w.duckdb"),
        "RECIPE_PIPELINE_PSEUDONYM_KEY_SECRET": "recipe-pipeline/pseudonym-key",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    pseudonyms = build_resources(settings)["pseudonyms"]
    # Resources resolve EnvVar values when a run starts; resolve it the same way here.
    resolved = dg.build_resources({"pseudonyms": pseudonyms})
    with resolved as built:
        assert not built.pseudonyms.is_dev_key
        assert built.pseudonyms.pseudonymizer().pseudonym("user-1") == Pseudonymizer("from-secrets-manager-0123").pseudonym("user-1")


def test_forget_user_on_s3_takes_the_user_out_of_a_day_written_while_it_ran(s3_bucket, monkeypatch):
    # S3's conditional PUT (If-Match) makes forget-user's rewrite fail when a run replaced the
    # day after forget-user read it; it then reads the newer day and rewrites that.
    import pyarrow as pa

    from recipe_pipeline.erasure import forget_user
    from recipe_pipeline.pseudonyms import Pseudonymizer

    def raw_day(users: list[str]) -> pa.Table:
        return layout.with_provenance(pa.table({"user_id": users}), {"counts": {"rows": len(users), "erased": 0}})

    lake, path = Location(f"s3://{s3_bucket}/lake"), layout.raw_conversations_path("2025-01-01")
    lake.write_parquet(raw_day(["u", "v"]), path)
    opened_version, reads = Location.opened_version, []

    @contextmanager
    def read_then_a_run_writes(self, *parts):
        with opened_version(self, *parts) as opened:
            if parts == (path,) and not reads:
                reads.append(parts)
                lake.write_parquet(raw_day(["u", "v", "w"]), path)  # a newer export's day
            yield opened

    monkeypatch.setattr(Location, "opened_version", read_then_a_run_writes)
    report = forget_user(lake, Pseudonymizer("k"), "u")

    # Rows and counts of one version: the newer day's, less the user.
    assert lake.read_parquet(path).column("user_id").to_pylist() == ["v", "w"]
    assert layout.read_provenance(lake, path)["counts"] == {"rows": 2, "erased": 1}
    assert report.rows_removed["raw"] == {"2025-01-01": 1}


def _answer_lost_once(location: Location, operation: str) -> list[str]:
    """The first ``operation`` request ``location`` sends is done (by another client, without
    its condition, which holds) and its answer lost: botocore sends it again."""
    from botocore.exceptions import ReadTimeoutError

    other, sent = boto3.client("s3"), []

    def deliver_then_lose_the_answer(request, **kwargs):
        sent.append(operation)
        if len(sent) == 1:
            bucket, key = request.url.split("/", 3)[3].split("?")[0].split("/", 1)
            if operation == "PutObject":
                body = request.body if isinstance(request.body, bytes) else request.body.read()
                metadata = {name[len("x-amz-meta-"):]: value.decode() if isinstance(value, bytes) else value
                            for name, value in request.headers.items() if name.lower().startswith("x-amz-meta-")}
                other.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
            else:
                other.delete_object(Bucket=bucket, Key=key)
            raise ReadTimeoutError(endpoint_url=request.url)

    location._s3.meta.events.register(f"before-send.s3.{operation}", deliver_then_lose_the_answer)
    return sent


def test_a_conditional_write_sent_again_knows_it_was_done(s3_bucket):
    # Sent again, the write finds the object changed (by itself): it must not read its own
    # write as another writer's and change it again (forget-user would report nothing removed).
    from recipe_pipeline.storage import Rewrite

    location = Location(f"s3://{s3_bucket}/prefix")
    location.write_bytes(b"a\nb\n", "q.jsonl")
    sent = _answer_lost_once(location, "PutObject")
    changes = []

    def drop_a(data: bytes) -> Rewrite[int]:
        changes.append(data)
        kept = [line for line in data.splitlines() if line != b"a"]
        return Rewrite(len(data.splitlines()) - len(kept), b"".join(line + b"\n" for line in kept))

    assert location.rewrite(drop_a, "q.jsonl") == 1
    assert (len(sent), changes, location.read_bytes("q.jsonl")) == (2, [b"a\nb\n"], b"b\n")

    # Streamed from a local file (forget-user's Parquet rewrites).
    location.write_bytes(b"a\nb\n", "streamed.jsonl")
    sent = _answer_lost_once(location, "PutObject")

    def drop_a_streamed(source, sink: str) -> Rewrite[int]:
        with open(sink, "wb") as new:
            new.write(b"".join(line + b"\n" for line in source.read().splitlines() if line != b"a"))
        return Rewrite(1, written=True)

    assert location.rewrite_streamed(drop_a_streamed, "streamed.jsonl") == 1
    assert (len(sent), location.read_bytes("streamed.jsonl")) == (2, b"b\n")

    location.write_bytes(b"a\n", "gone.jsonl")
    sent = _answer_lost_once(location, "DeleteObject")
    assert location.rewrite(lambda data: Rewrite("deleted", delete=True), "gone.jsonl") == "deleted"
    assert len(sent) == 2 and not location.exists("gone.jsonl")


def test_a_streamed_conditional_write_cut_off_is_sent_again_whole(s3_bucket):
    # botocore sends a file body again from its start after a connection lost mid-body.
    from botocore.exceptions import ConnectionClosedError

    from recipe_pipeline.storage import Rewrite

    location = Location(f"s3://{s3_bucket}/prefix")
    location.write_bytes(b"x" * 100_000, "d/f")
    sent = []

    def cut_off_once(request, **kwargs):
        sent.append(request)
        if len(sent) == 1:
            request.body.read(1000)  # part of the body went out
            raise ConnectionClosedError(endpoint_url=request.url)

    location._s3.meta.events.register("before-send.s3.PutObject", cut_off_once)

    def upper(source, sink: str) -> Rewrite[str]:
        with open(sink, "wb") as new:
            new.write(source.read().upper())
        return Rewrite("written", written=True)

    assert location.rewrite_streamed(upper, "d/f") == "written"
    assert len(sent) == 2 and location.read_bytes("d/f") == b"X" * 100_000


def test_a_rewrite_whose_read_fails_leaves_no_work_directory(s3_bucket, monkeypatch, tmp_path):
    from botocore.exceptions import ClientError

    from recipe_pipeline.storage import Rewrite

    location = Location(f"s3://{s3_bucket}/prefix")
    location.write_bytes(b"abc", "d/f")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def denied(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObject")

    monkeypatch.setattr(location._s3, "get_object", denied)
    with pytest.raises(ClientError, match="denied") as raised:
        location.rewrite_streamed(lambda source, sink: Rewrite(None), "d/f")
    # While the error is still held (as a Dagster failure event or a log would hold it).
    assert raised.value and list(tmp_path.iterdir()) == []


def test_an_upload_whose_part_fails_leaves_no_object_and_no_open_upload(s3_bucket, tmp_path, monkeypatch):
    import botocore.client

    monkeypatch.setattr(storage, "UPLOAD_PART_BYTES", 5 << 20)  # S3's least part size
    lake = Location(f"s3://{s3_bucket}/lake")
    local = tmp_path / "day.parquet"
    local.write_bytes(os.urandom(12 << 20))  # three parts
    real_call = botocore.client.BaseClient._make_api_call

    def failing_second_part(client, operation, params):
        if operation == "UploadPart" and params.get("PartNumber") == 2:
            raise ConnectionError("the network went away mid-upload")
        return real_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", failing_second_part)
    with pytest.raises(ConnectionError):
        lake.put_file(str(local), "raw/conversations/day.parquet")
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", real_call)
    s3 = boto3.client("s3")
    assert "Contents" not in s3.list_objects_v2(Bucket=s3_bucket)  # no half a file
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=s3_bucket)  # and no parts left billed
    lake.put_file(str(local), "raw/conversations/day.parquet")
    assert lake.read_bytes("raw/conversations/day.parquet") == local.read_bytes()
