"""The lake's layout (ARCHITECTURE.md): where each zone keeps a day.

```
raw/conversations/year=YYYY/month=MM/day=DD/raw-conversations-YYYY-MM-DD.parquet   restricted
raw/export_index/<ExportId>.json                                                   restricted
raw/export_days/<ExportId>/YYYY-MM-DD/{rows,lines}-NNNNN.parquet                  restricted (full exports)
conversations/year=YYYY/month=MM/day=DD/conversations-YYYY-MM-DD.parquet           anonymized
aggregated/daily/year=YYYY/month=MM/day=DD/daily-metrics-YYYY-MM-DD.json
aggregated/user_activity/year=YYYY/month=MM/day=DD/user-activity-YYYY-MM-DD.parquet  pseudonyms only
quarantine/conversations/year=YYYY/month=MM/day=DD/quarantine-YYYY-MM-DD.jsonl     restricted
quarantine/exports/<ExportId>/<data-file>.jsonl                                    restricted
```
One object per zone and day, replaced whole on every run, so a re-run never appends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from recipe_pipeline.storage import Location

T = TypeVar("T")

RAW_CONVERSATIONS = "raw/conversations"
CONVERSATIONS = "conversations"
DAILY_METRICS = "aggregated/daily"
# Who was active on a day (pseudonyms), kept as long as the aggregates: first-seen dates outlive
# the 90 days of conversations, so a user back after three months is not counted as new.
USER_ACTIVITY = "aggregated/user_activity"
QUARANTINE = "quarantine"
EXPORT_INDEX = "raw/export_index"
EXPORT_DAYS = "raw/export_days"  # a full export's items cut by day, so each day reads only its own
DAY_QUARANTINE = "quarantine/conversations"
EXPORT_QUARANTINE = "quarantine/exports"  # lines no day could take, by export
ERASURES = "raw/erasures"  # pseudonyms of users who asked to be forgotten (restricted)
ERASURE_AUDIT = "audit/erasures"


def hive_dir(day: str) -> str:
    d = date.fromisoformat(day)
    return f"year={d.year:04d}/month={d.month:02d}/day={d.day:02d}"


def raw_conversations_path(day: str) -> str:
    return f"{RAW_CONVERSATIONS}/{hive_dir(day)}/raw-conversations-{day}.parquet"


def conversations_path(day: str) -> str:
    return f"{CONVERSATIONS}/{hive_dir(day)}/conversations-{day}.parquet"


def daily_metrics_path(day: str) -> str:
    return f"{DAILY_METRICS}/{hive_dir(day)}/daily-metrics-{day}.json"


def user_activity_path(day: str) -> str:
    return f"{USER_ACTIVITY}/{hive_dir(day)}/user-activity-{day}.parquet"


def day_quarantine_path(day: str) -> str:
    return f"{QUARANTINE}/conversations/{hive_dir(day)}/quarantine-{day}.jsonl"


def export_quarantine_path(export_id: str, data_file_key: str) -> str:
    stem = data_file_key.rsplit("/", 1)[-1].split(".", 1)[0]
    return f"{EXPORT_QUARANTINE}/{export_id}/{stem}.jsonl"


def export_day_dir(export_id: str, day: str) -> str:
    """A full export's items of ``day``: ``rows-NNNNN.parquet`` (read columnar) and
    ``lines-NNNNN.parquet`` (lines left to the exact path), in order."""
    return f"{EXPORT_DAYS}/{export_id}/{day}"


def export_day_file(export_id: str, day: str, kind: str, part: int) -> str:
    return f"{export_day_dir(export_id, day)}/{kind}-{part:05d}.parquet"


def export_index_path(export_id: str) -> str:
    return f"{EXPORT_INDEX}/{export_id}.json"


def erasure_path(pseudonym: str) -> str:
    return f"{ERASURES}/{pseudonym}.json"


def erased_pseudonyms(lake: Location) -> set[str]:
    """Pseudonyms of every user erased with ``forget-user``: rebuilt days leave them out."""
    return {path.rsplit("/", 1)[1].removesuffix(".json") for path in lake.list_files(ERASURES)}


def write_as_of_erasures(lake: Location, write: Callable[[set[str]], T]) -> T:
    """``write(erased)`` with the erasure registry's pseudonyms, done again until the registry
    is the same after a write as before it.

    forget-user registers a user (``raw/erasures/``) before it sweeps the lake. A writer that
    read the registry before that, and writes after the sweep has passed what it writes, would
    put the user back; so the registry is read again once it has written. A user registered
    after that last read finds the writes done, and forget-user's sweep takes them out."""
    erased = erased_pseudonyms(lake)
    while True:
        result = write(erased)
        erased_now = erased_pseudonyms(lake)
        if erased_now == erased:
            return result
        erased = erased_now


def days_present(lake: Location, zone: str) -> list[str]:
    """Days that have a directory in ``zone`` (``year=/month=/day=`` folders)."""
    days = []
    for year in lake.list_dirs(zone):
        for month in lake.list_dirs(zone, year):
            for day in lake.list_dirs(zone, year, month):
                try:
                    days.append(date(int(year[5:]), int(month[6:]), int(day[4:])).isoformat())
                except ValueError:
                    continue
    return sorted(days)


PROVENANCE_KEY = b"recipe_pipeline.provenance"


def with_provenance(table: pa.Table, provenance: dict) -> pa.Table:
    """Attach ``provenance`` (what the file was built from, and its counts) to a table's schema,
    so it travels in the Parquet footer, atomically with the rows it describes."""
    return table.replace_schema_metadata({**(table.schema.metadata or {}), **provenance_metadata(provenance)})


def provenance_metadata(provenance: dict) -> dict[bytes, bytes]:
    """The footer key-value entry that carries ``provenance``."""
    return {PROVENANCE_KEY: json.dumps(provenance, sort_keys=True).encode()}


def read_provenance(lake: Location, path: str) -> dict:
    """The provenance stored in a Parquet file's footer (reads the footer only)."""
    return file_provenance(lake.parquet_file(path))


def file_provenance(file: pq.ParquetFile) -> dict:
    """The provenance in an open Parquet file's footer."""
    # The file's key-value metadata: written with the schema (``with_provenance``) or added to a
    # streamed file when it closes (``AtomicParquetWriter.add_metadata``).
    return json.loads((file.metadata.metadata or {}).get(PROVENANCE_KEY, b"{}"))
