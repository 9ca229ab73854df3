"""``Location`` on a local directory: bytes as stored, atomic replacement, listings, streaming lines."""

from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pytest

from recipe_pipeline.storage import Location, iter_lines


@pytest.fixture
def location(tmp_path):
    return Location(str(tmp_path / "base"))


def test_bytes_come_back_as_stored_even_for_gz_names(location):
    body = gzip.compress(b"line\n")
    location.write_bytes(body, "a", "b.json.gz")
    assert location.read_bytes("a/b.json.gz") == body


def test_writes_replace_atomically_and_leave_no_temporary_files(location, tmp_path):
    table = pa.table({"x": [1, 2, 3]})
    location.write_parquet(table, "zone/day.parquet")
    location.write_parquet(pa.table({"x": [4]}), "zone/day.parquet")
    assert location.read_parquet("zone/day.parquet").column("x").to_pylist() == [4]
    assert location.list_files("zone") == ["zone/day.parquet"]

    class Boom(Exception):
        pass

    class Exploding:
        """A 'table' whose serialization fails half-way."""

        schema = table.schema

        def __getattr__(self, name):
            raise Boom(name)

    with pytest.raises(Exception):
        location.write_parquet(Exploding(), "zone/day.parquet")
    assert location.read_parquet("zone/day.parquet").column("x").to_pylist() == [4]  # old day intact
    assert location.list_files("zone") == ["zone/day.parquet"]


def test_streamed_parquet_writer_commits_only_on_success(location):
    schema = pa.schema([("x", pa.int64())])
    with location.open_parquet_writer(schema, "z/one.parquet") as writer:
        writer.write(pa.record_batch([pa.array([1, 2])], schema=schema))
        writer.write(pa.table({"x": [3]}))
    assert location.read_parquet("z/one.parquet").num_rows == 3 and writer.rows == 3
    with pytest.raises(RuntimeError):
        with location.open_parquet_writer(schema, "z/one.parquet") as writer:
            writer.write(pa.table({"x": [9]}))
            raise RuntimeError("crash mid-write")
    assert location.read_parquet("z/one.parquet").num_rows == 3
    assert location.list_files("z") == ["z/one.parquet"]


def test_listing_existence_and_delete(location):
    location.write_bytes(b"1", "d1/f")
    location.write_bytes(b"2", "d2/sub/g")
    assert location.list_dirs() == ["d1", "d2"]
    assert location.list_dirs("missing") == []
    assert location.list_files("d2", recursive=True) == ["d2/sub/g"]
    assert location.exists("d1/f") and not location.exists("d1/nope")
    location.delete("d1/f")
    location.delete("d1/f")  # deleting twice is fine
    assert not location.exists("d1/f")
    assert location.uri("d1") == location.path("d1")
    assert Location("s3://bucket/pre/").uri("x") == "s3://bucket/pre/x"


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1 << 20])
def test_iter_lines_across_chunk_boundaries(chunk_size):
    data = b"first line\nsecond\n\nlast without newline"
    stream = pa.PythonFile(io.BytesIO(data), mode="r")
    assert list(iter_lines(stream, chunk_size=chunk_size)) == [b"first line", b"second", b"", b"last without newline"]
