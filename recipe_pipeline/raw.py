"""One UTC day of raw conversations from every export that holds it.

Semantics (ARCHITECTURE.md, "Semantics of the data"):
- an item belongs to the day of its own ``timestamp``;
- its primary key is (conversation_id, timestamp); across exports the newest version wins
  (incremental lines: ``WriteTimestampMicros``; full exports: their ``exportTime``);
- a delete that wins removes the item (an erasure), except a TTL expiry (the old image's ``ttl``
  had passed when it was deleted), which the lake's own retention handles;
- a full export is a snapshot: an item last seen before the newest snapshot and absent from it
  had been deleted by then;
- items whose attributes cannot be read are quarantined with a reason, never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from recipe_pipeline.dynamodb_json import DynamoDBJSONError, deserialize_item, to_plain
from recipe_pipeline.export_index import BadTimestamp, item_day, load_or_build_export_index, parse_item_timestamp
from recipe_pipeline.exports import ExportRecord, ExportStore, ExportSummary, MalformedLine, image_ttl, parse_record, to_micros
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.storage import Location

# Exports are not transactionally consistent and AWS's clock "can vary by one minute"; an item
# written this close to a snapshot may be missing from it without having been deleted.
SNAPSHOT_TOLERANCE = timedelta(minutes=5)

RAW_SCHEMA = pa.schema(
    [
        pa.field("conversation_id", pa.string(), nullable=False),
        pa.field("timestamp", pa.string(), nullable=False),
        pa.field("message_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
        pa.field("metadata", pa.string()),  # JSON text of the item's metadata map
        pa.field("date_str", pa.string()),
        pa.field("ttl", pa.int64()),
        pa.field("has_recipe", pa.bool_()),
        pa.field("recipe_name", pa.string()),
        pa.field("extra_attributes", pa.string()),  # JSON text of any other attributes
        pa.field("write_micros", pa.int64(), nullable=False),
        pa.field("source_export", pa.string(), nullable=False),
    ]
)
# unique_items = rows + deleted + quarantined + erased (checked by an asset check).
COUNT_NAMES = (
    "export_records", "unique_items", "superseded_versions", "deleted", "deleted_by_snapshot",
    "ttl_expiries_ignored", "quarantined", "erased", "rows",
)
KNOWN_ATTRIBUTES = {f.name for f in RAW_SCHEMA} - {"message_ts", "extra_attributes", "write_micros", "source_export"}


@dataclass
class RawDay:
    day: str
    table: pa.Table
    exports_read: list[str]
    counts: dict[str, int]
    quarantine: list[dict] = field(default_factory=list)
    covered_until: datetime | None = None

    @property
    def exports_cover_day(self) -> bool:
        end = datetime.fromisoformat(self.day).replace(tzinfo=UTC) + timedelta(days=1)
        return self.covered_until is not None and self.covered_until >= end


@dataclass
class _Candidate:
    record: ExportRecord
    export_id: str
    is_full: bool

    @property
    def order(self) -> tuple[int, int]:
        # At equal versions an incremental line (exact write time) beats a snapshot.
        return (self.record.version_micros, 0 if self.is_full else 1)


def coverage(summaries: list[ExportSummary]) -> datetime | None:
    """Until when the exports reflect every write: the newest full snapshot, extended by the
    chain of incremental windows that start at or before the covered instant."""
    fulls = [s for s in summaries if s.is_full]
    if not fulls:
        return None
    covered = max(s.covered_until for s in fulls)
    for inc in sorted((s for s in summaries if not s.is_full), key=lambda s: s.export_from):
        if inc.export_from <= covered + timedelta(minutes=1) and inc.export_to > covered:
            covered = inc.export_to
    return covered


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"attribute {name!r} is {type(value).__name__ if value is not None else 'missing'}, expected a string")
    return value


MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit: a bigger image is not a real item
# C0/C1 control characters except tab, newline and carriage return: never typed by a person,
# they break CSV exports and terminals downstream, so messages are normalized without them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _image_bytes(image: dict | None) -> int:
    return len(json.dumps(image or {}, separators=(",", ":")).encode())


def _to_row(candidate: _Candidate) -> dict:
    """Typed columns from a winning image; raises ValueError naming what is wrong."""
    size = _image_bytes(candidate.record.image)
    if size > MAX_ITEM_BYTES:
        raise ValueError(f"item is {size} bytes, over DynamoDB's 400 KB item limit")
    try:
        item = to_plain(deserialize_item(candidate.record.image or {}))
    except DynamoDBJSONError as exc:
        raise ValueError(f"undecodable attribute: {exc}") from exc
    message_ts = parse_item_timestamp(candidate.record.timestamp)
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"attribute 'metadata' is {type(metadata).__name__}, expected a map")
    ttl = item.get("ttl")
    extra = {k: v for k, v in item.items() if k not in KNOWN_ATTRIBUTES}
    return {
        "conversation_id": candidate.record.conversation_id,
        "timestamp": candidate.record.timestamp,
        "message_ts": message_ts,
        "user_id": _string(item.get("user_id"), "user_id"),
        "role": _string(item.get("role"), "role"),
        "message": _CONTROL.sub("", _string(item.get("message", ""), "message")),
        "metadata": json.dumps(metadata, sort_keys=True) if metadata is not None else None,
        "date_str": item.get("date_str") if isinstance(item.get("date_str"), str) else None,
        "ttl": int(ttl) if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) else None,
        "has_recipe": item.get("has_recipe") if isinstance(item.get("has_recipe"), bool) else None,
        "recipe_name": item.get("recipe_name") if isinstance(item.get("recipe_name"), str) else None,
        "extra_attributes": json.dumps(extra, sort_keys=True) if extra else None,
        "write_micros": candidate.record.version_micros,
        "source_export": candidate.export_id,
    }


def build_raw_day(store: ExportStore, lake: Location, day: str) -> RawDay:
    """Resolve every version of the day's items across all completed exports."""
    summaries = store.completed()
    latest_full = max((s for s in summaries if s.is_full), key=lambda s: s.export_time, default=None)
    candidates: dict[tuple[str, str], list[_Candidate]] = {}
    exports_read: list[str] = []
    counts: Counter[str] = Counter({name: 0 for name in COUNT_NAMES})

    for summary in summaries:
        index = load_or_build_export_index(store, lake, summary)
        if day not in index.days:
            continue
        exports_read.append(summary.export_id)
        for data_file in store.data_files(summary):
            for line in store.iter_lines(summary, data_file):
                try:
                    record = parse_record(line, summary)
                    if item_day(record.timestamp) != day:
                        continue
                except (MalformedLine, BadTimestamp):
                    continue  # quarantined (and counted) by the export index
                counts["export_records"] += 1
                key = (record.conversation_id, record.timestamp)
                candidates.setdefault(key, []).append(_Candidate(record, summary.export_id, summary.is_full))

    snapshot_micros = to_micros(latest_full.export_time - SNAPSHOT_TOLERANCE) if latest_full else None
    rows: list[dict] = []
    quarantine: list[dict] = []
    for key, versions in candidates.items():
        counts["unique_items"] += 1
        versions.sort(key=lambda c: c.order, reverse=True)
        counts["superseded_versions"] += len(versions) - 1
        winner = None
        for candidate in versions:
            record = candidate.record
            if record.kind == "delete" and record.old_ttl is not None and record.old_ttl * 1_000_000 <= record.version_micros:
                counts["ttl_expiries_ignored"] += 1  # retention, not erasure: keep the older version
                continue
            winner = candidate
            break
        if winner is None:
            counts["deleted"] += 1
            continue
        if winner.record.kind == "delete":
            counts["deleted"] += 1
            continue
        if snapshot_micros is not None and winner.record.version_micros < snapshot_micros:
            # Absent from the newest full snapshot: deleted since, unless its TTL had expired.
            ttl = image_ttl(winner.record.image)
            if ttl is None or ttl * 1_000_000 > snapshot_micros:
                counts["deleted"] += 1
                counts["deleted_by_snapshot"] += 1
                continue
        try:
            rows.append(_to_row(winner))
        except (ValueError, BadTimestamp) as exc:
            counts["quarantined"] += 1
            quarantine.append(
                {
                    "day": day,
                    "conversation_id": key[0],
                    "timestamp": key[1],
                    "export_id": winner.export_id,
                    "reason": str(exc),
                    "image": winner.record.image,
                }
            )

    rows.sort(key=lambda r: (r["message_ts"], r["conversation_id"]))
    counts["rows"] = len(rows)
    table = pa.Table.from_pylist(rows, schema=RAW_SCHEMA)
    return RawDay(day, table, exports_read, dict(counts), quarantine, coverage(summaries))


def _image_user_id(image: dict | None) -> str | None:
    value = (image or {}).get("user_id")
    return value.get("S") if isinstance(value, dict) and isinstance(value.get("S"), str) else None


def drop_erased_users(raw: RawDay, erased: set[str], pseudonymizer: Pseudonymizer) -> RawDay:
    """Leave out every row (and quarantined item) of users erased with ``forget-user``.

    Exports keep a user's items until the app deletes them in DynamoDB; the erasure registry
    holds only pseudonyms, so a rebuilt day is matched by pseudonym, never by a stored raw id."""
    if not erased:
        return raw
    counts = dict(raw.counts)
    table = raw.table
    if table.num_rows:
        keep = [p not in erased for p in pseudonymizer.pseudonyms(table.column("user_id").to_pylist())]
        removed = keep.count(False)
        if removed:
            table = table.filter(pa.array(keep, pa.bool_()))
            counts["erased"] = counts.get("erased", 0) + removed
            counts["rows"] = table.num_rows
    quarantine = []
    for entry in raw.quarantine:
        user_id = _image_user_id(entry.get("image"))
        if user_id is not None and pseudonymizer.pseudonym(user_id) in erased:
            counts["quarantined"] -= 1
            counts["erased"] = counts.get("erased", 0) + 1
        else:
            quarantine.append(entry)
    return RawDay(raw.day, table, raw.exports_read, counts, quarantine, raw.covered_until)

