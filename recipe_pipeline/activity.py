"""Who was active on a day: ``aggregated/user_activity`` (Athena table ``user_activity``).

New-vs-returning users and retention cohorts need each user's first day. Conversations are kept
90 days, so a first day read from them moves forward as the oldest days expire, and a user back
after three months counts as new again. This table keeps, for each day, the pseudonyms of its
active users and their message counts, as long as the other aggregates (2 years): a first day
read from it holds for two years. It keeps nothing else (no text, no times of day), so the
longer retention covers only what those metrics need; ``forget-user`` removes a user's rows here
too.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recipe_pipeline import lake as layout
from recipe_pipeline.storage import Location

USER_ACTIVITY_SCHEMA = pa.schema([
    pa.field("activity_date", pa.date32(), nullable=False),
    pa.field("user_id", pa.string(), nullable=False),  # the keyed pseudonym, as in recipe_conversations
    pa.field("messages", pa.int64(), nullable=False),
])

COLUMN_DESCRIPTIONS = {
    "activity_date": "The UTC day the user was active (the partition's day)",
    "user_id": "Keyed HMAC-SHA256 pseudonym of the user id, as in recipe_conversations",
    "messages": "The user's messages that day (every role, in the user's conversations)",
}


def user_activity(conversations: pq.ParquetFile, day: str) -> pa.Table:
    """One row per user of an anonymized day (``conversations``), with the day's message count,
    sorted by pseudonym. Counted a row group at a time, reading only ``user_id``: a day of
    millions of messages holds no more than one row group's ids and the day's users."""
    counts = [
        conversations.read_row_group(group, columns=["user_id"]).group_by("user_id").aggregate([([], "count_all")])
        for group in range(conversations.num_row_groups)
    ]
    if counts:
        users = pa.concat_tables(counts).group_by("user_id").aggregate([("count_all", "sum")])
        user_ids, messages = users.column("user_id"), users.column("count_all_sum")
    else:
        user_ids, messages = pa.chunked_array([], pa.string()), pa.chunked_array([], pa.int64())
    table = pa.table({
        "activity_date": pa.array([date.fromisoformat(day)] * len(user_ids), pa.date32()),
        "user_id": user_ids,
        "messages": messages,
    }, schema=USER_ACTIVITY_SCHEMA)
    return table.sort_by("user_id")


def without_users(table: pa.Table, pseudonyms: set[str]) -> pa.Table:
    """``table`` less the rows of ``pseudonyms``."""
    if not pseudonyms:
        return table
    return table.filter(pc.invert(pc.is_in(table.column("user_id"), pa.array(sorted(pseudonyms), pa.string()))))


def write_user_activity(lake: Location, day: str) -> pa.Table:
    """Count the anonymized day's users and replace the day's activity file with them, leaving
    out users erased meanwhile (``forget-user`` may be sweeping the lake while this runs: the
    day's anonymized file may still hold them, and this file may be written after the sweep
    passed it)."""
    table = user_activity(lake.parquet_file(layout.conversations_path(day)), day)

    def write(erased: set[str]) -> pa.Table:
        kept = without_users(table, erased)
        lake.write_parquet(kept, layout.user_activity_path(day))
        return kept

    return layout.write_as_of_erasures(lake, write)

