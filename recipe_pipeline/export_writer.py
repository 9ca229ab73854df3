"""Writes DynamoDB table exports exactly in AWS's S3 layout (see design/aws-reference.md §2).

Used by ``recipe-pipeline simulate`` and by the tests, so the pipeline is always exercised on
files shaped like the real thing: ``_started``, ``manifest-summary.json`` (+ ``.md5``),
``manifest-files.json`` (+ ``.md5``) with base64-MD5 ``md5Checksum`` per data file, gzip JSON
Lines data files (some of them empty), full exports' data under ``AWSDynamoDB/<ExportId>/data/``
and incremental exports' data in the shared ``AWSDynamoDB/data/`` folder.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from recipe_pipeline.dynamodb_json import serialize_item
from recipe_pipeline.storage import Location

KEY_ATTRIBUTES = ("conversation_id", "timestamp")
DEFAULT_TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/recipe-conversations"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def iso_millis(moment: datetime) -> str:
    """AWS manifest timestamp style: ``2026-01-14T10:18:50.622Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def item_key(item: dict) -> tuple[str, str]:
    return (item["conversation_id"], item["timestamp"])


@dataclass(frozen=True)
class Change:
    """One line of an incremental export: the item's final state in the window.

    ``new_image`` is None for a delete; ``old_image`` is the item's state before the window
    started (None when it did not exist then)."""

    key: tuple[str, str]
    write_micros: int
    new_image: dict | None
    old_image: dict | None


@dataclass
class TableHistory:
    """The write history of the ``recipe-conversations`` table, from which full snapshots and
    compacted incremental change sets are derived the way DynamoDB derives them."""

    _events: list[tuple[int, int, tuple[str, str], dict | None]] = field(default_factory=list)

    def put(self, item: dict, at: datetime) -> None:
        self._events.append((micros(at), len(self._events), item_key(item), dict(item)))

    def delete(self, key: tuple[str, str], at: datetime) -> None:
        self._events.append((micros(at), len(self._events), key, None))

    def _sorted(self) -> list[tuple[int, int, tuple[str, str], dict | None]]:
        return sorted(self._events, key=lambda e: (e[0], e[1]))

    def state_at(self, moment: datetime) -> dict[tuple[str, str], dict]:
        """Items present at ``moment`` (exclusive)."""
        limit = micros(moment)
        state: dict[tuple[str, str], dict] = {}
        for at, _, key, image in self._sorted():
            if at >= limit:
                break
            if image is None:
                state.pop(key, None)
            else:
                state[key] = image
        return state

    def changes_between(self, start: datetime, end: datetime) -> list[Change]:
        """Compacted changes in ``[start, end)``: one line per item that differs, none for an
        item inserted and deleted inside the window."""
        lo, hi = micros(start), micros(end)
        before: dict[tuple[str, str], dict] = {}
        after: dict[tuple[str, str], dict | None] = {}
        last_write: dict[tuple[str, str], int] = {}
        for at, _, key, image in self._sorted():
            if at >= hi:
                break
            if at < lo:
                if image is None:
                    before.pop(key, None)
                else:
                    before[key] = image
                continue
            after[key] = image
            last_write[key] = at
        changes = []
        for key, new in after.items():
            old = before.get(key)
            if new is None and old is None:
                continue  # inserted and deleted inside the window: DynamoDB emits nothing
            changes.append(Change(key, last_write[key], new, old))
        return changes


def _verbatim(lines: Iterable[bytes]) -> list[tuple[tuple[str, str], bytes]]:
    # Spread over the data files by the line's own hash, as if keyed.
    return [((hashlib.md5(line).hexdigest(), ""), line) for line in lines]


class ExportWriter:
    """Writes exports below ``location`` (the folder that holds ``AWSDynamoDB/``)."""

    def __init__(
        self,
        location: Location,
        *,
        s3_prefix: str | None = "exports",
        table_arn: str = DEFAULT_TABLE_ARN,
        files_per_export: int = 4,
    ) -> None:
        self.location = location
        self.s3_prefix = s3_prefix.strip("/") if s3_prefix else None
        self.table_arn = table_arn
        self.files_per_export = files_per_export

    # -- naming ------------------------------------------------------------------------------
    def _key(self, relative: str) -> str:
        """Full object key as AWS writes it into manifests (prefix included)."""
        return f"{self.s3_prefix}/{relative}" if self.s3_prefix else relative

    @staticmethod
    def export_id_for(started: datetime, *salt: str) -> str:
        digest = hashlib.sha256("|".join((started.isoformat(), *salt)).encode()).hexdigest()[:8]
        return f"{micros(started) // 1000:014d}-{digest}"

    @staticmethod
    def _data_file_name(export_id: str, index: int) -> str:
        digest = hashlib.sha256(f"{export_id}/{index}".encode()).digest()
        bits = int.from_bytes(digest[:17], "big")
        return "".join(_B32[(bits >> (5 * i)) & 31] for i in range(26)) + ".json.gz"

    # -- writing -----------------------------------------------------------------------------
    def _write_data_files(self, export_id: str, lines_by_key: list[tuple[tuple[str, str], bytes]], data_dir: str) -> list[dict]:
        buckets: list[list[bytes]] = [[] for _ in range(self.files_per_export)]
        for key, line in lines_by_key:
            # DynamoDB exports one file per table partition; items land by hash of the hash key.
            slot = int(hashlib.md5(key[0].encode()).hexdigest(), 16) % self.files_per_export
            buckets[slot].append(line)
        entries = []
        for index, lines in enumerate(buckets):
            body = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
            relative = f"{data_dir}/{self._data_file_name(export_id, index)}"
            self.location.write_bytes(body, relative)
            md5 = hashlib.md5(body)
            entries.append(
                {
                    "itemCount": len(lines),
                    "md5Checksum": base64.b64encode(md5.digest()).decode(),
                    "etag": hashlib.md5(md5.digest()).hexdigest() + "-1",
                    "dataFileS3Key": self._key(relative),
                }
            )
        return entries

    def _write_manifests(self, export_id: str, summary: dict, entries: list[dict]) -> None:
        base = f"AWSDynamoDB/{export_id}"
        self.location.write_bytes(b"", base, "_started")
        files_body = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries).encode()
        self.location.write_bytes(files_body, base, "manifest-files.json")
        self.location.write_bytes(base64.b64encode(hashlib.md5(files_body).digest()) + b"\n", base, "manifest-files.md5")
        summary = {
            **summary,
            "manifestFilesS3Key": self._key(f"{base}/manifest-files.json"),
            "itemCount": sum(e["itemCount"] for e in entries),
            "outputFormat": "DYNAMODB_JSON",
        }
        summary_body = json.dumps(summary, separators=(",", ":")).encode()
        self.location.write_bytes(base64.b64encode(hashlib.md5(summary_body).digest()) + b"\n", base, "manifest-summary.md5")
        # Written last: its presence is what marks the export complete.
        self.location.write_bytes(summary_body, base, "manifest-summary.json")

    def _common_summary(self, export_id: str, started: datetime, ended: datetime, version: str) -> dict:
        return {
            "version": version,
            "exportArn": f"{self.table_arn}/export/{export_id}",
            "startTime": iso_millis(started),
            "endTime": iso_millis(ended),
            "tableArn": self.table_arn,
            "tableId": "cf263806-6bf1-4e51-a242-7067dcdecc72",
        }

    def write_full_export(
        self,
        items: Iterable[dict],
        export_time: datetime,
        *,
        export_id: str | None = None,
        duration: timedelta = timedelta(minutes=6),
        extra_lines: Iterable[bytes] = (),
    ) -> str:
        """A FULL_EXPORT snapshot of ``items`` as of ``export_time``; returns the ExportId.
        ``extra_lines`` are written verbatim too (malformed lines, odd types, for tests)."""
        export_id = export_id or self.export_id_for(export_time, "full")
        lines = [
            (item_key(item), json.dumps({"Item": serialize_item(item)}, separators=(",", ":")).encode())
            for item in items
        ] + _verbatim(extra_lines)
        entries = self._write_data_files(export_id, lines, f"AWSDynamoDB/{export_id}/data")
        summary = self._common_summary(export_id, export_time, export_time + duration, "2020-06-30")
        summary.update(
            {
                "exportTime": iso_millis(export_time),
                "s3Bucket": "recipe-chatbot-analytics",
                "s3Prefix": self.s3_prefix,
                "s3SseAlgorithm": "AES256",
                "s3SseKmsKeyId": None,
                "billedSizeBytes": 0,
            }
        )
        self._write_manifests(export_id, summary, entries)
        return export_id

    def write_incremental_export(
        self,
        changes: Iterable[Change],
        export_from: datetime,
        export_to: datetime,
        *,
        view: str = "NEW_AND_OLD_IMAGES",
        export_id: str | None = None,
        started: datetime | None = None,
        extra_lines: Iterable[bytes] = (),
    ) -> str:
        """An INCREMENTAL_EXPORT of ``changes`` for ``[export_from, export_to)``; ``extra_lines``
        are written verbatim too."""
        if view not in ("NEW_AND_OLD_IMAGES", "NEW_IMAGE"):
            raise ValueError(f"unknown export view {view!r}")
        started = started or export_to + timedelta(minutes=10)
        export_id = export_id or self.export_id_for(started, "incremental", export_from.isoformat())
        lines = []
        for change in changes:
            keys = {"conversation_id": change.key[0], "timestamp": change.key[1]}
            record: dict = {"Metadata": {"WriteTimestampMicros": {"N": str(change.write_micros)}}, "Keys": serialize_item(keys)}
            if change.new_image is not None:
                record["NewImage"] = serialize_item(change.new_image)
            if view == "NEW_AND_OLD_IMAGES" and change.old_image is not None:
                record["OldImage"] = serialize_item(change.old_image)
            lines.append((change.key, json.dumps(record, separators=(",", ":")).encode()))
        lines += _verbatim(extra_lines)
        entries = self._write_data_files(export_id, lines, "AWSDynamoDB/data")
        summary = self._common_summary(export_id, started, started + timedelta(minutes=5), "2023-08-01")
        summary.update(
            {
                "exportFromTime": iso_millis(export_from),
                "exportToTime": iso_millis(export_to),
                "s3Bucket": "recipe-chatbot-analytics",
                "s3Prefix": self.s3_prefix,
                "s3SseAlgorithm": "AES256",
                "s3SseKmsKeyId": None,
                "billedSizeBytes": 10_000_000,
                "outputView": view,
                "exportType": "INCREMENTAL_EXPORT",
            }
        )
        self._write_manifests(export_id, summary, entries)
        return export_id
