"""Small Arrow column helpers shared by the columnar steps (export reading, raw, anonymize)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc


def constant(length: int, value, type_: pa.DataType) -> pa.Array:
    """``length`` copies of ``value``."""
    return pa.repeat(pa.scalar(value, type_), length)


def row_numbers(length: int, first: int = 1) -> pa.Array:
    """``first``, ``first + 1``, … as int64."""
    return pc.add(pc.cumulative_sum(constant(length, 1, pa.int64())), first - 1)


def one_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one contiguous array (a chunked column of no chunks: an empty one of its type)."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    return values


def dictionary_of(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """The distinct non-null values and, per row, the index of its value (null for a null)."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks else pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], values.type))
    return encoded.dictionary, encoded.indices


def by_distinct(values: pa.Array | pa.ChunkedArray) -> tuple[list, pa.Array]:
    """The distinct non-null values (as Python) and, per row, the index of its value (null for a
    null). Work done once per distinct value is gathered back with ``pa.array(...).take(indices)``:
    a day repeats a few user ids, metadata maps and templated texts many times."""
    dictionary, indices = dictionary_of(values)
    return dictionary.to_pylist(), indices


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Below this many rows a column is not worth splitting.
SPLIT_FROM = 16_384


def on_every_core(work: Callable[[pa.Array], pa.Array], values: pa.Array) -> pa.Array:
    """``work(values)`` computed on one slice of ``values`` per core, in threads, and
    concatenated: for work that is mostly Arrow compute calls, which release the GIL."""
    parts = cores()
    if parts < 2 or len(values) < SPLIT_FROM:
        return work(values)
    size = -(-len(values) // parts)
    with ThreadPoolExecutor(parts) as pool:
        results = list(pool.map(work, [values.slice(start, size) for start in range(0, len(values), size)]))
    return pa.concat_arrays(results)


def give_back_memory() -> None:
    """Return the memory Arrow's allocator holds but no longer uses to the OS: a step that
    streamed a large day should not leave the next one to start from its high-water mark."""
    pa.default_memory_pool().release_unused()
