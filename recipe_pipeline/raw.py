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
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from recipe_pipeline import lake as layout
from recipe_pipeline.columns import constant, give_back_memory, row_numbers
from recipe_pipeline.export_columns import CANDIDATE_SCHEMA, drawn_ahead, in_order_ahead, read_data_file
from recipe_pipeline.dynamodb_json import DynamoDBJSONError, deserialize_item, item_size, to_plain
from recipe_pipeline.export_index import BadTimestamp, item_day, load_or_build_export_index, parse_item_timestamp, write_export_index
from recipe_pipeline.exports import (DataFile, ExportError, ExportRecord, ExportStore, ExportSummary, MalformedLine, UnusableExport, image_ttl,
                                     image_user_id, parse_record, to_micros)
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.storage import Location, RollingParquetFiles
from recipe_pipeline.warehouse import bounded_duckdb, parquet_relation

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
    "export_records", "unique_items", "superseded_versions", "deleted", "deleted_by_snapshot", "deleted_by_ttl",
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
        return exports_cover_day(self.day, self.covered_until)


def exports_cover_day(day: str, covered_until: datetime | None) -> bool:
    """Whether the exports reflect every write of ``day`` (until its end)."""
    end = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
    return covered_until is not None and covered_until >= end


@dataclass
class _Candidate:
    record: ExportRecord
    export_id: str
    is_full: bool


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


def _to_row(candidate: _Candidate) -> dict:
    """Typed columns from a winning image; raises ValueError naming what is wrong."""
    try:
        decoded = deserialize_item(candidate.record.image or {})
    except DynamoDBJSONError as exc:
        raise ValueError(f"undecodable attribute: {exc}") from exc
    size = item_size(decoded)
    if size > MAX_ITEM_BYTES:
        raise ValueError(f"item is {size} bytes, over DynamoDB's 400 KB item limit")
    item = to_plain(decoded)
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
        # A legal number beyond int64 ("1E+30") is held at the bound, as resolving took it
        # (_exact_keys): still later (or earlier) than any instant, so expired or not alike.
        "ttl": _clamp(int(ttl)) if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) else None,
        "has_recipe": item.get("has_recipe") if isinstance(item.get("has_recipe"), bool) else None,
        "recipe_name": item.get("recipe_name") if isinstance(item.get("recipe_name"), str) else None,
        "extra_attributes": json.dumps(extra, sort_keys=True) if extra else None,
        "write_micros": candidate.record.version_micros,
        "source_export": candidate.export_id,
    }


# One ordering of an item's versions, newest first: the write time, then an incremental line
# (exact write time) before a snapshot, then the version read first (overlapping exports).
_RESOLVE_SQL = """
CREATE OR REPLACE TEMP TABLE versions AS
SELECT *,
    kind = 'delete' AND old_ttl IS NOT NULL AND old_ttl <= version // 1000000 AS ttl_expiry,
    version::HUGEINT * 8589934592 + incremental::HUGEINT * 4294967296 + (4294967295 - row_id) AS recency
FROM (
    SELECT conversation_id, "timestamp", version, incremental, kind, old_ttl, ttl AS image_ttl, row_id FROM columnar_versions
    UNION ALL
    SELECT conversation_id, "timestamp", version, incremental, kind, old_ttl, image_ttl, row_id FROM exact_versions
);

CREATE OR REPLACE TEMP TABLE items AS
SELECT conversation_id, "timestamp", count(*) AS versions,
    arg_max(row_id, recency) FILTER (WHERE NOT ttl_expiry) AS winner,
    max(recency) FILTER (WHERE NOT ttl_expiry) AS winner_recency
FROM versions GROUP BY conversation_id, "timestamp";

CREATE OR REPLACE TEMP TABLE winners AS
SELECT v.row_id, v.kind = 'delete' AS is_delete,
    v.kind <> 'delete' AND $snapshot IS NOT NULL AND v.version < $snapshot
        AND (v.image_ttl IS NULL OR v.image_ttl > $snapshot // 1000000) AS missing_from_snapshot,
    v.kind <> 'delete' AND $snapshot IS NOT NULL AND v.version < $snapshot
        AND v.image_ttl <= $snapshot // 1000000 AS expired_before_snapshot
FROM items i JOIN versions v ON v.row_id = i.winner;
"""
_COUNTS_SQL = """
SELECT
    (SELECT count(*) FROM items) AS unique_items,
    (SELECT coalesce(sum(versions - 1), 0) FROM items) AS superseded_versions,
    (SELECT count(*) FROM items WHERE winner IS NULL)
        + (SELECT count(*) FROM winners WHERE is_delete OR missing_from_snapshot) AS deleted,
    (SELECT count(*) FROM winners WHERE missing_from_snapshot) AS deleted_by_snapshot,
    -- Every version left is a TTL expiry: the exports that held the item have expired themselves.
    (SELECT count(*) FROM items WHERE winner IS NULL) AS deleted_by_ttl,
    -- TTL expiries newer than the version that stands (an older version stands: retention, not
    -- erasure), and items absent from a newer snapshot because their ttl had passed by then
    (SELECT count(*) FROM versions v JOIN items i USING (conversation_id, "timestamp")
        WHERE v.ttl_expiry AND (i.winner_recency IS NULL OR v.recency > i.winner_recency))
        + (SELECT count(*) FROM winners w JOIN versions v USING (row_id) WHERE w.expired_before_snapshot
            -- once per item: not when its TTL-expiry delete was already counted above
            AND NOT EXISTS (SELECT 1 FROM versions e WHERE e.conversation_id = v.conversation_id
                AND e."timestamp" = v."timestamp" AND e.ttl_expiry AND e.recency > v.recency)) AS ttl_expiries_ignored
"""
_RAW_COLUMNS = ", ".join(f'"{name}"' for name in RAW_SCHEMA.names)
_ROWS_SQL = f"""
SELECT {_RAW_COLUMNS} FROM (
    SELECT c.*, NULL::VARCHAR AS extra_attributes, c.version AS write_micros
    FROM columnar_versions c JOIN winners w USING (row_id)
    WHERE NOT w.is_delete AND NOT w.missing_from_snapshot
    UNION ALL BY NAME
    SELECT * FROM exact_rows
) ORDER BY message_ts, conversation_id, "timestamp"
"""

_INT64 = (-(2**63), 2**63 - 1)


def _clamp(value: int | None) -> int | None:
    return None if value is None else min(max(value, _INT64[0]), _INT64[1])


def _exact_keys(candidates: list[_Candidate], row_ids: list[int]) -> pa.Table:
    return pa.table(
        {
            "conversation_id": pa.array([c.record.conversation_id for c in candidates], pa.string()),
            "timestamp": pa.array([c.record.timestamp for c in candidates], pa.string()),
            "version": pa.array([c.record.version_micros for c in candidates], pa.int64()),
            "incremental": pa.array([not c.is_full for c in candidates], pa.bool_()),
            "kind": pa.array([c.record.kind for c in candidates], pa.string()),
            "old_ttl": pa.array([_clamp(c.record.old_ttl) for c in candidates], pa.int64()),
            "image_ttl": pa.array([_clamp(image_ttl(c.record.image)) for c in candidates], pa.int64()),
            "row_id": pa.array(row_ids, pa.int64()),
        }
    )


_UTC_SUFFIX = r"(Z|\+00:00)$"


def _typed_part(part: pa.Table, is_full: bool, export_id: str) -> pa.Table:
    """A file's rows for the day, as spilled for resolution (less ``row_id``): typed
    ``message_ts``, control characters out of the message, and the export."""
    rows = part.num_rows
    try:  # the usual case, every timestamp with its "Z" or "+00:00": Arrow casts it directly
        message_ts = pc.cast(part.column("timestamp"), pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:  # some without a zone (UTC too: STRICT_UTC_TIMESTAMP)
        naive = pc.replace_substring_regex(part.column("timestamp"), _UTC_SUFFIX, "")
        message_ts = pc.cast(pc.cast(naive, pa.timestamp("us")), pa.timestamp("us", tz="UTC"))
    message = part.column("message")
    if rows and pc.any(pc.match_substring_regex(message, _CONTROL.pattern)).as_py():
        message = pc.replace_substring_regex(message, _CONTROL.pattern, "")
    return (
        part.drop_columns(["line", "message"])
        .append_column("message", message)
        .append_column("message_ts", message_ts)
        .append_column("incremental", constant(rows, not is_full, pa.bool_()))
        .append_column("source_export", constant(rows, export_id, pa.string()))
    )


def _with_row_ids(part: pa.Table, first_row_id: int) -> pa.Table:
    """Row ids unique across the day, in reading order (the last tie-break between versions)."""
    return part.append_column("row_id", row_numbers(part.num_rows, first=first_row_id))


# Columns that repeat (dictionary-encoded in the spill); texts and keys would only pay for trying.
_SPILL_DICTIONARY_COLUMNS = ["kind", "user_id", "role", "metadata", "date_str", "recipe_name", "source_export"]
# DuckDB's share of memory for resolving a bucket; beyond it, it spills to the work directory.
RESOLVE_MEMORY_LIMIT = "384MB"
RESOLVE_THREADS = 1
BATCH_ROWS = 131_072
# Versions per time bucket of the day. Every version of an item shares the item's timestamp, so
# a bucket of whole minutes is resolved and sorted on its own, within DuckDB's memory, and the
# buckets in time order are the day in order. One sort of a whole 5M-message day spilled to disk
# and took 9 s; its keys alone sort in 1 s: the cost was moving wide rows through the spill.
BUCKET_ROWS = 200_000
# A spill file is open per bucket while files are read: stay well inside the usual 1,024 open
# files. Beyond 256 x BUCKET_ROWS versions a day, buckets grow and DuckDB spills within them.
MAX_BUCKETS = 256
_MINUTES_PER_DAY = 1440


@dataclass
class RawDayStream:
    """A resolved day whose rows arrive as sorted record batches (``RAW_SCHEMA``), so a day of
    any size passes through bounded memory. ``counts`` and ``quarantine`` fill in as buckets are
    resolved: they are final once ``batches`` is exhausted."""

    day: str
    batches: Iterator[pa.RecordBatch]
    exports_read: list[str]
    counts: dict[str, int]
    quarantine: list[dict]
    covered_until: datetime | None
    # user id -> items deleted because the newest snapshot lacks them (``deleted_by_snapshot``):
    # an erased user's are erasures, the snapshot's copy cut by day having lost them.
    snapshot_absent_users: Counter = field(default_factory=Counter)
    # export id -> the day's records read from it (``export_records`` by export): forget-user
    # tells by it whether a day read a full export's cut before or after it took a user out.
    export_records_by_export: dict[str, int] = field(default_factory=dict)
    # export id -> why it cannot be used: completed exports left out, none of which holds the day
    exports_left_out: dict[str, str] = field(default_factory=dict)


def _quarantined(day: str, candidate: _Candidate, reason: str) -> dict:
    record = candidate.record
    return {"day": day, "conversation_id": record.conversation_id, "timestamp": record.timestamp,
            "export_id": candidate.export_id, "reason": reason, "image": record.image}


def _conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([batch.column(i).cast(f.type) for i, f in enumerate(RAW_SCHEMA)], schema=RAW_SCHEMA)


def bucket_count(expected_versions: int, bucket_rows: int = BUCKET_ROWS) -> int:
    """How many time buckets a day of ``expected_versions`` is resolved in (whole minutes each)."""
    return max(1, min(MAX_BUCKETS, -(-expected_versions // bucket_rows)))


# Row groups a spill file takes before it is closed and the bucket goes on in a new one. An open
# writer holds every row group's metadata, about 12 KB with these 17 columns: a file per bucket
# held 50 MB of it at 10M messages (50 buckets x 80 data files), and would hold 1.2 GB at 50M.
ROW_GROUPS_PER_SPILL_FILE = 16


class _BucketSpill:
    """The day's columnar versions on local disk, by time bucket, so each bucket is read back
    alone: a row group per data file read, in a bucket's Parquet files."""

    def __init__(self, work: str, day: str, buckets: int):
        self.buckets = buckets
        self._day_start_micros = to_micros(datetime.fromisoformat(day).replace(tzinfo=UTC))
        # No statistics: nothing filters the spill, and a writer holds them (min/max of long
        # messages) with the rest of every row group's metadata until it closes.
        self._files = RollingParquetFiles(
            lambda bucket, part: os.path.join(work, f"bucket-{bucket:04d}-{part:05d}.parquet"),
            row_groups_per_file=ROW_GROUPS_PER_SPILL_FILE, max_open=MAX_BUCKETS,
            compression="lz4", use_dictionary=_SPILL_DICTIONARY_COLUMNS, write_statistics=False)

    def __enter__(self) -> _BucketSpill:
        return self

    def __exit__(self, *exc_info) -> None:
        self._files.close()

    def buckets_of(self, message_ts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """Each instant's bucket: its minute of the day, scaled to the bucket count. The one rule
        for rows read both ways, so every version of an item lands in the same bucket."""
        micros = pc.subtract(pc.cast(message_ts, pa.int64()), self._day_start_micros)
        minutes = pc.max_element_wise(pc.min_element_wise(pc.divide(micros, 60_000_000), _MINUTES_PER_DAY - 1), 0)
        return pc.divide(pc.multiply(minutes, self.buckets), _MINUTES_PER_DAY)

    def paths(self, bucket: int) -> list[str]:
        """The bucket's spill files (none if no columnar version fell in it)."""
        return self._files.files.get(bucket, [])

    def write(self, part: pa.Table) -> None:
        if self.buckets == 1:
            self._files.write(0, part)
            return
        bucket = self.buckets_of(part.column("message_ts"))
        for number in pc.unique(bucket).to_pylist():
            self._files.write(number, part.filter(pc.equal(bucket, number)))


@dataclass(frozen=True)
class _DayRows:
    """One row group of a full export's rows of the day (``lake.export_day_file``)."""

    path: str
    row_group: int


@dataclass(frozen=True)
class _DayLines:
    """A full export's lines of the day that take the exact path."""

    path: str


def _day_sources(store: ExportStore, lake: Location, summary: ExportSummary, index, day: str) -> list[DataFile | _DayRows | _DayLines]:
    """What to read for ``day`` from one export: the day's own files if its index cut it by day
    (a full export; none if they are gone), else every data file."""
    if not index.day_files:
        return store.data_files(summary)
    sources: list[DataFile | _DayRows | _DayLines] = []
    files = lake.list_files(layout.export_day_dir(summary.export_id, day))  # in order: lines-…, rows-…
    for path in (p for p in files if p.rsplit("/", 1)[1].startswith("rows-")):
        sources += [_DayRows(path, group) for group in range(lake.parquet_file(path).num_row_groups)]
    sources += [_DayLines(path) for path in files if path.rsplit("/", 1)[1].startswith("lines-")]
    return sources


def _unusable_exports_holding(day: str, summaries: list[ExportSummary], unusable: list[UnusableExport]) -> list[UnusableExport]:
    """The unusable exports that may hold versions of ``day``'s items: every one that reflects
    writes from shortly before the day began (an item is written at its own timestamp, give or
    take clocks) or does not say until when, unless a usable full export taken since reflects
    all it does."""
    day_start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    snapshot = max((s.export_time for s in summaries if s.is_full), default=None)

    def may_hold(export: UnusableExport) -> bool:
        if export.covered_until is None:
            return True
        if export.covered_until <= day_start - SNAPSHOT_TOLERANCE:
            return False
        return snapshot is None or export.covered_until > snapshot

    return [export for export in unusable if may_hold(export)]


def _usable_exports_for(store: ExportStore, day: str) -> tuple[list[ExportSummary], dict[str, str]]:
    """The completed exports to read for ``day``, and those left out (none of which can hold
    the day); raises ``ExportError`` naming an unusable export that may hold it, rather than
    build the day without it."""
    summaries, unusable = store.completed_and_unusable()
    needed = _unusable_exports_holding(day, summaries, unusable)
    if needed:
        first, others = needed[0].error, [export.error.export_id for export in needed[1:]]
        raise ExportError(first.export_id, first.file, f"{first.problem}; it may hold items of {day}, which is not built without it "
                          "(re-export it as DYNAMODB_JSON, or move it out of the exports location)"
                          + (f"; so may {', '.join(others)}" if others else ""))
    return summaries, {export.error.export_id: export.error.problem for export in unusable}


@contextmanager
def resolve_raw_day(store: ExportStore, lake: Location, day: str, *, columnar: bool = True, batch_rows: int = BATCH_ROWS,
                    bucket_rows: int = BUCKET_ROWS, pseudonymizer: Pseudonymizer | None = None) -> Iterator[RawDayStream]:
    """Resolve every version of the day's items across all completed exports.

    A full export's items of the day come from its copy cut by day (``export_index``); other
    data files are read columnar (``export_columns``, ``PARALLEL_FILES`` ahead), and the day's rows spilled
    to a work directory by time bucket; lines that need it, and every line when ``columnar`` is
    False, take the exact line-by-line path. DuckDB resolves the versions and sorts the day a
    bucket at a time within ``RESOLVE_MEMORY_LIMIT``. Both paths, and any number of buckets, give
    the same day. Consume ``batches`` inside the block."""
    summaries, left_out = _usable_exports_for(store, day)
    latest_full = max((s for s in summaries if s.is_full), key=lambda s: s.export_time, default=None)
    exact: list[_Candidate] = []
    exports_read: list[str] = []
    counts = {name: 0 for name in COUNT_NAMES}
    with tempfile.TemporaryDirectory(prefix=f"raw-{day}-") as work:
        files = []
        expected_versions = 0
        keyed = (lambda: pseudonymizer) if pseudonymizer else None
        for summary in summaries:
            index = load_or_build_export_index(store, lake, summary, columnar=columnar, pseudonymizer=keyed)
            if day not in index.days:
                continue
            # The exact path reads the exports themselves, line by line: the reference.
            sources = _day_sources(store, lake, summary, index, day) if columnar else store.data_files(summary)
            if not sources:  # its copy cut by day is gone (deleted by hand, or expired): cut again
                index = write_export_index(store, lake, summary, pseudonymizer=keyed)
                sources = _day_sources(store, lake, summary, index, day)
            exports_read.append(summary.export_id)
            expected_versions += index.days.get(day, 0)
            files += [(summary, source) for source in sources]

        def day_part(file: tuple[ExportSummary, DataFile | _DayRows | _DayLines]) -> tuple[ExportSummary, pa.Table, list[tuple[int, bytes]]]:
            summary, source = file
            if isinstance(source, _DayRows):  # already the day's, as read columnar
                part = lake.parquet_file(source.path).read_row_group(source.row_group)
                return summary, _typed_part(part, summary.is_full, summary.export_id), []
            if isinstance(source, _DayLines):
                lines = lake.read_parquet(source.path)
                empty = _typed_part(CANDIDATE_SCHEMA.empty_table(), summary.is_full, summary.export_id)
                return summary, empty, list(zip(lines.column("line_number").to_pylist(), lines.column("line").to_pylist()))
            read = read_data_file(store, summary, source, columnar=columnar)
            # Columnar rows have plain UTC timestamps: their day is their first ten characters.
            in_day = pc.starts_with(read.table.column("timestamp"), day)
            part = read.table if pc.all(in_day).as_py() else read.table.filter(in_day)
            return summary, _typed_part(part, summary.is_full, summary.export_id), read.exact_lines

        spilled = 0
        by_export: Counter[str] = Counter()
        with _BucketSpill(work, day, bucket_count(expected_versions, bucket_rows)) as spill:
            for summary, part, exact_lines in in_order_ahead(day_part, files):
                if part.num_rows:
                    spill.write(_with_row_ids(part, spilled))
                    spilled += part.num_rows
                    by_export[summary.export_id] += part.num_rows
                for _, line in exact_lines:
                    try:
                        record = parse_record(line, summary)
                        if item_day(record.timestamp) != day:
                            continue
                    except (MalformedLine, BadTimestamp):
                        continue  # quarantined (and counted) by the export index
                    exact.append(_Candidate(record, summary.export_id, summary.is_full))
                    by_export[summary.export_id] += 1
                del part, exact_lines
        exact_ts = pa.array([parse_item_timestamp(c.record.timestamp) for c in exact], pa.timestamp("us", tz="UTC"))
        exact_buckets = spill.buckets_of(exact_ts).to_pylist()
        counts["export_records"] = spilled + len(exact)
        give_back_memory()  # what reading freed, before DuckDB takes its share

        quarantine: list[dict] = []
        stream = RawDayStream(day, iter(()), exports_read, counts, quarantine, coverage(summaries),
                              export_records_by_export={export_id: by_export[export_id] for export_id in exports_read},
                              exports_left_out=left_out)
        # One thread: a bucket is sorted with every thread's buffers inside the limit, and the
        # Parquet writer's thread takes the other core (two measured within noise of one).
        with bounded_duckdb(RESOLVE_MEMORY_LIMIT, os.path.join(work, "duckdb"), threads=RESOLVE_THREADS) as con:
            snapshot_micros = to_micros(latest_full.export_time - SNAPSHOT_TOLERANCE) if latest_full else None
            stream.batches = _resolved_batches(con, stream, spill, exact, exact_buckets, spilled, snapshot_micros, batch_rows)
            try:
                yield stream
            finally:  # left early or failing: a bucket's resolve under way ends before the connection
                stream.batches.close()


@dataclass
class _BucketTally:
    """What one resolved time bucket adds to the day's counts and quarantine."""

    counts: dict[str, int]
    quarantine: list[dict]
    snapshot_absent_users: Counter


def _resolve_bucket(con: duckdb.DuckDBPyConnection, day: str, paths: list[str], exact: list[_Candidate], positions: list[int],
                    spilled: int, snapshot_micros: int | None, batch_rows: int) -> Iterator[_BucketTally | pa.RecordBatch]:
    """The newest version of each item of one bucket wins: the bucket's tally, then the winners
    in time order, in batches (DuckDB sorts within its memory limit, spilling if it must)."""
    con.execute(f"CREATE OR REPLACE VIEW columnar_versions AS SELECT * FROM {parquet_relation(paths) if paths else 'no_columnar_versions'}")
    con.register("exact_versions", _exact_keys([exact[p] for p in positions], [spilled + p for p in positions]))
    con.execute(_RESOLVE_SQL, {"snapshot": snapshot_micros})
    counts = {name: int(value) for name, value in con.sql(_COUNTS_SQL).to_arrow_table().to_pylist()[0].items()}

    # Versions read line by line are decoded exactly; what cannot be read is quarantined.
    exact_winners = con.sql(
        f"SELECT row_id FROM winners WHERE NOT is_delete AND NOT missing_from_snapshot AND row_id >= {spilled} ORDER BY row_id"
    ).to_arrow_table().column("row_id").to_pylist()
    rows: list[dict] = []
    quarantine: list[dict] = []
    for row_id in exact_winners:
        winner = exact[row_id - spilled]
        try:
            rows.append(_to_row(winner))
        except (ValueError, BadTimestamp) as exc:
            quarantine.append(_quarantined(day, winner, str(exc)))
    yield _BucketTally(counts, quarantine, _snapshot_absent_users(con, exact, spilled) if counts["deleted_by_snapshot"] else Counter())
    con.register("exact_rows", pa.Table.from_pylist(rows, schema=RAW_SCHEMA))
    with closing(con.sql(_ROWS_SQL).to_arrow_reader(batch_rows)) as reader:
        yield from reader


def _snapshot_absent_users(con: duckdb.DuckDBPyConnection, exact: list[_Candidate], spilled: int) -> Counter:
    """The bucket's items missing from the newest snapshot, by user id (a null one for an image
    without a user id)."""
    absent = Counter({row["user_id"]: row["items"] for row in con.sql(
        "SELECT c.user_id, count(*) AS items FROM winners w JOIN columnar_versions c USING (row_id)"
        " WHERE w.missing_from_snapshot GROUP BY c.user_id").to_arrow_table().to_pylist()})
    exact_absent = con.sql(f"SELECT row_id FROM winners WHERE missing_from_snapshot AND row_id >= {spilled}").to_arrow_table()
    absent.update(image_user_id(exact[row_id - spilled].record.image) for row_id in exact_absent.column("row_id").to_pylist())
    return absent


# Batches a bucket's resolve may run ahead of the caller: two reach past a 200,000-version bucket,
# so the next bucket is resolved while the caller writes this one.
RESOLVED_BATCHES_AHEAD = 2


def _resolved_batches(con: duckdb.DuckDBPyConnection, stream: RawDayStream, spill: _BucketSpill, exact: list[_Candidate], exact_buckets: list[int],
                      spilled: int, snapshot_micros: int | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Each time bucket resolved and sorted, in order; ``stream.counts`` and ``stream.quarantine``
    gather every bucket's. DuckDB works on a thread of its own, a few batches ahead of the caller:
    the next bucket is resolved while the caller writes this one, in bounded memory however large
    a bucket is (a burst of messages in one minute)."""
    con.register("no_columnar_versions", _with_row_ids(_typed_part(CANDIDATE_SCHEMA.empty_table(), True, ""), 0))
    exact_by_bucket: dict[int, list[int]] = {}
    for position, bucket in enumerate(exact_buckets):
        exact_by_bucket.setdefault(bucket, []).append(position)

    def resolved() -> Iterator[_BucketTally | pa.RecordBatch]:  # on the worker thread: the only user of ``con``
        for bucket in range(spill.buckets):
            paths, positions = spill.paths(bucket), exact_by_bucket.get(bucket, [])
            if paths or positions:
                yield from _resolve_bucket(con, stream.day, paths, exact, positions, spilled, snapshot_micros, batch_rows)

    with closing(drawn_ahead(resolved(), RESOLVED_BATCHES_AHEAD)) as entries:
        for entry in entries:
            if isinstance(entry, _BucketTally):
                for name, value in entry.counts.items():
                    stream.counts[name] += value
                stream.quarantine += entry.quarantine
                stream.snapshot_absent_users.update(entry.snapshot_absent_users)
            else:
                yield _conform(entry)
    stream.quarantine.sort(key=lambda q: (q["conversation_id"], q["timestamp"]))
    stream.counts["quarantined"] = len(stream.quarantine)
    stream.counts["rows"] = stream.counts["unique_items"] - stream.counts["deleted"] - stream.counts["quarantined"]


def build_raw_day(store: ExportStore, lake: Location, day: str, *, columnar: bool = True, bucket_rows: int = BUCKET_ROWS) -> RawDay:
    """The whole resolved day in memory (see ``resolve_raw_day``; the asset streams it instead)."""
    with resolve_raw_day(store, lake, day, columnar=columnar, bucket_rows=bucket_rows) as stream:
        table = pa.Table.from_batches(list(stream.batches), schema=RAW_SCHEMA)
    return RawDay(day, table, stream.exports_read, stream.counts, stream.quarantine, stream.covered_until)


def without_erased_users(rows: pa.Table | pa.RecordBatch, erased: set[str], pseudonymizer: Pseudonymizer):
    """``rows`` less those of erased users (matched by pseudonym), and how many were removed."""
    if not erased or not rows.num_rows:
        return rows, 0
    keep = pc.invert(pc.is_in(pseudonymizer.pseudonym_column(rows.column("user_id")), pa.array(sorted(erased), pa.string())))
    kept = rows.filter(keep)
    return kept, rows.num_rows - kept.num_rows


def _is_erased(user_id: str | None, erased: set[str], pseudonymizer: Pseudonymizer) -> bool:
    return bool(erased) and user_id is not None and pseudonymizer.pseudonym(user_id) in erased


def _count_erased_as_absent(absent: Counter, erased: set[str], pseudonymizer: Pseudonymizer, counts: dict) -> None:
    """Items missing from the snapshot whose user is erased count as erased, not deleted:
    forget-user took them out of the snapshot's copy cut by day, and an older version remains
    elsewhere. An item the user had deleted before the snapshot cannot be told apart from one,
    and is counted as erased too (an erased user's items are gone either way)."""
    for user_id, items in absent.items():
        if _is_erased(user_id, erased, pseudonymizer):
            counts["deleted"] -= items
            counts["deleted_by_snapshot"] -= items
            counts["erased"] = counts.get("erased", 0) + items


def _quarantine_without_erased(quarantine: list[dict], erased: set[str], pseudonymizer: Pseudonymizer, counts: dict) -> list[dict]:
    kept = []
    for entry in quarantine:
        if _is_erased(image_user_id(entry.get("image")), erased, pseudonymizer):
            counts["quarantined"] -= 1
            counts["erased"] = counts.get("erased", 0) + 1
        else:
            kept.append(entry)
    return kept


@dataclass
class RawDaySummary:
    """What the ingestion asset reports of a day it wrote (aggregates only: restricted zone)."""

    day: str
    exports_read: list[str]
    counts: dict[str, int]
    quarantine: list[dict]
    covered_until: datetime | None
    messages_by_role: Counter
    exports_left_out: dict[str, str] = field(default_factory=dict)  # export id -> why it cannot be used

    @property
    def exports_cover_day(self) -> bool:
        return exports_cover_day(self.day, self.covered_until)


def write_raw_day(store: ExportStore, lake: Location, day: str, erased: set[str], pseudonymizer: Pseudonymizer) -> RawDaySummary:
    """Resolve the day, leave out erased users, and stream it to the day's raw Parquet file
    (replaced whole, atomically) with its provenance in the footer, batch by batch."""
    by_role: Counter[str] = Counter()
    erased_rows = 0
    with resolve_raw_day(store, lake, day, pseudonymizer=pseudonymizer) as stream, lake.open_parquet_writer(RAW_SCHEMA, layout.raw_conversations_path(day)) as writer:
        for batch in stream.batches:
            batch, removed = without_erased_users(batch, erased, pseudonymizer)
            erased_rows += removed
            writer.write(batch)
            by_role.update({v["values"]: v["counts"] for v in pc.value_counts(batch.column("role")).to_pylist()} if batch.num_rows else {})
        counts = dict(stream.counts)  # final now that every bucket is resolved
        counts["erased"] = counts.get("erased", 0) + erased_rows
        _count_erased_as_absent(stream.snapshot_absent_users, erased, pseudonymizer, counts)
        quarantine = _quarantine_without_erased(stream.quarantine, erased, pseudonymizer, counts)
        counts["rows"] = writer.rows
        summary = RawDaySummary(day, stream.exports_read, counts, quarantine, stream.covered_until, by_role, stream.exports_left_out)
        provenance = {"partition": day, "exports": summary.exports_read, "counts": counts,
                      "export_records_by_export": stream.export_records_by_export,
                      "covered_until": summary.covered_until.isoformat() if summary.covered_until else None,
                      "exports_cover_day": summary.exports_cover_day}
        writer.add_metadata(layout.provenance_metadata(provenance))
    give_back_memory()
    return summary


def write_day_quarantine(lake: Location, day: str, quarantine: list[dict]) -> None:
    """The day's quarantined items as JSON lines; a day with none has no file (a re-run that
    reads cleanly leaves no stale quarantine)."""
    path = layout.day_quarantine_path(day)
    if quarantine:
        lake.write_bytes(b"".join(json.dumps(q, sort_keys=True).encode() + b"\n" for q in quarantine), path)
    else:
        lake.delete(path)


def write_raw_day_and_quarantine(store: ExportStore, lake: Location, day: str, pseudonymizer: Pseudonymizer) -> RawDaySummary:
    """The day's raw file and quarantine, without any user erased by the time both are written
    (written again if one is erased meanwhile: ``layout.write_as_of_erasures``)."""

    def write(erased: set[str]) -> RawDaySummary:
        summary = write_raw_day(store, lake, day, erased, pseudonymizer)
        write_day_quarantine(lake, day, summary.quarantine)
        return summary

    return layout.write_as_of_erasures(lake, write)
