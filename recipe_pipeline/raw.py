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

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from recipe_pipeline.export_columns import read_data_file
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


# One ordering of an item's versions, newest first: the write time, then an incremental line
# (exact write time) before a snapshot, then the version read first (overlapping exports).
_RESOLVE_SQL = """
CREATE TEMP TABLE versions AS
SELECT *,
    kind = 'delete' AND old_ttl IS NOT NULL AND old_ttl <= version // 1000000 AS ttl_expiry,
    version::HUGEINT * 8589934592 + incremental::HUGEINT * 4294967296 + (4294967295 - row_id) AS recency
FROM candidates;

CREATE TEMP TABLE items AS
SELECT conversation_id, "timestamp", count(*) AS versions,
    arg_max(row_id, recency) FILTER (WHERE NOT ttl_expiry) AS winner,
    max(recency) FILTER (WHERE NOT ttl_expiry) AS winner_recency
FROM versions GROUP BY conversation_id, "timestamp";

CREATE TEMP TABLE winners AS
SELECT v.row_id, v.kind = 'delete' AS is_delete,
    v.kind <> 'delete' AND $snapshot IS NOT NULL AND v.version < $snapshot
        AND (v.image_ttl IS NULL OR v.image_ttl > $snapshot // 1000000) AS missing_from_snapshot
FROM items i JOIN versions v ON v.row_id = i.winner;
"""
_COUNTS_SQL = """
SELECT
    (SELECT count(*) FROM items) AS unique_items,
    (SELECT coalesce(sum(versions - 1), 0) FROM items) AS superseded_versions,
    (SELECT count(*) FROM items WHERE winner IS NULL)
        + (SELECT count(*) FROM winners WHERE is_delete OR missing_from_snapshot) AS deleted,
    (SELECT count(*) FROM winners WHERE missing_from_snapshot) AS deleted_by_snapshot,
    -- TTL expiries newer than the version that stands (an older version stands: retention, not erasure)
    (SELECT count(*) FROM versions v JOIN items i USING (conversation_id, "timestamp")
        WHERE v.ttl_expiry AND (i.winner_recency IS NULL OR v.recency > i.winner_recency)) AS ttl_expiries_ignored
"""


def _resolve(keys: pa.Table, snapshot_micros: int | None, counts: Counter) -> pa.Array:
    """Row ids of the versions that survive: per item the newest version that is not a TTL
    expiry, unless that is a delete or (older than the newest snapshot) absent from it."""
    with duckdb.connect() as con:
        con.register("candidates", keys)
        con.execute(_RESOLVE_SQL, {"snapshot": snapshot_micros})
        counts.update({name: int(value) for name, value in con.sql(_COUNTS_SQL).to_arrow_table().to_pylist()[0].items()})
        survivors = con.sql("SELECT row_id FROM winners WHERE NOT is_delete AND NOT missing_from_snapshot ORDER BY row_id")
        return survivors.to_arrow_table().column("row_id").combine_chunks()


_INT64 = (-(2**63), 2**63 - 1)


def _clamp(value: int | None) -> int | None:
    return None if value is None else min(max(value, _INT64[0]), _INT64[1])


def _exact_keys(candidates: list[_Candidate], first_row_id: int) -> pa.Table:
    return pa.table(
        {
            "conversation_id": [c.record.conversation_id for c in candidates],
            "timestamp": [c.record.timestamp for c in candidates],
            "version": pa.array([c.record.version_micros for c in candidates], pa.int64()),
            "incremental": pa.array([not c.is_full for c in candidates], pa.bool_()),
            "kind": pa.array([c.record.kind for c in candidates], pa.string()),
            "old_ttl": pa.array([_clamp(c.record.old_ttl) for c in candidates], pa.int64()),
            "image_ttl": pa.array([_clamp(image_ttl(c.record.image)) for c in candidates], pa.int64()),
            "row_id": pa.array(range(first_row_id, first_row_id + len(candidates)), pa.int64()),
        }
    )


_UTC_SUFFIX = r"(Z|\+00:00)$"


def _rows_from_columns(fast: pa.Table) -> pa.Table:
    """``RAW_SCHEMA`` rows from winning versions read columnar (plain UTC timestamps, plain types)."""
    naive = pc.replace_substring_regex(fast.column("timestamp"), _UTC_SUFFIX, "")
    message_ts = pc.cast(pc.cast(naive, pa.timestamp("us")), pa.timestamp("us", tz="UTC"))
    message = fast.column("message")
    if pc.any(pc.match_substring_regex(message, _CONTROL.pattern)).as_py():
        message = pc.replace_substring_regex(message, _CONTROL.pattern, "")
    return pa.table(
        {
            "conversation_id": fast.column("conversation_id"), "timestamp": fast.column("timestamp"),
            "message_ts": message_ts, "user_id": fast.column("user_id"), "role": fast.column("role"),
            "message": message, "metadata": fast.column("metadata"), "date_str": fast.column("date_str"),
            "ttl": fast.column("ttl"), "has_recipe": fast.column("has_recipe"), "recipe_name": fast.column("recipe_name"),
            "extra_attributes": pa.nulls(fast.num_rows, pa.string()), "write_micros": fast.column("version"),
            "source_export": fast.column("source_export"),
        },
        schema=RAW_SCHEMA,
    )


def build_raw_day(store: ExportStore, lake: Location, day: str, *, columnar: bool = True) -> RawDay:
    """Resolve every version of the day's items across all completed exports.

    Data files are read columnar (``export_columns``); lines that need it, and every line when
    ``columnar`` is False, take the exact line-by-line path. Both give the same day."""
    summaries = store.completed()
    latest_full = max((s for s in summaries if s.is_full), key=lambda s: s.export_time, default=None)
    fast_parts: list[pa.Table] = []
    exact: list[_Candidate] = []
    exports_read: list[str] = []
    counts: Counter[str] = Counter({name: 0 for name in COUNT_NAMES})

    for summary in summaries:
        index = load_or_build_export_index(store, lake, summary, columnar=columnar)
        if day not in index.days:
            continue
        exports_read.append(summary.export_id)
        for data_file in store.data_files(summary):
            file = read_data_file(store, summary, data_file, columnar=columnar)
            # Columnar rows have plain UTC timestamps: their day is their first ten characters.
            part = file.table.filter(pc.starts_with(file.table.column("timestamp"), day)).drop_columns(["line"])
            if part.num_rows:
                fast_parts.append(
                    part.append_column("incremental", pc.fill_null(pa.nulls(part.num_rows, pa.bool_()), not summary.is_full))
                    .append_column("source_export", pc.fill_null(pa.nulls(part.num_rows, pa.string()), summary.export_id))
                )
            for _, line in file.exact_lines:
                try:
                    record = parse_record(line, summary)
                    if item_day(record.timestamp) != day:
                        continue
                except (MalformedLine, BadTimestamp):
                    continue  # quarantined (and counted) by the export index
                exact.append(_Candidate(record, summary.export_id, summary.is_full))

    fast = pa.concat_tables(fast_parts) if fast_parts else None
    fast_rows = fast.num_rows if fast is not None else 0
    counts["export_records"] = fast_rows + len(exact)
    keys = [_exact_keys(exact, fast_rows)]
    if fast is not None:
        keys.insert(0, pa.table(
            {
                "conversation_id": fast.column("conversation_id"), "timestamp": fast.column("timestamp"),
                "version": fast.column("version"), "incremental": fast.column("incremental"), "kind": fast.column("kind"),
                "old_ttl": fast.column("old_ttl"), "image_ttl": fast.column("ttl"),
                "row_id": pc.subtract(pc.cumulative_sum(pc.fill_null(pa.nulls(fast_rows, pa.int64()), 1)), 1),
            }
        ))
    snapshot_micros = to_micros(latest_full.export_time - SNAPSHOT_TOLERANCE) if latest_full else None
    survivors = _resolve(pa.concat_tables(keys, promote_options="permissive"), snapshot_micros, counts)

    fast_winners = survivors.filter(pc.less(survivors, fast_rows))
    if len(fast_winners) == fast_rows:  # every version read columnar stands (no edits, no deletes)
        parts = [_rows_from_columns(fast)] if fast_rows else []
    else:
        parts = [_rows_from_columns(fast.take(fast_winners))] if len(fast_winners) else []
    rows: list[dict] = []
    quarantine: list[dict] = []
    for row_id in survivors.filter(pc.greater_equal(survivors, fast_rows)).to_pylist():
        winner = exact[row_id - fast_rows]
        try:
            rows.append(_to_row(winner))
        except (ValueError, BadTimestamp) as exc:
            counts["quarantined"] += 1
            quarantine.append(
                {
                    "day": day,
                    "conversation_id": winner.record.conversation_id,
                    "timestamp": winner.record.timestamp,
                    "export_id": winner.export_id,
                    "reason": str(exc),
                    "image": winner.record.image,
                }
            )
    quarantine.sort(key=lambda q: (q["conversation_id"], q["timestamp"]))
    parts.append(pa.Table.from_pylist(rows, schema=RAW_SCHEMA))
    table = pa.concat_tables(parts)
    table = table.take(pc.sort_indices(table, [("message_ts", "ascending"), ("conversation_id", "ascending"), ("timestamp", "ascending")]))
    counts["rows"] = table.num_rows
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

