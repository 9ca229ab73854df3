"""``Location`` on a local directory: bytes as stored, atomic replacement, listings, streaming lines.

(The same class on S3 is exercised against a local AWS endpoint in test_storage_s3.py.)
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe_pipeline import storage
from recipe_pipeline.storage import Location, Rewrite, RollingParquetFiles, iter_lines


@pytest.fixture
def location(tmp_path):
    return Location(str(tmp_path / "base"))


def all_files(location: Location) -> list[str]:
    """Every file on disk below ``location``, hidden ones included (relative paths)."""
    found = []
    for folder, _, names in os.walk(location.root):
        found += [os.path.relpath(os.path.join(folder, name), location.root) for name in names]
    return sorted(found)


def leftovers(location: Location) -> list[str]:
    return [path for path in all_files(location) if path.endswith(".tmp") or os.path.basename(path).startswith(".")]


# -- bytes ------------------------------------------------------------------------------------


def test_gz_files_come_back_byte_identical_not_decompressed(location):
    body = gzip.compress(b'{"Item":{}}\n' * 10, mtime=0)
    location.write_bytes(body, "AWSDynamoDB", "data", "abc.json.gz")
    assert location.read_bytes("AWSDynamoDB/data/abc.json.gz") == body
    assert location.read_bytes("AWSDynamoDB", "data", "abc.json.gz") == body
    with location.open_input("AWSDynamoDB/data/abc.json.gz") as stream:
        assert stream.read() == body
    with open(location.path("AWSDynamoDB/data/abc.json.gz"), "rb") as raw:
        assert raw.read() == body  # what is on disk is exactly what was given


def test_every_byte_value_and_empty_files_survive(location):
    data = bytes(range(256)) * 3
    location.write_bytes(data, "bin")
    location.write_bytes(b"", "AWSDynamoDB/x/_started")
    location.write_bytes(pa.py_buffer(b"from a buffer"), "buf")
    assert location.read_bytes("bin") == data
    assert location.read_bytes("AWSDynamoDB/x/_started") == b""
    assert location.read_bytes("buf") == b"from a buffer"


def test_write_bytes_replaces_and_creates_parents(location):
    location.write_bytes(b"old", "a/b/c/file")
    location.write_bytes(b"new", "a/b/c/file")
    assert location.read_bytes("a/b/c/file") == b"new"
    assert all_files(location) == ["a/b/c/file"]


def test_reading_a_missing_file_is_file_not_found(location):
    with pytest.raises(FileNotFoundError):
        location.read_bytes("nope.json.gz")


def test_a_failing_write_bytes_leaves_no_temporary_file(location):
    location.write_bytes(b"keep", "target", "inner")  # "target" is a directory: the final move fails
    with pytest.raises(OSError):
        location.write_bytes(b"data", "target")
    assert all_files(location) == ["target/inner"]
    assert location.read_bytes("target/inner") == b"keep"


# -- parquet ------------------------------------------------------------------------------------


def test_write_parquet_round_trips_and_replaces(location):
    location.write_parquet(pa.table({"x": [1, 2, 3], "s": ["a", "b", None]}), "zone/day.parquet")
    assert location.read_parquet("zone/day.parquet").to_pydict() == {"x": [1, 2, 3], "s": ["a", "b", None]}
    location.write_parquet(pa.table({"x": [4]}), "zone/day.parquet")
    assert location.read_parquet("zone/day.parquet").to_pydict() == {"x": [4]}
    assert location.read_parquet("zone/day.parquet", columns=["x"]).column_names == ["x"]
    assert all_files(location) == ["zone/day.parquet"]  # no ".tmp" (hidden or not) left behind


def test_write_parquet_uses_the_requested_compression(location):
    table = pa.table({"x": list(range(100))})
    location.write_parquet(table, "default.parquet")
    location.write_parquet(table, "snappy.parquet", compression="snappy")
    assert location.parquet_file("default.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    assert location.parquet_file("snappy.parquet").metadata.row_group(0).column(0).compression == "SNAPPY"


def test_a_failing_parquet_write_leaves_the_old_file_intact(location):
    location.write_parquet(pa.table({"x": [1, 2]}), "zone/day.parquet")
    before = location.read_bytes("zone/day.parquet")
    # Parquet has no month_day_nano_interval type: the write fails.
    unwritable = pa.table({"i": pa.array([(1, 2, 3)], type=pa.month_day_nano_interval())})
    with pytest.raises(pa.ArrowException):
        location.write_parquet(unwritable, "zone/day.parquet")
    with pytest.raises(pa.ArrowException):
        location.write_parquet(pa.table({"x": [9]}), "zone/day.parquet", compression="no-such-codec")
    assert location.read_bytes("zone/day.parquet") == before
    assert location.read_parquet("zone/day.parquet").to_pydict() == {"x": [1, 2]}
    assert all_files(location) == ["zone/day.parquet"]


def test_a_parquet_write_that_fails_after_the_temporary_file_exists_cleans_it_up(location):
    location.write_bytes(b"keep", "zone/day.parquet/inner")  # a directory in the way of the final move
    with pytest.raises(OSError):
        location.write_parquet(pa.table({"x": [1]}), "zone/day.parquet")
    assert all_files(location) == ["zone/day.parquet/inner"]


def test_streamed_parquet_writer_is_invisible_until_it_commits(location):
    schema = pa.schema([("x", pa.int64())])
    location.write_parquet(pa.table({"x": [0]}), "z/one.parquet")
    with location.open_parquet_writer(schema, "z/one.parquet") as writer:
        writer.write(pa.record_batch([pa.array([1, 2])], schema=schema))
        writer.write(pa.table({"x": [3]}))
        # Mid-write, readers still see the previous complete file; the new one is a hidden temp.
        assert location.read_parquet("z/one.parquet").to_pydict() == {"x": [0]}
        [temporary] = leftovers(location)
        assert os.path.dirname(temporary) == "z" and os.path.basename(temporary).startswith(".one.parquet.")
    assert writer.rows == 3
    assert location.read_parquet("z/one.parquet").to_pydict() == {"x": [1, 2, 3]}
    assert all_files(location) == ["z/one.parquet"]


def test_streamed_parquet_writer_discards_everything_on_error(location):
    schema = pa.schema([("x", pa.int64())])
    location.write_parquet(pa.table({"x": [1, 2, 3]}), "z/one.parquet")
    with pytest.raises(RuntimeError, match="crash mid-write"):
        with location.open_parquet_writer(schema, "z/one.parquet") as writer:
            writer.write(pa.table({"x": [9]}))
            raise RuntimeError("crash mid-write")
    assert location.read_parquet("z/one.parquet").to_pydict() == {"x": [1, 2, 3]}
    assert all_files(location) == ["z/one.parquet"]
    with pytest.raises(RuntimeError):
        with location.open_parquet_writer(schema, "z/new.parquet") as writer:
            writer.write(pa.table({"x": [9]}))
            raise RuntimeError("crash before the first commit")
    assert not location.exists("z/new.parquet")
    assert all_files(location) == ["z/one.parquet"]


def test_a_batch_that_fails_in_the_background_fails_the_write_and_commits_nothing(location):
    schema = pa.schema([("x", pa.int64())])
    location.write_parquet(pa.table({"x": [1, 2, 3]}), "z/one.parquet")
    with pytest.raises(ValueError, match="schema"):
        with location.open_parquet_writer(schema, "z/one.parquet") as writer:
            writer.write(pa.table({"x": [4]}))
            writer.write(pa.table({"y": ["not the file's schema"]}))  # fails on the writer's thread
    assert location.read_parquet("z/one.parquet").to_pydict() == {"x": [1, 2, 3]}
    assert all_files(location) == ["z/one.parquet"]


def test_streamed_parquet_writer_creates_parent_directories(location):
    schema = pa.schema([("x", pa.int64())])
    with location.open_parquet_writer(schema, "a/year=2025/month=01/day=02/f.parquet") as writer:
        writer.write(pa.table({"x": [1]}))
    assert pq.read_table(location.path("a/year=2025/month=01/day=02/f.parquet")).num_rows == 1


def test_streamed_parquet_writer_on_s3_builds_the_file_on_disk_not_in_memory(s3_bucket, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "work"))
    os.makedirs(tmp_path / "work")
    location = Location(f"s3://{s3_bucket}/base")
    schema = pa.schema([("blob", pa.binary())])
    location.write_parquet(pa.table({"blob": [b"old"]}), "z/one.parquet")
    batch = pa.table({"blob": [os.urandom(1 << 10) for _ in range(1 << 10)]})  # 1 MB that does not compress
    allocated = []
    with location.open_parquet_writer(schema, "z/one.parquet", compression="none") as writer:
        for _ in range(24):
            writer.write(batch)
            allocated.append(pa.total_allocated_bytes())
        # Mid-write, readers still see the previous object; the new file grows on local disk.
        assert location.read_parquet("z/one.parquet").column("blob").to_pylist() == [b"old"]
        [building] = [os.path.join(folder, name) for folder, _, names in os.walk(tmp_path / "work") for name in names]
        assert os.path.getsize(building) >= 20 << 20
    # Arrow holds a batch or two, not the 24 MB file built so far (it did, in an output buffer).
    assert max(allocated) - allocated[0] < 8 << 20
    assert location.parquet_file("z/one.parquet").metadata.num_rows == 24 << 10
    assert os.listdir(tmp_path / "work") == []
    with pytest.raises(RuntimeError, match="crash mid-write"):
        with location.open_parquet_writer(schema, "z/one.parquet") as writer:
            writer.write(batch)
            raise RuntimeError("crash mid-write")
    assert location.parquet_file("z/one.parquet").metadata.num_rows == 24 << 10
    assert os.listdir(tmp_path / "work") == []


# -- listings, existence, deletion ---------------------------------------------------------------


def test_list_dirs_names_only_direct_subdirectories(location):
    location.write_bytes(b"1", "AWSDynamoDB/exp-b/manifest-summary.json")
    location.write_bytes(b"2", "AWSDynamoDB/exp-a/_started")
    location.write_bytes(b"3", "AWSDynamoDB/data/x.json.gz")
    location.write_bytes(b"4", "AWSDynamoDB/loose-file")
    assert location.list_dirs("AWSDynamoDB") == ["data", "exp-a", "exp-b"]  # sorted, files left out
    assert location.list_dirs() == ["AWSDynamoDB"]
    assert location.list_dirs("AWSDynamoDB", "exp-a") == []
    assert location.list_dirs("missing") == []
    assert location.list_dirs("missing", "deeper") == []


def test_list_files_gives_paths_relative_to_the_location(location):
    location.write_bytes(b"1", "d1/f")
    location.write_bytes(b"2", "d2/sub/g")
    location.write_bytes(b"3", "d2/h")
    location.write_bytes(b"4", "top")
    assert location.list_files() == ["top"]
    assert location.list_files("d2") == ["d2/h"]  # non-recursive: no sub-directory contents
    assert location.list_files("d2", recursive=True) == ["d2/h", "d2/sub/g"]
    assert location.list_files(recursive=True) == ["d1/f", "d2/h", "d2/sub/g", "top"]
    assert location.list_files("d2", "sub") == ["d2/sub/g"]
    assert location.list_files("missing") == [] and location.list_files("missing", recursive=True) == []
    assert Location(location.path("d2")).list_files(recursive=True) == ["h", "sub/g"]


def test_exists_for_files_directories_and_missing_paths(location):
    location.write_bytes(b"1", "d1/f")
    assert location.exists("d1/f") and location.exists("d1", "f")
    assert location.exists("d1")
    assert not location.exists("d1/nope") and not location.exists("nowhere", "f")


def test_delete_removes_a_file_and_tolerates_a_missing_one(location):
    location.write_bytes(b"1", "d1/f")
    location.write_bytes(b"2", "d1/g")
    location.delete("d1/f")
    assert not location.exists("d1/f") and location.exists("d1/g")
    location.delete("d1/f")  # deleting twice is fine
    location.delete("never", "there")
    assert all_files(location) == ["d1/g"]


def test_delete_refuses_to_remove_a_directory(location):
    location.write_bytes(b"1", "d1/f")
    with pytest.raises(OSError):
        location.delete("d1")
    assert location.read_bytes("d1/f") == b"1"


def test_delete_dir_removes_a_whole_tree_and_tolerates_a_missing_one(location):
    location.write_bytes(b"1", "zone/year=2025/month=01/day=01/a.parquet")
    location.write_bytes(b"2", "zone/year=2025/month=01/day=02/b.parquet")
    location.write_bytes(b"3", "other/c")
    location.delete_dir("zone", "year=2025", "month=01", "day=01")
    assert location.list_files("zone", recursive=True) == ["zone/year=2025/month=01/day=02/b.parquet"]
    location.delete_dir("zone")
    location.delete_dir("zone")
    assert all_files(location) == ["other/c"]


# -- compare-and-swap ---------------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def any_location(request, tmp_path):
    """A local directory, and a prefix on the local S3 endpoint (S3's conditional requests)."""
    if request.param == "local":
        return Location(str(tmp_path / "base"))
    return Location(f"s3://{request.getfixturevalue('s3_bucket')}/base")


def test_replace_if_unchanged_replaces_only_the_version_read(any_location):
    any_location.write_bytes(b"first", "d/f")
    data, version = any_location.read_versioned("d/f")
    assert data == b"first"
    any_location.write_bytes(b"another writer's", "d/f")
    assert not any_location.replace_if_unchanged(b"mine", "d/f", version=version)
    assert any_location.read_bytes("d/f") == b"another writer's"
    _, version = any_location.read_versioned("d/f")
    assert any_location.replace_if_unchanged(b"mine", "d/f", version=version)
    assert any_location.read_bytes("d/f") == b"mine"
    assert any_location.list_files("d") == ["d/f"]  # no temporary file left, either way


def test_replace_if_unchanged_does_not_bring_back_a_deleted_object(any_location):
    any_location.write_bytes(b"first", "d/f")
    _, version = any_location.read_versioned("d/f")
    any_location.delete("d/f")
    assert not any_location.replace_if_unchanged(b"mine", "d/f", version=version)
    assert not any_location.exists("d/f")


def test_delete_if_unchanged_deletes_only_the_version_read(any_location):
    any_location.write_bytes(b"first", "d/f")
    _, version = any_location.read_versioned("d/f")
    any_location.write_bytes(b"another writer's", "d/f")
    assert not any_location.delete_if_unchanged("d/f", version=version)
    assert any_location.read_bytes("d/f") == b"another writer's"
    _, version = any_location.read_versioned("d/f")
    assert any_location.delete_if_unchanged("d/f", version=version)
    assert not any_location.exists("d/f")
    assert not any_location.delete_if_unchanged("d/f", version=version)  # gone already


def test_reading_a_missing_version_is_file_not_found(any_location):
    with pytest.raises(FileNotFoundError):
        any_location.read_versioned("d/missing")


def test_rewrite_changes_again_what_another_writer_replaced_meanwhile(any_location):
    any_location.write_bytes(b"a", "d/f")
    seen = []

    def append_x(data: bytes) -> Rewrite[int]:
        seen.append(data)
        if len(seen) == 1:  # another writer replaces the object between this read and its write
            any_location.write_bytes(b"a,b", "d/f")
        return Rewrite(len(seen), data + b",x")

    assert any_location.rewrite(append_x, "d/f") == 2
    assert seen == [b"a", b"a,b"]
    assert any_location.read_bytes("d/f") == b"a,b,x"  # the other writer's version kept, and changed


def test_rewrite_deletes_leaves_alone_or_finds_nothing(any_location):
    any_location.write_bytes(b"a", "d/f")
    assert any_location.rewrite(lambda data: Rewrite("as is"), "d/f") == "as is"
    assert any_location.read_bytes("d/f") == b"a"
    assert any_location.rewrite(lambda data: Rewrite("gone", delete=True), "d/f") == "gone"
    assert not any_location.exists("d/f")
    assert any_location.rewrite(lambda data: Rewrite("never called", b"x"), "d/f") is None


def test_rewrite_gives_up_on_an_object_that_keeps_changing(any_location, monkeypatch):
    monkeypatch.setattr(storage, "REWRITE_ATTEMPTS", 3)
    any_location.write_bytes(b"0", "d/f")

    def contended(data: bytes) -> Rewrite[None]:
        any_location.write_bytes(data + b"+", "d/f")  # another writer, every time
        return Rewrite(None, b"mine")

    with pytest.raises(RuntimeError, match="changed 3 times"):
        any_location.rewrite(contended, "d/f")
    assert any_location.read_bytes("d/f") == b"0+++"


def test_rewrite_streamed_goes_from_file_to_file_and_leaves_no_copy(any_location, monkeypatch, tmp_path):
    # A day file too large to hold twice: the version read is a file (an S3 object copied to
    # disk past SPOOL_BYTES), the new one a local file put in place only if nobody replaced it.
    monkeypatch.setattr(storage, "SPOOL_BYTES", 4)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    any_location.write_bytes(b"a" * 64, "d/f")
    seen = []

    def upper(source: pa.NativeFile, sink: str) -> Rewrite[int]:
        seen.append(source.read())
        if len(seen) == 1:  # another writer replaces the object between this read and its write
            any_location.write_bytes(b"b" * 64, "d/f")
        with open(sink, "wb") as new:
            new.write(seen[-1].upper())
        return Rewrite(len(seen), written=True)

    assert any_location.rewrite_streamed(upper, "d/f") == 2
    assert seen == [b"a" * 64, b"b" * 64] and any_location.read_bytes("d/f") == b"B" * 64

    def fails(source: pa.NativeFile, sink: str) -> Rewrite[None]:
        with open(sink, "wb") as new:
            new.write(b"half")
        raise ValueError("a change that fails")

    with pytest.raises(ValueError, match="a change that fails"):
        any_location.rewrite_streamed(fails, "d/f")
    assert any_location.read_bytes("d/f") == b"B" * 64
    assert any_location.list_files("d") == ["d/f"] and list((tmp_path / "scratch").iterdir()) == []  # no sink, no work directory


def test_rewrite_streamed_finds_nothing_when_the_directory_goes_meanwhile(location):
    # Retention deletes the day's directory while forget-user writes its new file beside the
    # old one: there is nothing left to rewrite, and nothing is brought back.
    location.write_bytes(b"a", "d/f")

    def directory_deleted_then_written(source: pa.NativeFile, sink: str) -> Rewrite[str]:
        location.delete_dir("d")
        with open(sink, "wb") as new:
            new.write(b"b")
        return Rewrite("written", written=True)

    assert location.rewrite_streamed(directory_deleted_then_written, "d/f") is None
    assert not location.exists("d")


def test_delete_dir_empties_again_a_directory_another_writer_starts_a_file_in(location):
    # forget-user writes its new day file beside the old one while retention deletes the day.
    location.write_bytes(b"old", "day/f")
    local, started = location.filesystem, []

    class WriterMeanwhile:
        def __getattr__(self, name):
            return getattr(local, name)

        def delete_dir(self, path):
            if started:
                return local.delete_dir(path)
            # pyarrow's steps, with the file appearing between the emptying and the removal.
            local.delete_dir_contents(path)
            started.append(location.path("day", ".f.new.tmp"))
            with open(started[0], "wb") as sink:
                sink.write(b"new")
            os.rmdir(path)  # OSError: directory not empty

    location.__dict__["filesystem"] = WriterMeanwhile()  # the cached_property's slot
    location.delete_dir("day")
    assert started and not location.exists("day")


def test_a_local_replacement_waits_for_a_compare_and_swap_under_way(location):
    # Between a compare-and-swap's comparison and its rename, no other writer may replace the
    # file: both hold the directory's lock.
    location.write_bytes(b"first", "d/f")
    done = threading.Event()
    writer = threading.Thread(target=lambda: (location.write_bytes(b"another writer's", "d/f"), done.set()))
    with storage._directory_locked(location.path("d")):
        writer.start()
        assert not done.wait(0.5)
        assert location.read_bytes("d/f") == b"first"
    writer.join()
    assert location.read_bytes("d/f") == b"another writer's"


# -- naming -------------------------------------------------------------------------------------


def test_local_paths_and_children(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = Location("lake")
    assert not relative.is_s3 and relative.root == str(tmp_path / "lake")
    assert relative.path() == relative.root and relative.path("a", "b") == str(tmp_path / "lake" / "a" / "b")
    assert relative.uri("a") == relative.path("a")
    assert relative.child("exports").root == str(tmp_path / "lake" / "exports")
    relative.child("exports").write_bytes(b"x", "f")
    assert relative.read_bytes("exports/f") == b"x"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Location("~/lake").root == str(tmp_path / "home" / "lake")


def test_s3_urls_name_bucket_and_prefix_without_touching_the_network():
    location = Location("s3://bucket/pre/")
    assert location.is_s3 and location.root == "bucket/pre"
    assert location.path("a", "b.json") == "bucket/pre/a/b.json"
    assert location.uri("x") == "s3://bucket/pre/x" and location.uri() == "s3://bucket/pre"
    assert location.child("exports", "AWSDynamoDB") == Location("s3://bucket/pre/exports/AWSDynamoDB")
    assert Location("s3://bucket").path("k") == "bucket/k"


# -- iter_lines ---------------------------------------------------------------------------------

SAMPLE = b"first line\nsecond\n\nlast without newline"


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 11, 64, 1 << 20])
def test_iter_lines_across_chunk_boundaries(chunk_size):
    stream = pa.PythonFile(io.BytesIO(SAMPLE), mode="r")
    assert list(iter_lines(stream, chunk_size=chunk_size)) == [b"first line", b"second", b"", b"last without newline"]


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"", []),
        (b"\n", [b""]),
        (b"one", [b"one"]),
        (b"one\n", [b"one"]),  # a final newline ends the last line; it does not add an empty one
        (b"one\ntwo\n", [b"one", b"two"]),
        (b"\n\nx", [b"", b"", b"x"]),
        (b"crlf\r\nline", [b"crlf\r", b"line"]),
    ],
)
@pytest.mark.parametrize("chunk_size", [1, 4, 1 << 20])
def test_iter_lines_edge_cases(data, lines, chunk_size):
    assert list(iter_lines(io.BytesIO(data), chunk_size=chunk_size)) == lines


def test_iter_lines_handles_a_line_much_longer_than_a_chunk():
    long_line = b"x" * 10_000
    data = b"short\n" + long_line + b"\n" + long_line
    assert list(iter_lines(io.BytesIO(data), chunk_size=16)) == [b"short", long_line, long_line]


def test_iter_lines_streams_instead_of_reading_everything():
    data = b"".join(b"line %d\n" % i for i in range(10_000))
    stream = io.BytesIO(data)
    lines = iter_lines(stream, chunk_size=64)
    assert next(lines) == b"line 0"
    assert stream.tell() <= 64  # only the first chunk has been read
    assert sum(1 for _ in lines) == 9_999


def test_iter_lines_over_a_gzip_stream_and_a_stored_file(location):
    data = b"".join(b'{"Item":{"n":{"N":"%d"}}}\n' % i for i in range(2000))
    location.write_bytes(gzip.compress(data), "d/x.json.gz")
    with location.open_input("d/x.json.gz") as raw, gzip.GzipFile(fileobj=raw) as stream:
        lines = list(iter_lines(stream, chunk_size=1000))
    assert lines == data.splitlines()
    with location.open_input("d/x.json.gz") as raw:  # the stored object itself is still gzip
        assert raw.read(2) == b"\x1f\x8b"


@settings(deadline=None, max_examples=200)
@given(st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=12), st.booleans(), st.integers(1, 20))
def test_iter_lines_property(lines, trailing_newline, chunk_size):
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # nothing after the final newline
    assert list(iter_lines(io.BytesIO(data), chunk_size=chunk_size)) == expected


def test_rolling_parquet_files_roll_per_key_and_cap_open_files(tmp_path):
    files = RollingParquetFiles(lambda key, part: str(tmp_path / f"{key}-{part}.parquet"), row_groups_per_file=2, max_open=2)
    # Keys take turns: "c" opening closes "a" (the longest open), whose next table starts a file
    # and closes "b"; "b" then goes on in a file of its own, with its first table's schema.
    for key, value in [("a", 1), ("a", 2), ("a", 3), ("b", 4), ("c", 5), ("a", 6)]:
        files.write(key, pa.table({"v": [value, value]}))
    files.write("b", pa.table({"v": pa.array([7], pa.int32())}))  # cast to the key's first schema
    files.close()
    assert {key: [os.path.basename(p) for p in paths] for key, paths in files.files.items()} == {
        "a": ["a-0.parquet", "a-1.parquet", "a-2.parquet"], "b": ["b-0.parquet", "b-1.parquet"], "c": ["c-0.parquet"]}
    contents = {p: pq.read_table(p) for paths in files.files.values() for p in paths}
    assert [contents[p].column("v").to_pylist() for p in files.files["a"]] == [[1, 1, 2, 2], [3, 3], [6, 6]]
    assert [pq.ParquetFile(p).num_row_groups for p in files.files["a"]] == [2, 1, 1]
    assert [contents[p].column("v").to_pylist() for p in files.files["b"]] == [[4, 4], [7]]
    assert contents[files.files["b"][1]].schema.field("v").type == pa.int64()


def test_rolling_parquet_files_count_row_groups_not_tables_and_pass_writer_options(tmp_path):
    files = RollingParquetFiles(lambda key, part: str(tmp_path / f"{key}-{part}.parquet"), row_groups_per_file=2, max_open=4,
                                row_group_rows=2, compression="zstd", write_statistics=False)
    files.write("a", pa.table({"v": [1, 2, 3]}))  # two row groups: the file is full
    files.write("a", pa.table({"v": [4]}))
    files.close()
    first, second = files.files["a"]
    assert [pq.ParquetFile(p).metadata.row_group(i).num_rows for p in (first, second) for i in range(pq.ParquetFile(p).num_row_groups)] == [2, 1, 1]
    column = pq.ParquetFile(first).metadata.row_group(0).column(0)
    assert column.compression == "ZSTD" and not column.is_stats_set
