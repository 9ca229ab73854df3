"""Columnar reading of export data files: one vectorized parse per verified file.

Parsing a line at a time in Python (``json.loads``, boto3's ``TypeDeserializer``) costs ~40x
reading the same file with ``pyarrow.json``. So each verified data file is parsed once into Arrow
with the schema an item of this table has (every attribute under its DynamoDB type tag), and the
columns the pipeline needs are taken from there.

The columnar reading is only trusted where it cannot differ from the exact, line-by-line
semantics in ``exports.parse_record`` and ``raw._to_row``: a row with anything unexpected (an
attribute or type tag outside the schema, a key that is not a non-empty string, a timestamp that
is not plain UTC ISO 8601 or not a real instant, a number that is not an integer, metadata that boto3 would not decode,
a very large item) is handed back as its line, for the exact path to read, quarantine or reject
with a reason. A file the vectorized parser rejects as a whole (bad JSON, a corrupt stream, a
count that does not match the manifest) goes through the exact path entirely, which names the
problem. Either way the result is the same; only the speed differs.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from recipe_pipeline.columns import by_distinct, constant, row_numbers
from recipe_pipeline.dynamodb_json import DynamoDBJSONError, deserialize_value, to_plain
from recipe_pipeline.exports import DataFile, ExportStore, ExportSummary
from recipe_pipeline.warehouse import DUCKDB_CONFIG

T = TypeVar("T")
R = TypeVar("R")

# Plain UTC ISO 8601 (the seed's naive isoformat() or RFC 3339 with Z): its first ten characters
# are its UTC day. Anything else (offsets, spaces, dates alone) is read by the exact path.
STRICT_UTC_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|\+00:00)?$"
# Its first 19 characters: the date and time to the second, as strptime reads and strftime writes them.
_TO_THE_SECOND = "%Y-%m-%dT%H:%M:%S"
_INTEGER = r"^-?\d{1,18}$"
# Items estimated above this are measured exactly against DynamoDB's 400 KB limit.
_EXACT_SIZE_ABOVE = 128 * 1024

_S = pa.struct([("S", pa.string())])
_N = pa.struct([("N", pa.string())])
_BOOL = pa.struct([("BOOL", pa.bool_())])
IMAGE_TYPE = pa.struct(
    [
        ("conversation_id", _S), ("timestamp", _S), ("user_id", _S), ("role", _S), ("message", _S),
        ("date_str", _S), ("ttl", _N), ("has_recipe", _BOOL), ("recipe_name", _S),
    ]
)  # "metadata" is a map of any shape: its type is inferred per file
FULL_LINE_SCHEMA = pa.schema([("Item", IMAGE_TYPE)])
INCREMENTAL_LINE_SCHEMA = pa.schema(
    [
        ("Metadata", pa.struct([("WriteTimestampMicros", _N)])),
        ("Keys", pa.struct([("conversation_id", _S), ("timestamp", _S)])),
        ("NewImage", IMAGE_TYPE),
        ("OldImage", pa.struct([("ttl", _N)])),
    ]
)

CANDIDATE_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()), ("timestamp", pa.string()), ("version", pa.int64()),
        ("kind", pa.string()), ("old_ttl", pa.int64()), ("user_id", pa.string()), ("role", pa.string()),
        ("message", pa.string()), ("metadata", pa.string()), ("date_str", pa.string()), ("ttl", pa.int64()),
        ("has_recipe", pa.bool_()), ("recipe_name", pa.string()), ("line", pa.int64()),
    ]
)


@dataclass
class FileCandidates:
    """One data file: the rows read columnar (``CANDIDATE_SCHEMA``; ``metadata`` as plain JSON
    text) and the lines left to the exact path, as (line number, line)."""

    table: pa.Table
    exact_lines: list[tuple[int, bytes]]


def _path(array, *names):
    """A nested struct child, or None when the file never had it."""
    for name in names:
        if array is None or not pa.types.is_struct(array.type) or array.type.get_field_index(name) < 0:
            return None
        array = pc.struct_field(array, name)
    return array


def _valid(array) -> pa.Array:
    return pc.is_valid(array) if array is not None else None


def _or(mask, other):
    return mask if other is None else pc.or_(mask, pc.fill_null(other, False))


def _unexpected(image, declared: pa.StructType):
    """Rows holding an attribute, or a type tag under a known attribute, outside ``declared``."""
    mask = None
    for field in image.type:
        if field.name == "metadata":
            continue
        child = pc.struct_field(image, field.name)
        index = declared.get_field_index(field.name)
        if index < 0:
            mask = _valid(child) if mask is None else _or(mask, _valid(child))
            continue
        known = {f.name for f in declared.field(index).type}
        for tag in field.type if pa.types.is_struct(field.type) else ():
            if tag.name not in known:
                present = pc.is_valid(pc.struct_field(child, tag.name))
                mask = present if mask is None else _or(mask, present)
    return mask


def _strip_absent(value):
    # Arrow infers one struct per map over every row: keys a row lacks come back as null.
    if isinstance(value, dict):
        return {k: _strip_absent(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_absent(v) for v in value]
    return value


def _plain_metadata_json(dynamodb_json: str) -> str | None:
    """``{"M": …}`` (as Arrow wrote it) to the JSON text of the plain map; None if boto3 would
    not decode it (the exact path then reports why)."""
    try:
        plain = to_plain(deserialize_value(_strip_absent(json.loads(dynamodb_json))))
    except (DynamoDBJSONError, ValueError, TypeError):
        return None
    return json.dumps(plain, sort_keys=True) if isinstance(plain, dict) else None


def _dynamodb_json_texts(metadata) -> pa.ChunkedArray:
    """Each row's metadata struct as JSON text (DuckDB reads the Arrow column in place)."""
    try:
        with duckdb.connect(config=DUCKDB_CONFIG) as con:
            con.register("metadata_rows", pa.table({"m": metadata}))
            return con.sql("SELECT to_json(m) AS j FROM metadata_rows").to_arrow_table().column("j")
    except duckdb.Error:  # a shape DuckDB does not take from Arrow (an empty nested map): slower, same text
        return pa.chunked_array([pa.array([None if v is None else json.dumps(v) for v in metadata.to_pylist()], pa.string())])


def _metadata_texts(metadata, rows: int) -> tuple[pa.Array, pa.Array | None]:
    """Plain JSON text of each row's metadata map, decoded once per distinct value; and the rows
    whose metadata the columnar path cannot decode (not a map, or not valid DynamoDB JSON)."""
    if metadata is None:
        return pa.nulls(rows, pa.string()), None
    maps = _path(metadata, "M")
    if maps is None:
        return pa.nulls(rows, pa.string()), pc.is_valid(metadata)
    not_a_map = pc.and_(pc.is_valid(metadata), pc.is_null(maps))
    for tag in metadata.type:  # {"M": …, "S": …} is not one typed value
        if tag.name != "M":
            not_a_map = pc.or_(not_a_map, pc.is_valid(pc.struct_field(metadata, tag.name)))
    if maps.type.num_fields == 0:  # every map in the file is empty
        return pc.if_else(pc.is_valid(maps), pa.scalar("{}"), pa.scalar(None, pa.string())), not_a_map
    texts = _dynamodb_json_texts(metadata)
    distinct, indices = by_distinct(texts)
    converted = pa.array([_plain_metadata_json(v) for v in distinct], pa.string()).take(indices)
    undecodable = pc.and_(pc.is_valid(texts), pc.is_null(converted))
    return converted, pc.or_(not_a_map, undecodable)


def _impossible_instants(timestamp) -> pa.Array:
    """Rows whose date or time of day does not exist (2025-02-30, T25:00, T10:00:60) or that
    Python cannot hold (year 0), though shaped like a plain UTC timestamp: the exact path
    quarantines them (BadTimestamp), and the raw step's cast would fail on them."""
    to_the_second = pc.utf8_slice_codeunits(timestamp, 0, 19)
    year_zero = pc.fill_null(pc.starts_with(to_the_second, "0000"), False)
    try:  # the usual case: Arrow's cast (the raw step's) takes every one
        pc.cast(to_the_second, pa.timestamp("s"))
        return year_zero
    except pa.ArrowInvalid:
        pass
    # Rare: find which. strptime rolls an impossible date over (Feb 30 reads as Mar 2), so only a
    # real instant prints back as the same text.
    parsed = pc.strptime(to_the_second, format=_TO_THE_SECOND, unit="s", error_is_null=True)
    real = pc.fill_null(pc.equal(pc.strftime(parsed, format=_TO_THE_SECOND), to_the_second), False)
    return pc.or_(pc.invert(real), year_zero)


def _integers(strings, rows: int) -> tuple[pa.Array, pa.Array | None]:
    """Integer N values as int64, and the rows holding an N that is not a plain integer."""
    if strings is None:
        return pa.nulls(rows, pa.int64()), None
    plain = pc.fill_null(pc.match_substring_regex(strings, _INTEGER), True)
    values = pc.cast(pc.if_else(plain, strings, None), pa.int64())
    return values, pc.and_(pc.is_valid(strings), pc.invert(plain))


def _parse(body: bytes, summary: ExportSummary) -> pa.Table | None:
    schema = FULL_LINE_SCHEMA if summary.is_full else INCREMENTAL_LINE_SCHEMA
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    try:
        with pa.CompressedInputStream(pa.BufferReader(body), "gzip") as stream:
            return pj.read_json(stream, parse_options=options)
    except (pa.ArrowException, OSError, EOFError):
        return None


def columns_of(parsed: pa.Table, summary: ExportSummary) -> tuple[pa.Table, pa.Array]:
    """Candidate columns of a parsed file, and the mask of rows the exact path must read."""
    rows = parsed.num_rows
    if summary.is_full:
        image = parsed.column("Item")
        conversation_id, timestamp = _path(image, "conversation_id", "S"), _path(image, "timestamp", "S")
        version = constant(rows, summary.snapshot_micros, pa.int64())
        kind = constant(rows, "item", pa.string())
        old_ttl, bad_old_ttl, bad_version = pa.nulls(rows, pa.int64()), None, None
    else:
        image = parsed.column("NewImage")
        conversation_id, timestamp = _path(parsed.column("Keys"), "conversation_id", "S"), _path(parsed.column("Keys"), "timestamp", "S")
        version, bad_version = _integers(_path(parsed.column("Metadata"), "WriteTimestampMicros", "N"), rows)
        bad_version = _or(pc.is_null(version), bad_version)
        kind = pc.if_else(pc.is_valid(image), pa.scalar("put"), pa.scalar("delete"))
        old_ttl, bad_old_ttl = _integers(_path(parsed.column("OldImage"), "ttl", "N"), rows)
    is_put = pc.is_valid(image)

    exact = pc.or_(pc.is_null(conversation_id), pc.is_null(timestamp))
    exact = pc.or_(exact, pc.fill_null(pc.or_(pc.equal(conversation_id, ""), pc.invert(pc.match_substring_regex(timestamp, STRICT_UTC_TIMESTAMP))), True))
    exact = pc.or_(exact, _impossible_instants(timestamp))
    exact = _or(_or(exact, bad_version), bad_old_ttl)
    exact = _or(exact, _unexpected(image, IMAGE_TYPE))

    def tagged(name: str, tag: str):
        if _path(image, name) is None:
            return pa.nulls(rows, IMAGE_TYPE.field(name).type.field(tag).type), None
        value = _path(image, name, tag)
        # Present under its attribute but null ({"S": null}): not something to guess about.
        return value, pc.and_(pc.is_valid(pc.struct_field(image, name)), pc.is_null(value))

    # A put needs both as strings: absent or {"S": null} alike go to the exact path.
    user_id, _ = tagged("user_id", "S")
    role, _ = tagged("role", "S")
    exact = _or(exact, pc.and_(is_put, pc.or_(pc.is_null(user_id), pc.is_null(role))))
    columns = {}
    for name, tag in (("message", "S"), ("date_str", "S"), ("has_recipe", "BOOL"), ("recipe_name", "S")):
        columns[name], bad = tagged(name, tag)
        exact = _or(exact, bad)
    ttl, bad_ttl = _integers(_path(image, "ttl", "N"), rows)
    exact = _or(exact, bad_ttl)
    metadata, bad_metadata = _metadata_texts(_path(image, "metadata"), rows)
    exact = _or(exact, bad_metadata)

    size = pc.add(pc.fill_null(pc.binary_length(columns["message"]), 0), pc.fill_null(pc.binary_length(metadata), 0))
    for column in (conversation_id, timestamp, user_id, role, columns["date_str"], columns["recipe_name"]):
        size = pc.add(size, pc.fill_null(pc.binary_length(column), 0))
    exact = pc.or_(exact, pc.greater(size, _EXACT_SIZE_ABOVE))

    table = pa.table(
        {
            "conversation_id": conversation_id, "timestamp": timestamp, "version": version, "kind": kind,
            "old_ttl": old_ttl, "user_id": user_id, "role": role,
            "message": _put_messages(columns["message"], is_put),
            "metadata": metadata, "date_str": columns["date_str"], "ttl": ttl,
            "has_recipe": columns["has_recipe"], "recipe_name": columns["recipe_name"],
            "line": row_numbers(rows),
        },
        schema=CANDIDATE_SCHEMA,
    )
    return table, exact


def _put_messages(message: pa.Array, is_put: pa.Array) -> pa.Array:
    """A put's message, an absent one as empty (as in the exact path); none for a delete. The
    texts are the bulk of a file: they are copied only when something needs changing."""
    if message.null_count:
        message = pc.fill_null(message, "")
    if not pc.all(is_put).as_py():
        message = pc.if_else(is_put, message, pa.scalar(None, pa.string()))
    return message


def read_data_file(store: ExportStore, summary: ExportSummary, data_file: DataFile, *, columnar: bool = True) -> FileCandidates:
    """Every line of a verified data file: columnar where it is safe, as lines where it is not."""
    body = store.read_verified(summary, data_file)
    parsed = _parse(body, summary) if columnar else None
    if parsed is None or parsed.num_rows != data_file.item_count:
        # The exact path decompresses and counts again, and names what is wrong.
        lines = list(enumerate(store.iter_lines(summary, data_file, body), start=1))
        return FileCandidates(CANDIDATE_SCHEMA.empty_table(), lines)
    table, exact = columns_of(parsed, summary)
    del parsed
    exact_numbers: set[int] = set()
    if pc.any(exact).as_py():
        exact_numbers = set(pc.add(pc.indices_nonzero(exact), 1).to_pylist())
        table = table.filter(pc.invert(exact))
    lines = [(n, line) for n, line in enumerate(store.iter_lines(summary, data_file, body), start=1) if n in exact_numbers] if exact_numbers else []
    return FileCandidates(table, lines)


# Data files parsed ahead of the caller. Arrow's JSON parser spreads a file over the cores, but
# the file's gzip stream is read on one: with two files parsing while the caller spills a third,
# the raw step at 1M messages took 3.35 s against 3.6 s with one (same peak memory).
PARALLEL_FILES = 2


def drawn_ahead(items: Iterator[T], capacity: int) -> Iterator[T]:
    """``items`` in order, drawn on a worker thread up to ``capacity`` ahead of the caller (so
    memory holds at most ``capacity + 2`` of them). An error in ``items`` is raised here. Closed
    early, it stops the worker, which closes ``items`` on its own thread, and waits for it:
    close it before closing what ``items`` uses."""
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1 (a queue of {capacity} would be unbounded)")
    ready: queue.Queue = queue.Queue(capacity)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def draw() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    break
            else:
                put((False, None))
        except BaseException as exc:  # raised in the caller's thread instead
            put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=draw, name="drawn-ahead", daemon=True)
    worker.start()
    try:
        while True:
            is_item, value = ready.get()
            if is_item:
                yield value  # type: ignore[misc]
            elif value is None:
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def in_order_ahead(work: Callable[[T], R], items: Iterable[T], ahead: int = PARALLEL_FILES) -> Iterator[R]:
    """``map(work, items)`` on ``ahead`` threads while the caller takes the results in order;
    at most ``ahead + 1`` results are held. Closed early, it returns once the work under way has
    finished: close it before closing what the work uses."""
    with ThreadPoolExecutor(ahead) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) > ahead:  # ``ahead`` keep working while the caller takes this one
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
