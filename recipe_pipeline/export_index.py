"""Which UTC days each export touches, by each item's own ``timestamp``.

Built once per export (exports never change once complete) and kept in the restricted zone at
``raw/export_index/<ExportId>.json`` by the ``dynamodb_export_index`` asset, in a run of its own.
The sensor uses it to request exactly the partitions an export touches, including older days that
an incremental export updates or deletes; the ``raw_conversations`` asset uses it to read only the
exports that hold its day (and builds it, if no run has yet). Building it reads
every data file once, verifying checksums, and quarantines lines that cannot belong to any day,
except those of users erased with ``forget-user``: an index built after an erasure (a new export,
or one re-indexed) would otherwise put their raw text back into quarantine.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from recipe_pipeline import lake as layout
from recipe_pipeline.columns import give_back_memory
from recipe_pipeline.export_columns import CANDIDATE_SCHEMA, read_data_file
from recipe_pipeline.exports import ExportRecord, ExportStore, ExportSummary, MalformedLine, image_user_id, parse_record
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.storage import Location, RollingParquetFiles

# 2: items whose timestamp is no real instant (2025-02-30, T25:00) are quarantined; version 1
# counted them under their first ten characters and cut them into day files.
INDEX_VERSION = 2


class BadTimestamp(ValueError):
    pass


def parse_item_timestamp(value: str) -> datetime:
    """An item's ``timestamp`` as a UTC datetime. The app writes the seed's naive
    ``datetime.utcnow().isoformat()`` (UTC by convention) or RFC 3339 with ``Z``/an offset."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise BadTimestamp(f"timestamp is not ISO 8601: {value!r:.60}") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def item_day(timestamp: str) -> str:
    """The UTC day (partition key) of an item's ``timestamp``."""
    return parse_item_timestamp(timestamp).date().isoformat()


def is_ttl_expiry(record: ExportRecord) -> bool:
    """DynamoDB's TTL deleting the item, not an erasure: the raw step's test (``raw._RESOLVE_SQL``)."""
    return record.kind == "delete" and record.old_ttl is not None and record.old_ttl <= record.version_micros // 1_000_000


def _ttl_expiry_rows(table: pa.Table) -> pa.Array:
    """``is_ttl_expiry`` of each columnar row."""
    expired = pc.less_equal(table.column("old_ttl"), pc.divide(table.column("version"), 1_000_000))
    return pc.fill_null(pc.and_(pc.equal(table.column("kind"), "delete"), expired), False)


@dataclass
class ExportIndex:
    export_id: str
    export_type: str
    covered_until: str
    days: dict[str, int] = field(default_factory=dict)
    items: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    erased: int = 0  # an erased user's: unreadable lines not quarantined, a full export's items not in its day files
    day_files: bool = False  # a full export: its items are also in the lake cut by day
    # Of ``days``, the TTL expiries (deletes whose old image's ttl had passed): they need no run,
    # the lake's retention handles them. Counted in ``days`` still: a day's run reads them.
    ttl_expiries: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps({"version": INDEX_VERSION, **self.__dict__}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes) -> ExportIndex | None:
        doc = json.loads(body)
        if doc.pop("version", None) != INDEX_VERSION:
            return None
        return cls(**doc)


class ErasedUsers:
    """Recognises erased users (pseudonyms in the erasure registry) in lines no reader can parse.

    Such a line has no ``user_id`` to read, so every quoted piece of it is tried, as forget-user
    tries the id as a JSON string: a line holding an erased id anywhere is left out. The
    pseudonymizer is asked for only when there is a line to test (the key may be a secret to
    fetch), and a registry without one is an error rather than a line let through."""

    def __init__(self, pseudonyms: set[str], pseudonymizer: Callable[[], Pseudonymizer] | None) -> None:
        self.pseudonyms = pseudonyms
        self._provider = pseudonymizer
        self._pseudonymizer: Pseudonymizer | None = None

    def _keyed(self) -> Pseudonymizer:
        if self._pseudonymizer is None:
            if self._provider is None:
                raise ValueError("users have been erased (raw/erasures/): indexing an export needs the pseudonym key to leave theirs out")
            self._pseudonymizer = self._provider()
        return self._pseudonymizer

    def rows_of(self, user_ids: pa.ChunkedArray | pa.Array) -> pa.Array | None:
        """Which of these rows are an erased user's (None: no user has been erased)."""
        if not self.pseudonyms:
            return None
        pseudonyms = self._keyed().pseudonym_column(pc.fill_null(user_ids, ""))
        return pc.is_in(pseudonyms, pa.array(sorted(self.pseudonyms), pa.string()))

    def holds(self, user_id: str | None) -> bool:
        return bool(self.pseudonyms) and user_id is not None and self._keyed().pseudonym(user_id) in self.pseudonyms

    def in_line(self, line: bytes) -> bool:
        if not self.pseudonyms:
            return False
        for piece in line.split(b'"')[1:-1]:  # every substring between two quotes
            text = piece.decode("utf-8", errors="replace")
            candidates = {text}
            try:
                candidates.add(json.loads(f'"{text}"'))  # \u escapes, as json.dumps writes them
            except ValueError:
                pass
            if any(self._keyed().pseudonym(candidate) in self.pseudonyms for candidate in candidates):
                return True
        return False


LINES_SCHEMA = pa.schema([("line_number", pa.int64()), ("line", pa.binary())])
DAY_FILE_ROW_GROUP = 65_536  # rows a day's row group gathers before it is written
DAY_FILE_BUFFER_BYTES = 128 * 2**20  # rows waiting across all days; the largest go out beyond it
ROW_GROUPS_PER_DAY_FILE = 32  # then a day goes on in a new file
OPEN_DAY_FILES = 256  # at most, per kind: beyond it the longest open goes (an export of years)


class _DayCut:
    """Tables cut by day into local Parquet files, in the order they are added.

    A day's rows wait until they make a row group of ``DAY_FILE_ROW_GROUP``, and all that waits
    stays within ``DAY_FILE_BUFFER_BYTES``: beyond it, the days with the most waiting go out
    first, in smaller row groups. A day goes on in a new file every ``ROW_GROUPS_PER_DAY_FILE``
    row groups, and at most ``OPEN_DAY_FILES`` files are open (``RollingParquetFiles``): memory
    and file handles stay flat however many days and data files the export has."""

    def __init__(self, work: str, schema: pa.Schema, kind: str) -> None:
        self.kind = kind
        self._pending: dict[str, list[pa.Table]] = {}
        self._pending_rows: Counter[str] = Counter()
        self._pending_bytes: Counter[str] = Counter()
        self._files = RollingParquetFiles(
            lambda day, part: os.path.join(work, f"{day}-{kind}-{part:05d}.parquet"),
            row_groups_per_file=ROW_GROUPS_PER_DAY_FILE, max_open=OPEN_DAY_FILES, row_group_rows=DAY_FILE_ROW_GROUP,
            schema=schema, compression="zstd", write_statistics=False)

    def add(self, day: str, table: pa.Table) -> None:
        """``table`` is the day's, and owns its buffers (a slice would keep its parent alive)."""
        if not table.num_rows:
            return
        self._pending.setdefault(day, []).append(table)
        self._pending_rows[day] += table.num_rows
        self._pending_bytes[day] += table.nbytes
        if self._pending_rows[day] >= DAY_FILE_ROW_GROUP:
            self._flush(day)
        while self._pending_bytes.total() > DAY_FILE_BUFFER_BYTES:
            self._flush(self._pending_bytes.most_common(1)[0][0])

    def _flush(self, day: str) -> None:
        table = pa.concat_tables(self._pending.pop(day))
        del self._pending_rows[day], self._pending_bytes[day]
        for offset in range(0, table.num_rows, DAY_FILE_ROW_GROUP):
            self._files.write(day, table.slice(offset, DAY_FILE_ROW_GROUP))

    def abandon(self) -> None:
        self._files.close()
        self._pending.clear()

    def close(self) -> dict[str, list[str]]:
        """Every day's local files, complete."""
        for day in list(self._pending):
            self._flush(day)
        self.abandon()
        return self._files.files


class _DayFiles:
    """A full export's items cut by day (``lake.export_day_file``): the columnar rows, and the
    lines left to the exact path. Staged on local disk while the export is read; put in the lake
    once all of it has been read, before the index that says they are there."""

    def __init__(self, lake: Location, export_id: str) -> None:
        self.lake, self.export_id = lake, export_id
        self._work = tempfile.TemporaryDirectory(prefix=f"export-days-{export_id}-")
        self.rows = _DayCut(self._work.name, CANDIDATE_SCHEMA, "rows")
        self.lines = _DayCut(self._work.name, LINES_SCHEMA, "lines")

    def add_rows(self, table: pa.Table, day_of_row: pa.Array | pa.ChunkedArray) -> None:
        """A data file's columnar rows, and each one's day."""
        if not table.num_rows:
            return
        order = pc.sort_indices(day_of_row)  # stable: a day keeps the file's order
        offset = 0
        for entry in pc.value_counts(day_of_row.take(order)).to_pylist():  # the days, in sorted order
            self.rows.add(entry["values"], table.take(order.slice(offset, entry["counts"])))  # a copy of the day's rows
            offset += entry["counts"]

    def add_lines(self, day: str, lines: list[tuple[int, bytes]]) -> None:
        self.lines.add(day, pa.table({"line_number": [n for n, _ in lines], "line": [line for _, line in lines]}, schema=LINES_SCHEMA))

    def put_in_lake(self) -> None:
        # Each file replaced whole, and an earlier build's others removed after: a run reading
        # the export meanwhile (or building the same index) never finds a day half there.
        try:
            written = set()
            for cut in (self.rows, self.lines):
                for day, paths in cut.close().items():
                    for part, local in enumerate(paths):
                        path = layout.export_day_file(self.export_id, day, cut.kind, part)
                        self.lake.put_file(local, path)
                        written.add(path)
            for path in set(self.lake.list_files(layout.EXPORT_DAYS, self.export_id, recursive=True)) - written:
                if not path.rsplit("/", 1)[1].startswith("."):  # another writer's file in progress
                    self.lake.delete(path)
        finally:
            self._work.cleanup()

    def discard(self) -> None:
        self.rows.abandon(), self.lines.abandon()
        self._work.cleanup()


def build_export_index(store: ExportStore, lake: Location, summary: ExportSummary, *, columnar: bool = True,
                       pseudonymizer: Callable[[], Pseudonymizer] | None = None, cut_by_day: bool | None = None) -> ExportIndex:
    """Read the whole export once; count items per day; quarantine unattributable lines, except
    erased users' (``pseudonymizer`` gives the key to recognise them, needed once any exist); cut
    a full export by day (``cut_by_day``, by default for full exports only). A user erased while
    the export is read has it read again (``layout.write_as_of_erasures``): forget-user finds
    nothing of this build's to clean."""
    return layout.write_as_of_erasures(
        lake, lambda erased: _build_export_index(store, lake, summary, ErasedUsers(erased, pseudonymizer), columnar, cut_by_day))


def _build_export_index(store: ExportStore, lake: Location, summary: ExportSummary, erased_users: ErasedUsers, columnar: bool,
                        cut_by_day: bool | None) -> ExportIndex:
    days: Counter[str] = Counter()
    ttl_expiries: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    items = erased = 0
    # A full export holds every day the table still has (90 days of TTL): without a copy cut by
    # day, each of those days' runs would read all of it.
    day_files = _DayFiles(lake, summary.export_id) if (summary.is_full if cut_by_day is None else cut_by_day) else None
    try:
        for data_file in store.data_files(summary):
            file_items, file_erased = _index_data_file(store, lake, summary, data_file, columnar, days, ttl_expiries, reasons, day_files,
                                                       erased_users)
            items, erased = items + file_items, erased + file_erased
        if day_files is not None:
            day_files.put_in_lake()
    except BaseException:
        if day_files is not None:
            day_files.discard()
        raise
    # Whatever the process does next (a day's run builds an index it finds missing), it should
    # not do it beside the parse's memory (190 MB after a 1M-message export).
    give_back_memory()
    return ExportIndex(
        export_id=summary.export_id,
        export_type=summary.export_type,
        covered_until=summary.covered_until.isoformat(),
        days=dict(sorted(days.items())),
        items=items,
        quarantined=sum(reasons.values()),
        quarantine_reasons=dict(reasons),
        erased=erased,
        day_files=day_files is not None,
        ttl_expiries=dict(sorted(ttl_expiries.items())),
    )


def _index_data_file(store: ExportStore, lake: Location, summary: ExportSummary, data_file, columnar: bool, days: Counter,
                     ttl_expiries: Counter, reasons: Counter, day_files: _DayFiles | None, erased_users: ErasedUsers) -> tuple[int, int]:
    """Count one data file's items per day, quarantine its lines that belong to no day, and add
    its items to ``day_files``; returns how many items it holds, and how many were left out as an
    erased user's: unreadable lines, and in a full export, items the days are cut without (the
    days count what their files hold; an incremental export's day leaves them out as it reads)."""
    file = read_data_file(store, summary, data_file, columnar=columnar)
    items, erased = file.table.num_rows + len(file.exact_lines), 0
    table = file.table
    if day_files is not None:
        erased_rows = erased_users.rows_of(table.column("user_id"))
        if erased_rows is not None and pc.any(erased_rows).as_py():
            erased += pc.sum(erased_rows).as_py()
            table = table.filter(pc.invert(erased_rows))
    # Columnar rows have plain UTC timestamps of real instants: the day is the first ten characters.
    day_of_row = pc.utf8_slice_codeunits(table.column("timestamp"), 0, 10)
    for entry in pc.value_counts(day_of_row).to_pylist():
        days[entry["values"]] += entry["counts"]
    if not summary.is_full:
        for entry in pc.value_counts(day_of_row.filter(_ttl_expiry_rows(table))).to_pylist():
            ttl_expiries[entry["values"]] += entry["counts"]
    if day_files is not None:
        day_files.add_rows(table, day_of_row)
    del table, day_of_row
    quarantined_lines = []
    lines_by_day: dict[str, list[tuple[int, bytes]]] = {}
    for number, line in file.exact_lines:
        try:
            record = parse_record(line, summary)
            day = item_day(record.timestamp)
            if day_files is not None and erased_users.holds(image_user_id(record.image)):
                erased += 1
                continue
            days[day] += 1
            if is_ttl_expiry(record):
                ttl_expiries[day] += 1
            lines_by_day.setdefault(day, []).append((number, line))
        except (MalformedLine, BadTimestamp) as exc:
            if erased_users.in_line(line):
                erased += 1
                continue
            reasons[str(exc).split(":")[0]] += 1
            quarantined_lines.append(
                {
                    "export_id": summary.export_id,
                    "data_file": data_file.key,
                    "line_number": number,
                    "reason": str(exc),
                    "line": line.decode("utf-8", errors="replace"),
                }
            )
    if day_files is not None:
        for day, lines in lines_by_day.items():
            day_files.add_lines(day, lines)
    quarantine_path = layout.export_quarantine_path(summary.export_id, data_file.key)
    if quarantined_lines:
        lake.write_bytes(b"".join(json.dumps(q).encode() + b"\n" for q in quarantined_lines), quarantine_path)
    elif lake.exists(quarantine_path):  # an earlier build's, from before an erasure
        lake.delete(quarantine_path)
    return items, erased


def gone_exports_holding(store: ExportStore, lake: Location, day: str) -> list[str]:
    """Exports indexed as holding items of ``day`` that are no longer in ``store`` (S3's lifecycle
    rules expire exports after 90 days, when the day's conversations expire): without them, a
    build of the day would hold only what the others have. A full export taken since does not
    stand in for them: by then DynamoDB's TTL has deleted the day's items, all but those the app
    kept. Reads the index of every export no longer there (of any version: only its days are
    needed)."""
    present = set(store.export_ids())
    gone = []
    for path in lake.list_files(layout.EXPORT_INDEX):
        export_id = path.rsplit("/", 1)[1].removesuffix(".json")
        if export_id in present or not path.endswith(".json"):
            continue
        try:
            doc = json.loads(lake.read_bytes(path))
        except FileNotFoundError:
            continue
        if day in doc.get("days", {}):
            gone.append(export_id)
    return sorted(gone)


def cached_export_index(lake: Location, export_id: str) -> ExportIndex | None:
    """The index built for ``export_id``, if there is one of this ``INDEX_VERSION``."""
    try:
        return ExportIndex.from_json(lake.read_bytes(layout.export_index_path(export_id)))
    except FileNotFoundError:  # one request, and an index deleted meanwhile is simply missing
        return None


def write_export_index(store: ExportStore, lake: Location, summary: ExportSummary, *, columnar: bool = True,
                       pseudonymizer: Callable[[], Pseudonymizer] | None = None, cut_by_day: bool | None = None) -> ExportIndex:
    """Build ``summary``'s index and cache it in the lake (replacing any earlier one).

    The index is in the lake before the erasure registry is read again: a user registered after
    that read finds it, and forget-user's recount brings it in line with the cut it sweeps. (Written
    after the re-read, it could replace that recount with counts that still hold the user.)"""
    return layout.write_as_of_erasures(lake, lambda erased: _write_export_index(store, lake, summary, erased, pseudonymizer, columnar, cut_by_day))


def _write_export_index(store: ExportStore, lake: Location, summary: ExportSummary, erased: set[str],
                        pseudonymizer: Callable[[], Pseudonymizer] | None, columnar: bool, cut_by_day: bool | None) -> ExportIndex:
    index = _build_export_index(store, lake, summary, ErasedUsers(erased, pseudonymizer), columnar, cut_by_day)
    lake.write_bytes(index.to_json(), layout.export_index_path(summary.export_id))
    return index


def load_or_build_export_index(store: ExportStore, lake: Location, summary: ExportSummary, *, columnar: bool = True,
                               pseudonymizer: Callable[[], Pseudonymizer] | None = None) -> ExportIndex:
    """The cached index of ``summary``'s export, built (and cached) on first use."""
    index = cached_export_index(lake, summary.export_id)
    if index is None:
        index = write_export_index(store, lake, summary, columnar=columnar, pseudonymizer=pseudonymizer)
    return index
