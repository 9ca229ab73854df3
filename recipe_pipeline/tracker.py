"""``ConversationTracker``: what the chatbot imports to record each message in DynamoDB.

One item per message in ``recipe-conversations``: ``conversation_id`` (hash key), ``timestamp``
(range key: RFC 3339 UTC with microseconds, sortable, and unique: a tracker never hands out the
same instant twice, and a conditional put moves to the next microsecond if another process took
it), ``user_id``, ``role`` (``user``/``assistant``/``tool``), ``message`` (truncated, 500
characters by default), ``metadata`` (tools used, ratings, …), ``date_str`` for the ``date-index``
GSI and ``ttl`` (now + 90 days). The tracker only writes to DynamoDB; DynamoDB's export moves
the data to S3 (the seed's hourly S3 batching inside the app is gone).

Throttling is retried by botocore (standard retry mode, backoff with jitter); batch writes also
retry ``UnprocessedItems`` with backoff. A write that finally fails raises ``TrackerWriteError``,
or, with ``on_error="log"``, is logged and counted in ``failed_writes`` so the chatbot keeps
answering. ``track_async`` runs the blocking call in a worker thread: it never blocks the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from recipe_pipeline.aws_clients import aws_client
from recipe_pipeline.dynamodb_json import serialize_item

logger = logging.getLogger(__name__)

ROLES = ("user", "assistant", "tool")
DEFAULT_TABLE = "recipe-conversations"
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
BATCH_SIZE = 25  # BatchWriteItem's limit


class TrackerWriteError(RuntimeError):
    """A message could not be written to DynamoDB after retries."""


@dataclass(frozen=True)
class Message:
    conversation_id: str
    user_id: str
    role: str
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _check_floats(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} holds a non-finite number, which DynamoDB cannot store")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_floats(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            _check_floats(v, where)


class ConversationTracker:
    def __init__(
        self,
        table_name: str = DEFAULT_TABLE,
        *,
        client: Any = None,
        max_message_length: int = 500,
        ttl_days: int = 90,
        on_error: str = "raise",
        max_batch_attempts: int = 8,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if on_error not in ("raise", "log"):
            raise ValueError("on_error must be 'raise' or 'log'")
        self.client = client if client is not None else aws_client("dynamodb")
        self.table_name = table_name
        self.max_message_length = max_message_length
        self.ttl_days = ttl_days
        self.on_error = on_error
        self.max_batch_attempts = max_batch_attempts
        self.failed_writes = 0
        self._clock = clock or (lambda: datetime.now(UTC))
        self._last_instant: datetime | None = None
        self._lock = threading.Lock()

    # -- items ---------------------------------------------------------------------------------
    def _next_instant(self) -> datetime:
        """Now, but strictly after the last instant this tracker handed out."""
        with self._lock:
            now = self._clock().astimezone(UTC)
            if self._last_instant is not None and now <= self._last_instant:
                now = self._last_instant + timedelta(microseconds=1)
            self._last_instant = now
            return now

    @staticmethod
    def format_timestamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def build_item(self, message: Message, at: datetime | None = None) -> dict[str, Any]:
        """The DynamoDB item (plain Python values) for one message; raises ValueError naming
        what is wrong."""
        if not message.conversation_id or not isinstance(message.conversation_id, str):
            raise ValueError("conversation_id must be a non-empty string (it is the table's hash key)")
        if not message.user_id or not isinstance(message.user_id, str):
            raise ValueError("user_id must be a non-empty string")
        if message.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {message.role!r}")
        if not isinstance(message.message, str):
            raise ValueError(f"message must be a string, got {type(message.message).__name__}")
        if not isinstance(message.metadata, dict):
            raise ValueError(f"metadata must be a dict, got {type(message.metadata).__name__}")
        _check_floats(message.metadata, "metadata")
        moment = at or self._next_instant()
        item = {
            "conversation_id": message.conversation_id,
            "timestamp": self.format_timestamp(moment),
            "user_id": message.user_id,
            "role": message.role,
            "message": message.message[: self.max_message_length],
            "metadata": message.metadata,
            "date_str": moment.strftime("%Y-%m-%d"),
            "ttl": int((moment + timedelta(days=self.ttl_days)).timestamp()),
        }
        size = len(json.dumps(item, default=str).encode())
        if size > MAX_ITEM_BYTES:
            raise ValueError(f"the item for conversation {message.conversation_id} is {size} bytes, over DynamoDB's 400 KB limit (metadata too large?)")
        return item

    # -- writing -------------------------------------------------------------------------------
    def _failed(self, problem: str, exc: Exception | None = None) -> None:
        if self.on_error == "raise":
            raise TrackerWriteError(problem) from exc
        self.failed_writes += 1
        logger.error("recipe-pipeline tracker: %s", problem)

    def track(self, conversation_id: str, user_id: str, role: str, message: str, metadata: dict | None = None) -> str | None:
        """Write one message; returns its ``timestamp`` (None when a failure was only logged)."""
        from botocore.exceptions import ClientError

        record = Message(conversation_id, user_id, role, message, dict(metadata or {}))
        item = self.build_item(record)
        for _ in range(100):
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item=serialize_item(item),
                    ConditionExpression="attribute_not_exists(#ts)",
                    ExpressionAttributeNames={"#ts": "timestamp"},
                )
                return item["timestamp"]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ConditionalCheckFailedException":
                    # Another writer used this microsecond for this conversation: take the next.
                    item = self.build_item(record, at=self._next_instant())
                    continue
                self._failed(f"writing a message of conversation {conversation_id} to {self.table_name} failed: {code}: {exc.response.get('Error', {}).get('Message', '')}", exc)
                return None
        self._failed(f"no free timestamp for conversation {conversation_id} after 100 attempts")
        return None

    async def track_async(self, conversation_id: str, user_id: str, role: str, message: str, metadata: dict | None = None) -> str | None:
        """``track`` in a worker thread, so the event loop keeps serving while boto3 blocks."""
        return await asyncio.to_thread(self.track, conversation_id, user_id, role, message, metadata)

    def track_batch(self, messages: Iterable[Message]) -> list[str]:
        """Write many messages with BatchWriteItem (25 per request), retrying unprocessed items
        with exponential backoff; returns the timestamps written."""
        from botocore.exceptions import ClientError

        items = [self.build_item(m) for m in messages]
        written: list[str] = []
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start : start + BATCH_SIZE]
            pending: Sequence[dict] | None = [{"PutRequest": {"Item": serialize_item(item)}} for item in chunk]
            for attempt in range(self.max_batch_attempts):
                try:
                    response = self.client.batch_write_item(RequestItems={self.table_name: list(pending)})
                except ClientError as exc:
                    error = exc.response.get("Error", {})
                    self._failed(f"batch write to {self.table_name} failed: {error.get('Code')}: {error.get('Message', '')}", exc)
                    pending = None
                    break
                pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
            if pending is None:
                continue  # the whole chunk failed (already reported)
            if pending:
                self._failed(f"{len(pending)} message(s) still unprocessed by {self.table_name} after {self.max_batch_attempts} attempts")
                unwritten = {(p["PutRequest"]["Item"]["conversation_id"]["S"], p["PutRequest"]["Item"]["timestamp"]["S"]) for p in pending}
                written += [i["timestamp"] for i in chunk if (i["conversation_id"], i["timestamp"]) not in unwritten]
            else:
                written += [i["timestamp"] for i in chunk]
        return written
