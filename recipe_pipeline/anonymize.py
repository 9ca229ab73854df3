"""Raw day -> anonymized, enriched day (the analytics zone, Athena table ``recipe_conversations``).

Messages are scrubbed of PII and of the day's raw user ids (typed into a message, they become
``[USER_ID]``), user ids become keyed pseudonyms, and the recipe discussed and the
tools used are derived here in the pipeline (so they can be re-derived over history). Nothing from
the raw zone but these derived columns crosses over: no raw user id, no raw message, no metadata.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import ahocorasick_rs
import pyarrow as pa
import pyarrow.compute as pc

from recipe_pipeline import lake as layout
from recipe_pipeline.columns import by_distinct, give_back_memory, one_array
from recipe_pipeline.pii import PendingScrub, ScrubWorkers, start_scrub
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.raw import without_erased_users
from recipe_pipeline.raw_user_ids import USER_ID_KIND, day_user_ids, id_automaton, without_raw_user_ids
from recipe_pipeline.recipes import extract_recipe_column, recipe_category_column
from recipe_pipeline.storage import Location, parquet_batches

T = TypeVar("T")

ANONYMIZED_SCHEMA = pa.schema(
    [
        pa.field("conversation_id", pa.string(), nullable=False),
        pa.field("timestamp", pa.string(), nullable=False),
        pa.field("message_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),  # keyed pseudonym, never the raw id
        pa.field("role", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),  # PII replaced by [EMAIL], [PHONE], ...
        pa.field("message_length", pa.int32(), nullable=False),
        pa.field("pii_redactions", pa.int32(), nullable=False),
        pa.field("has_recipe", pa.bool_(), nullable=False),
        pa.field("recipe_name", pa.string()),
        pa.field("recipe_category", pa.string()),
        pa.field("tools_used", pa.list_(pa.string()), nullable=False),
        pa.field("rating", pa.int8()),
    ]
)

COLUMN_DESCRIPTIONS = {
    "conversation_id": "Conversation id as written by the app",
    "timestamp": "Message timestamp as written by the app (ISO 8601, UTC)",
    "message_ts": "Message time, UTC",
    "user_id": "Keyed HMAC-SHA256 pseudonym of the user id (stable across days)",
    "role": "user, assistant or tool",
    "message": "Message text with PII replaced by typed placeholders",
    "message_length": "Characters in the scrubbed message",
    "pii_redactions": "PII spans replaced in this message",
    "has_recipe": "An assistant message naming a recipe",
    "recipe_name": "Canonical recipe name derived from an assistant message",
    "recipe_category": "Category of recipe_name from the shipped taxonomy",
    "tools_used": "Tools the assistant used for this message (web_search, cookware_check, ...)",
    "rating": "Explicit 1-5 rating in the message metadata, if any",
}


@dataclass(frozen=True)
class AnonymizedDay:
    table: pa.Table
    redactions_by_kind: dict[str, int]


# A tool's name is an identifier ("web_search", "unit-conversion.v2"): anything else in the
# metadata's tool fields (free text, an address) does not cross into the analytics zone.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def _tools_and_rating(metadata_json: str | None) -> tuple[list[str], int | None]:
    if not metadata_json:
        return [], None
    try:
        metadata = json.loads(metadata_json)
    except ValueError:
        return [], None
    if not isinstance(metadata, dict):
        return [], None
    tools = metadata.get("tools_used")
    if isinstance(tools, str):
        tools = [tools]
    elif not isinstance(tools, list):
        tools = []  # absent, or not a list the app would write (a number, a map): no tools
    names = sorted({t for t in [*tools, metadata.get("tool")] if isinstance(t, str) and _TOOL_NAME.fullmatch(t)})
    rating = metadata.get("rating")
    valid_rating = int(rating) if isinstance(rating, (int, float)) and not isinstance(rating, bool) and 1 <= rating <= 5 else None
    return names, valid_rating


def _tools_and_ratings(metadata: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array]:
    """``_tools_and_rating`` per distinct metadata text (a day repeats a handful of them)."""
    distinct, indices = by_distinct(metadata)
    pairs = [_tools_and_rating(text) for text in distinct]
    tools = pa.array([names for names, _ in pairs], pa.list_(pa.string())).take(indices)
    ratings = pa.array([rating for _, rating in pairs], pa.int8()).take(indices)
    # No metadata at all: no tools (an empty list, never null), no rating.
    return pc.if_else(pc.is_valid(tools), tools, pa.scalar([], pa.list_(pa.string()))), ratings


def anonymize_day(raw: pa.Table, pseudonymizer: Pseudonymizer, workers: ScrubWorkers | None = None) -> AnonymizedDay:
    """Anonymize one raw day, or one batch of it (a table with ``RAW_SCHEMA``); row order is kept."""
    if workers is None:
        with ScrubWorkers() as own:
            return anonymize_day(raw, pseudonymizer, own)
    raw_ids = id_automaton(pc.unique(raw.column("user_id")).drop_null())
    return _anonymized(raw, _start_scrub(raw, workers, raw_ids), pseudonymizer)


@dataclass(frozen=True)
class _StartedScrub:
    scrub: PendingScrub
    ids_replaced: pa.Array | None  # raw user ids replaced per message, None if none was


def _start_scrub(raw: pa.Table, workers: ScrubWorkers, raw_ids: ahocorasick_rs.BytesAhoCorasick | None) -> _StartedScrub:
    """The day's raw user ids out of the messages (``raw_ids`` finds them), then the PII scrub of
    what is left started. Ids go first: a PII match could otherwise take part of one ("user-
    020794960018" reads as a phone number), and the scrub's passes then catch what a replaced id
    was hiding ("...[USER_ID]12 Oak Street")."""
    messages, ids_replaced = without_raw_user_ids(one_array(raw.column("message")), raw_ids)
    return _StartedScrub(start_scrub(messages, workers), ids_replaced)


def _anonymized(raw: pa.Table, started: _StartedScrub, pseudonymizer: Pseudonymizer) -> AnonymizedDay:
    """The anonymized table of ``raw`` once its scrub (started earlier) is done."""
    scrubbed = started.scrub.result()
    texts, ids_replaced = scrubbed.texts, started.ids_replaced
    redactions, counts = scrubbed.redactions, dict(scrubbed.counts)
    if ids_replaced is not None:
        redactions = pc.add(redactions, ids_replaced)
        counts[USER_ID_KIND] = pc.sum(ids_replaced).as_py()
    # Recipes come from the scrubbed text, so no PII can ever become a "recipe name".
    assistant_texts = pc.if_else(pc.equal(raw.column("role"), "assistant"), texts, pa.scalar(None, pa.string()))
    recipe_names = extract_recipe_column(assistant_texts)
    tools, ratings = _tools_and_ratings(raw.column("metadata"))
    table = pa.table(
        {
            "conversation_id": raw.column("conversation_id"),
            "timestamp": raw.column("timestamp"),
            "message_ts": raw.column("message_ts"),
            "user_id": pseudonymizer.pseudonym_column(raw.column("user_id")),
            "role": raw.column("role"),
            "message": texts,
            "message_length": pc.cast(pc.utf8_length(texts), pa.int32()),
            "pii_redactions": redactions,
            "has_recipe": pc.is_valid(recipe_names),
            "recipe_name": recipe_names,
            "recipe_category": recipe_category_column(recipe_names),
            "tools_used": tools,
            "rating": ratings,
        },
        schema=ANONYMIZED_SCHEMA,
    )
    return AnonymizedDay(table, counts)


# Rows anonymized at a time: memory stays flat however large the day is (two batches are in
# flight, each copied a few times over: long replies make a batch tens of megabytes).
BATCH_ROWS = 65_536
PREVIEW_ROWS = 10


@dataclass
class AnonymizedDaySummary:
    """What the privacy asset reports of a day it wrote (aggregates and a short preview only)."""

    rows: int = 0
    raw_rows: int = 0
    erased: int = 0  # raw rows of users in the erasure registry, left out
    redactions_by_kind: Counter = field(default_factory=Counter)
    recipe_mentions: Counter = field(default_factory=Counter)
    preview: list[dict] = field(default_factory=list)


def _table(batch: pa.RecordBatch) -> pa.Table:
    return pa.Table.from_batches([batch])


def _one_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items`` in order, each one yielded only after the next has been produced (started)."""
    previous = next(items, _NOTHING)
    for item in items:
        yield previous
        previous = item
    if previous is not _NOTHING:
        yield previous


_NOTHING = object()


def write_anonymized_day(lake: Location, day: str, pseudonymizer: Pseudonymizer, batch_rows: int = BATCH_ROWS,
                         audit: Callable[[str], None] | None = None) -> AnonymizedDaySummary:
    """Read the day's raw Parquet in batches, anonymize each and stream it to the day's
    ``conversations/`` file (replaced whole, atomically), with provenance in the footer.
    ``audit`` sees the finished file first, and may raise to keep it from being published.

    Users in the erasure registry are left out even if the raw day still holds them (forget-user
    may not have swept it yet), and a user erased meanwhile has the day written again without
    them (``layout.write_as_of_erasures``)."""
    return layout.write_as_of_erasures(lake, lambda erased: _write_anonymized_day(lake, day, pseudonymizer, erased, batch_rows, audit))


def _write_anonymized_day(lake: Location, day: str, pseudonymizer: Pseudonymizer, erased: set[str], batch_rows: int,
                          audit: Callable[[str], None] | None) -> AnonymizedDaySummary:
    raw_file = lake.parquet_file(layout.raw_conversations_path(day))
    summary = AnonymizedDaySummary(raw_rows=raw_file.metadata.num_rows)

    def without_erased(table: pa.Table) -> pa.Table:
        kept, removed = without_erased_users(table, erased, pseudonymizer)
        summary.erased += removed
        return kept

    raw_id_automaton = id_automaton(day_user_ids(raw_file, batch_rows))  # the day's: a user may type another's id
    with ScrubWorkers() as workers, lake.open_parquet_writer(ANONYMIZED_SCHEMA, layout.conversations_path(day), audit=audit) as writer:
        # One batch ahead: the workers scrub batch k+1 while this process finishes batch k.
        raw_batches = (without_erased(_table(batch)) for batch in parquet_batches(raw_file, batch_rows))
        started = ((table, _start_scrub(table, workers, raw_id_automaton)) for table in raw_batches)
        for part in (_anonymized(table, scrub, pseudonymizer) for table, scrub in _one_ahead(started)):
            writer.write(part.table)
            summary.rows += part.table.num_rows
            summary.redactions_by_kind.update(part.redactions_by_kind)
            recipes = part.table.column("recipe_name").drop_null()
            summary.recipe_mentions.update({v["values"]: v["counts"] for v in pc.value_counts(recipes).to_pylist()} if len(recipes) else {})
            if len(summary.preview) < PREVIEW_ROWS:
                head = part.table.slice(0, PREVIEW_ROWS - len(summary.preview))
                summary.preview += head.select(["timestamp", "role", "message", "recipe_name", "tools_used"]).to_pylist()
        raw_id_automaton = part = None  # not held while the file is audited (23 MB of automaton at 5M)
        # As forget-user keeps them: raw_rows are the raw rows anonymized, an erased user's apart.
        provenance = {"partition": day, "raw_rows": summary.raw_rows - summary.erased, "erased": summary.erased,
                      "redactions": dict(summary.redactions_by_kind)}
        writer.add_metadata(layout.provenance_metadata(provenance))
    give_back_memory()
    return summary
