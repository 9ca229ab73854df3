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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow.compute as pc

from recipe_pipeline import lake as layout
from recipe_pipeline.columns import give_back_memory
from recipe_pipeline.export_columns import read_data_file
from recipe_pipeline.exports import ExportStore, ExportSummary, MalformedLine, parse_record
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.storage import Location

INDEX_VERSION = 1


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


@dataclass
class ExportIndex:
    export_id: str
    export_type: str
    covered_until: str
    days: dict[str, int] = field(default_factory=dict)
    items: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    erased: int = 0  # unreadable lines left out of quarantine: they hold an erased user's id

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

    def __init__(self, lake: Location, pseudonymizer: Callable[[], Pseudonymizer] | None) -> None:
        self.pseudonyms = layout.erased_pseudonyms(lake)
        self._provider = pseudonymizer
        self._pseudonymizer: Pseudonymizer | None = None

    def in_line(self, line: bytes) -> bool:
        if not self.pseudonyms:
            return False
        if self._pseudonymizer is None:
            if self._provider is None:
                raise ValueError("users have been erased (raw/erasures/): quarantining an unreadable export line needs the pseudonym key to leave theirs out")
            self._pseudonymizer = self._provider()
        for piece in line.split(b'"')[1:-1]:  # every substring between two quotes
            text = piece.decode("utf-8", errors="replace")
            candidates = {text}
            try:
                candidates.add(json.loads(f'"{text}"'))  # \u escapes, as json.dumps writes them
            except ValueError:
                pass
            if any(self._pseudonymizer.pseudonym(candidate) in self.pseudonyms for candidate in candidates):
                return True
        return False


def build_export_index(store: ExportStore, lake: Location, summary: ExportSummary, *, columnar: bool = True,
                       pseudonymizer: Callable[[], Pseudonymizer] | None = None) -> ExportIndex:
    """Read the whole export once; count items per day; quarantine unattributable lines, except
    erased users' (``pseudonymizer`` gives the key to recognise them, needed once any exist)."""
    days: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    erased_users = ErasedUsers(lake, pseudonymizer)
    erased = 0
    items = 0
    for data_file in store.data_files(summary):
        file = read_data_file(store, summary, data_file, columnar=columnar)
        items += file.table.num_rows + len(file.exact_lines)
        # Columnar rows have plain UTC timestamps: the day is the first ten characters.
        for entry in pc.value_counts(pc.utf8_slice_codeunits(file.table.column("timestamp"), 0, 10)).to_pylist():
            days[entry["values"]] += entry["counts"]
        quarantined_lines = []
        for number, line in file.exact_lines:
            try:
                record = parse_record(line, summary)
                days[item_day(record.timestamp)] += 1
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
        quarantine_path = layout.export_quarantine_path(summary.export_id, data_file.key)
        if quarantined_lines:
            lake.write_bytes(b"".join(json.dumps(q).encode() + b"\n" for q in quarantined_lines), quarantine_path)
        elif lake.exists(quarantine_path):  # an earlier build's, from before an erasure
            lake.delete(quarantine_path)
    # The sensor indexes in the daemon's long-lived process: a large export should not leave it
    # holding the parse's memory (190 MB after a 1M-message export). The last file's table first.
    file = None
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
    )


def cached_export_index(lake: Location, export_id: str) -> ExportIndex | None:
    """The index built for ``export_id``, if there is one of this ``INDEX_VERSION``."""
    path = layout.export_index_path(export_id)
    return ExportIndex.from_json(lake.read_bytes(path)) if lake.exists(path) else None


def write_export_index(store: ExportStore, lake: Location, summary: ExportSummary, *, columnar: bool = True,
                       pseudonymizer: Callable[[], Pseudonymizer] | None = None) -> ExportIndex:
    """Build ``summary``'s index and cache it in the lake (replacing any earlier one)."""
    index = build_export_index(store, lake, summary, columnar=columnar, pseudonymizer=pseudonymizer)
    lake.write_bytes(index.to_json(), layout.export_index_path(summary.export_id))
    return index


def load_or_build_export_index(store: ExportStore, lake: Location, summary: ExportSummary, *, columnar: bool = True,
                               pseudonymizer: Callable[[], Pseudonymizer] | None = None) -> ExportIndex:
    """The cached index of ``summary``'s export, built (and cached) on first use."""
    index = cached_export_index(lake, summary.export_id)
    if index is None:
        index = write_export_index(store, lake, summary, columnar=columnar, pseudonymizer=pseudonymizer)
    return index
