"""``ConversationTracker`` against a real local DynamoDB endpoint (moto_server over HTTP)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.config import Config
from botocore.stub import Stubber

from recipe_pipeline.aws import Deployment, table_definition
from recipe_pipeline.tracker import ConversationTracker, Message, TrackerWriteError


@pytest.fixture
def table(s3_bucket) -> str:
    name = f"recipe-conversations-{s3_bucket[-8:]}"
    definition = {**table_definition(Deployment("s3://b/lake", "s3://b/exports")), "TableName": name}
    boto3.client("dynamodb").create_table(**definition)
    return name


def items(table: str) -> list[dict]:
    return boto3.resource("dynamodb").Table(table).scan()["Items"]


def test_track_writes_one_item_per_message(table):
    fixed = datetime(2025, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    tracker = ConversationTracker(table, clock=lambda: fixed)
    first = tracker.track("c1", "u1", "user", "How do I make ramen?" + "!" * 600, {"tools_used": ["web_search"], "score": 0.5})
    second = tracker.track("c1", "u1", "assistant", "Here's a recipe for ramen.")
    assert first == "2025-05-01T12:00:00.123456Z" and second == "2025-05-01T12:00:00.123457Z"  # same instant: next µs
    stored = {i["timestamp"]: i for i in items(table)}
    assert len(stored) == 2
    item = stored[first]
    assert len(item["message"]) == 500
    assert item["metadata"]["tools_used"] == ["web_search"] and str(item["metadata"]["score"]) == "0.5"
    assert item["date_str"] == "2025-05-01"
    assert int(item["ttl"]) == int((fixed + timedelta(days=90)).timestamp())


def test_two_trackers_in_the_same_microsecond_do_not_overwrite(table):
    fixed = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    a, b = ConversationTracker(table, clock=lambda: fixed), ConversationTracker(table, clock=lambda: fixed)
    assert a.track("c1", "u1", "user", "one") != b.track("c1", "u1", "user", "two")
    assert sorted(i["message"] for i in items(table)) == ["one", "two"]


def test_bad_messages_are_rejected_with_a_reason(table):
    tracker = ConversationTracker(table)
    with pytest.raises(ValueError, match="role must be one of user, assistant, tool"):
        tracker.track("c1", "u1", "system", "hi")
    with pytest.raises(ValueError, match="conversation_id"):
        tracker.track("", "u1", "user", "hi")
    with pytest.raises(ValueError, match="non-finite"):
        tracker.track("c1", "u1", "user", "hi", {"x": float("nan")})
    with pytest.raises(ValueError, match="400 KB"):
        tracker.track("c1", "u1", "user", "hi", {"blob": "x" * 500_000})
    assert tracker.track("c1", "u1", "user", "") is not None  # an empty message is a message


def test_batch_writes_and_the_date_index(table):
    tracker = ConversationTracker(table)
    written = tracker.track_batch([Message(f"c{i % 7}", f"u{i % 3}", "user", f"message {i}") for i in range(60)])
    assert len(written) == 60 and len(set(written)) == 60
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    found = boto3.resource("dynamodb").Table(table).query(IndexName="date-index", KeyConditionExpression=Key("date_str").eq(today))
    assert found["Count"] == 60


def test_async_does_not_block_the_event_loop(table):
    tracker = ConversationTracker(table)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            for _ in range(5):
                ticks += 1
                await asyncio.sleep(0)

        results = await asyncio.gather(*(tracker.track_async(f"c{i}", "u1", "user", "hi") for i in range(5)), ticker())
        return results[:5], ticks

    timestamps, ticks = asyncio.run(main())
    assert all(timestamps) and ticks == 5
    assert len(items(table)) == 5


def test_unprocessed_batch_items_are_retried(table):
    client = boto3.client("dynamodb")
    tracker = ConversationTracker(table, client=client)
    messages = [Message("c1", "u1", "user", "a"), Message("c1", "u1", "user", "b")]
    sent: list[int] = []
    client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", lambda params, **_: sent.append(len(params["RequestItems"][table])))
    with Stubber(client) as stubber:
        # DynamoDB throttles part of the batch once ("b" comes back unprocessed), then takes it.
        def unprocessed(message: str) -> dict:
            item = tracker.build_item(Message("c1", "u1", "user", message))
            from recipe_pipeline.dynamodb_json import serialize_item

            return {table: [{"PutRequest": {"Item": serialize_item(item)}}]}

        stubber.add_response("batch_write_item", {"UnprocessedItems": unprocessed("b")})
        stubber.add_response("batch_write_item", {"UnprocessedItems": {}})
        written = tracker.track_batch(messages)
        stubber.assert_no_pending_responses()
    assert sent == [2, 1]  # the unprocessed item went again, alone
    assert len(written) == 2


def test_a_final_failure_raises_or_is_counted(table):
    client = boto3.client("dynamodb", config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        stubber.add_client_error("put_item", "ProvisionedThroughputExceededException", "Rate of requests exceeds the allowed throughput.")
        with pytest.raises(TrackerWriteError, match="ProvisionedThroughputExceededException: Rate of requests"):
            ConversationTracker(table, client=client).track("c1", "u1", "user", "hi")
        stubber.add_client_error("put_item", "ThrottlingException", "slow down")
        logging_tracker = ConversationTracker(table, client=client, on_error="log")
        assert logging_tracker.track("c1", "u1", "user", "hi") is None
        assert logging_tracker.failed_writes == 1
