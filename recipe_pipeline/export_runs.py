"""Which daily partitions new exports touch: the logic behind ``dynamodb_export_sensor``.

The cursor (JSON) holds the exports already handled, days waiting to become partitions,
exports whose manifests could not be read or whose index run failed (looked at again every
tick until fixed), and for each day the exports that touch it (25 KB with a year of daily
exports). Only the folder
listing, the new exports' manifests and their indexes are read on a tick, never an export's data:
a new export without an index is handed to the ``export_index`` job, and handled on the first
tick after its index is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from recipe_pipeline.export_index import ExportIndex, cached_export_index
from recipe_pipeline.exports import ExportError, ExportStore
from recipe_pipeline.partitions import last_complete_day
from recipe_pipeline.storage import Location


@dataclass
class ExportCursor:
    handled: list[str] = field(default_factory=list)
    deferred: dict[str, list[str]] = field(default_factory=dict)  # day -> exports, day not yet a partition
    failed: dict[str, str] = field(default_factory=dict)  # export -> problem
    # day -> every handled export that touches it: what a run of the day reads, named by its run key
    touched: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> ExportCursor:
        if not text:
            return cls()
        doc = json.loads(text)
        return cls(doc.get("handled", []), doc.get("deferred", {}), doc.get("failed", {}), doc.get("touched", {}))

    def to_json(self) -> str:
        return json.dumps(
            {"handled": sorted(self.handled), "deferred": self.deferred, "failed": self.failed, "touched": self.touched},
            sort_keys=True,
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class PartitionRequest:
    day: str
    export_ids: tuple[str, ...]  # the new exports it is requested for
    touching: tuple[str, ...] = ()  # every export handled so far that touches the day

    @property
    def run_key(self) -> str:
        """The day and a digest of every export handled so far that touches it, which is what
        its run reads. The same however the exports were grouped into ticks: catch-up (a cursor of
        its own, exports taken a tick at a time) and the daemon (all at once, on its first
        tick) name the same runs, so neither runs a day the other has built; and new whenever
        another export touches the day, even one that finished after a newer one."""
        digest = hashlib.sha256(",".join(self.touching or self.export_ids).encode()).hexdigest()[:12]
        return f"{self.day}:{digest}"


@dataclass
class ExportPlan:
    requests: list[PartitionRequest]
    cursor: ExportCursor
    new_exports: list[str]
    ignored_days: dict[str, int]  # days before the first partition -> items
    problems: dict[str, str]
    to_index: list[str] = field(default_factory=list)  # completed exports with no index yet, none whose index run failed
    not_days: dict[str, int] = field(default_factory=dict)  # index "days" that are no date -> items, never requested


def is_day(key: str) -> bool:
    """Whether ``key`` is a real date written ``YYYY-MM-DD``, as partition keys are. (An index
    of an older version may hold "2025-02-30": requested, it would fail every tick.)"""
    try:
        return date.fromisoformat(key).isoformat() == key
    except (TypeError, ValueError):
        return False


def _no_index_run_failed(export_id: str) -> str | None:
    return None


def plan_export_runs(
    store: ExportStore, lake: Location, cursor: ExportCursor, *, first_day: str, now: datetime,
    index_run_failed: Callable[[str], str | None] = _no_index_run_failed,
) -> ExportPlan:
    """The exports completed since ``cursor`` still to index, and once none is, the partitions
    the new ones touch. ``index_run_failed`` tells, of an export with no index, how its latest
    index run failed (None: no run yet, one under way, or one that succeeded, whose index is then
    written or, of an older version, to be written again): such an export is a problem."""
    handled = set(cursor.handled)
    deferred = {day: set(ids) for day, ids in cursor.deferred.items()}
    touched = {day: set(ids) for day, ids in cursor.touched.items()}
    failed: dict[str, str] = {}
    requested: dict[str, set[str]] = {}
    ignored: dict[str, int] = {}
    not_days: dict[str, int] = {}
    last_day = last_complete_day(now)
    new_exports: list[str] = []
    to_index: list[str] = []
    unindexable: list[str] = []
    indexed: list[tuple[str, ExportIndex]] = []

    for export_id in store.export_ids():
        if export_id in handled or not store.is_complete(export_id):
            continue  # still running until manifest-summary.json appears
        try:
            store.data_files(store.summary(export_id))  # its manifests, read and checked (small)
        except ExportError as exc:
            failed[export_id] = str(exc)  # not handled: retried on every tick until readable
            continue
        index = cached_export_index(lake, export_id)
        failed_run = index_run_failed(export_id) if index is None else None
        if index is not None:
            indexed.append((export_id, index))
        elif failed_run is not None:  # not handled: the run re-executed on the fixed export writes the index
            unindexable.append(export_id)
            failed[export_id] = (f"export {export_id} has no index: its index run {failed_run}. Re-execute it (dynamodb_export_index, "
                                 f"partition {export_id}) once the export is fixed, or remove the export")
        else:
            to_index.append(export_id)  # not handled until the export_index run has written it

    # A day's run reads the index of every completed export, and builds one it finds missing: while
    # an index run is under way (a large full export takes minutes), days wait, or each of their
    # runs would read the whole export again. While an export cannot be indexed they wait too,
    # reported: each of their runs would fail on it, and a day built without it could lack the
    # newest version of its items. Once it is indexed (or removed) they are all requested.
    waiting = to_index or unindexable
    for export_id in unindexable:
        if indexed:
            failed[export_id] += f"; {len(indexed)} newer export(s) wait for it"
    for export_id, index in [] if waiting else indexed:
        new_exports.append(export_id)
        handled.add(export_id)
        for day, items in index.days.items():
            if items == index.ttl_expiries.get(day, 0):
                continue  # TTL expiries only: retention's work, no run's
            if not is_day(day):
                not_days[day] = not_days.get(day, 0) + items
            elif day < first_day:
                ignored[day] = ignored.get(day, 0) + items
            elif day > last_day:
                deferred.setdefault(day, set()).add(export_id)
                touched.setdefault(day, set()).add(export_id)
            else:
                requested.setdefault(day, set()).add(export_id)
                touched.setdefault(day, set()).add(export_id)

    for day in [d for d in deferred if not is_day(d)]:  # deferred by an older version
        not_days.setdefault(day, 0)
        del deferred[day]
    for day in [d for d in deferred if d <= last_day and not waiting]:
        requested.setdefault(day, set()).update(deferred.pop(day))

    requests = [PartitionRequest(day, tuple(sorted(ids)), tuple(sorted(touched.get(day, ids)))) for day, ids in sorted(requested.items())]
    new_cursor = ExportCursor(sorted(handled), {d: sorted(ids) for d, ids in sorted(deferred.items())}, failed,
                              {d: sorted(ids) for d, ids in sorted(touched.items())})
    return ExportPlan(requests, new_cursor, new_exports, ignored, failed, to_index, not_days)
