"""One file-system layer for a local directory and ``s3://bucket/prefix``, on pyarrow's filesystems.

Everything the pipeline reads or writes (exports, the lake, quarantine) goes through a
``Location``, so local runs and AWS runs share one code path and differ only in the URL.
Writes are atomic per object: the bytes go to a temporary name beside the target and are then
moved into place, so a reader sees either the previous complete object or the new one. A
read-modify-write that must not overwrite another writer's newer version (``Location.rewrite``)
is a compare-and-swap: S3's conditional requests (``If-Match`` with the ETag read), and locally
a lock on the directory that every replacement in it takes.
"""

from __future__ import annotations

import fcntl
import os
import posixpath
import re
import tempfile
import uuid
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Generic, TypeVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from recipe_pipeline.aws_clients import aws_client

T = TypeVar("T")


def s3_filesystem() -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem, honouring boto3's ``AWS_ENDPOINT_URL`` (tests point it at a
    local endpoint) and the standard region variables."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # Throttling (503 SlowDown) and 5xx are retried with AWS's standard backoff; 8 attempts ride
    # out a short brownout, permanent errors (403, 404 bucket) still fail at once.
    kwargs: dict = {"region": region, "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=8)}
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
    return pafs.S3FileSystem(**kwargs)


def parquet_bytes(table: pa.Table, compression: str = "zstd") -> pa.Buffer:
    """``table`` as the bytes of a Parquet file."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=compression)
    return sink.getvalue()


@contextmanager
def _directory_locked(directory: str) -> Iterator[None]:
    """An exclusive lock on a local directory (``flock`` on its descriptor; released when it is
    closed), held by everything that replaces or deletes a file in it: a compare-and-swap holds
    it from its comparison to its rename, so no other replacement falls in between."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _local_version(stat: os.stat_result) -> str:
    # Every write is a new file renamed into place: a new inode, and new times.
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


# S3's answers to a conditional request whose condition does not hold: changed (412), replaced
# concurrently (409), or gone (404).
_S3_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"}


@dataclass(frozen=True)
class Rewrite(Generic[T]):
    """What a change made of an object (``Location.rewrite``): the ``result`` to return, and the
    new ``data`` (None leaves the object as it is), or ``written`` (``rewrite_streamed``: the
    change wrote the new object to the local file it was given), or ``delete``."""

    result: T
    data: bytes | pa.Buffer | None = None
    delete: bool = False
    written: bool = False


# User metadata (x-amz-meta-…) naming the conditional write that put an object.
_WRITE_ID = "recipe-pipeline-write-id"

# Attempts of one read-modify-write before giving up on an object that keeps changing.
REWRITE_ATTEMPTS = 20
# An S3 object read for a compare-and-swap stays in memory up to this size, else goes to disk.
SPOOL_BYTES = 8 << 20
# Parts of a multipart upload to S3 (two in flight at a time: what an upload adds to memory).
UPLOAD_PART_BYTES = 16 << 20
# Passes of a local directory's deletion while other writers start files in it.
DELETE_DIR_ATTEMPTS = 5

# How ``_tmp_path`` names a file being written.
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")


@dataclass(frozen=True)
class Location:
    """A directory-like place: a local path or an S3 prefix."""

    url: str

    @cached_property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        return s3_filesystem() if self.is_s3 else pafs.LocalFileSystem()

    @cached_property
    def root(self) -> str:
        """The base path as the filesystem names it (``bucket/prefix`` on S3)."""
        if self.is_s3:
            return self.url[len("s3://") :].rstrip("/")
        return os.path.abspath(os.path.expanduser(self.url))

    def child(self, *parts: str) -> Location:
        suffix = posixpath.join(*parts)
        return Location(self.url.rstrip("/") + "/" + suffix if self.is_s3 else os.path.join(self.root, suffix))

    def path(self, *parts: str) -> str:
        """Filesystem path of ``parts`` below this location."""
        return posixpath.join(self.root, *parts) if parts else self.root

    def uri(self, *parts: str) -> str:
        """A URI for ``parts`` below this location (what DuckDB, Athena and users are shown)."""
        return "s3://" + self.path(*parts) if self.is_s3 else self.path(*parts)

    def require_bucket(self) -> None:
        """On S3, fail (NoSuchBucket) when the bucket itself is missing: a listing of a missing
        bucket is otherwise indistinguishable from an empty prefix."""
        if self.is_s3:
            bucket = self.root.split("/", 1)[0]
            if self.filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise FileNotFoundError(f"NoSuchBucket: the bucket {bucket!r} of {self.url} does not exist")

    # -- reading -----------------------------------------------------------------------------
    def exists(self, *parts: str) -> bool:
        return self.filesystem.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def read_bytes(self, *parts: str) -> bytes:
        # compression=None: bytes as stored (pyarrow would otherwise gunzip "*.gz" on the fly).
        with self.filesystem.open_input_stream(self.path(*parts), compression=None) as stream:
            return stream.read()

    def read_versioned(self, *parts: str) -> tuple[bytes, str]:
        """The object's bytes and a token of that version of it, from one read (S3's ETag;
        locally its inode, size and times), for ``replace_if_unchanged``."""
        with self.opened_version(*parts) as opened:
            if opened is None:
                raise FileNotFoundError(self.uri(*parts))
            file, version = opened
            return file.read(), version

    @contextmanager
    def opened_version(self, *parts: str) -> Iterator[tuple[pa.NativeFile, str] | None]:
        """One version of the object, as a random-access file, and its token (see
        ``read_versioned``); None if there is no object. Never held in memory whole: an S3
        object is copied to local disk as it arrives (kept in memory up to ``SPOOL_BYTES``), and
        a local file is read in place (replacements are renames, so it stays this version)."""
        if self.is_s3:
            bucket, key = self._bucket_key(parts)
            try:
                response = self._s3.get_object(Bucket=bucket, Key=key)
            except self._s3.exceptions.NoSuchKey:
                yield None
                return
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as copy:
                try:
                    for chunk in response["Body"].iter_chunks(1 << 20):
                        copy.write(chunk)
                finally:
                    response["Body"].close()  # however the read ends
                copy.seek(0)
                yield pa.PythonFile(copy, mode="r"), response["ETag"]
            return
        try:
            file = open(self.path(*parts), "rb")
        except FileNotFoundError:
            yield None
            return
        with file:
            yield pa.PythonFile(file, mode="r"), _local_version(os.fstat(file.fileno()))

    def open_input(self, *parts: str) -> pa.NativeFile:
        return self.filesystem.open_input_stream(self.path(*parts), compression=None)

    def list_dirs(self, *parts: str) -> list[str]:
        """Names of the sub-directories directly below ``parts`` (empty if it does not exist)."""
        selector = pafs.FileSelector(self.path(*parts), allow_not_found=True, recursive=False)
        return sorted(
            posixpath.basename(info.path)
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.Directory
        )

    def list_files(self, *parts: str, recursive: bool = False) -> list[str]:
        """Paths (relative to this location) of the files below ``parts``."""
        return sorted(path for path, _ in self._files(*parts, recursive=recursive))

    def _files(self, *parts: str, recursive: bool) -> Iterator[tuple[str, pafs.FileInfo]]:
        """The files below ``parts``: each one's path relative to this location, and its info."""
        selector = pafs.FileSelector(self.path(*parts), allow_not_found=True, recursive=recursive)
        prefix = self.root.rstrip("/") + "/"
        for info in self.filesystem.get_file_info(selector):
            if info.type == pafs.FileType.File:
                yield (info.path[len(prefix) :] if info.path.startswith(prefix) else info.path), info

    def last_modified(self, *parts: str) -> datetime | None:
        """When the newest file below ``parts`` was written (S3's LastModified). With no file
        below, when its directories last changed (a local lake's, left by an upload that failed);
        None if there is nothing with a time (S3's directory markers have none: the bucket's
        lifecycle rules expire them)."""
        selector = pafs.FileSelector(self.path(*parts), allow_not_found=True, recursive=True)
        infos = self.filesystem.get_file_info(selector)
        times = [info.mtime for info in infos if info.type == pafs.FileType.File and info.mtime]
        if not times:
            infos.append(self.filesystem.get_file_info(self.path(*parts)))
            times = [info.mtime for info in infos if info.type == pafs.FileType.Directory and info.mtime]
        return max(times).astimezone(UTC) if times else None

    def read_parquet(self, *parts: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.path(*parts), filesystem=self.filesystem, columns=columns)

    def parquet_file(self, *parts: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.path(*parts), filesystem=self.filesystem)

    # -- writing -----------------------------------------------------------------------------
    @contextmanager
    def local_file(self, *parts: str) -> Iterator[str]:
        """A local path to read the file at: itself on a local lake; on S3, a temporary copy
        streamed to disk (for engines such as DuckDB that read files natively, within a memory
        limit, but cannot reach S3 here)."""
        if not self.is_s3:
            yield self.path(*parts)
            return
        with tempfile.TemporaryDirectory(prefix="lake-copy-") as work:
            local = os.path.join(work, parts[-1].rsplit("/", 1)[-1])
            pafs.copy_files(self.path(*parts), local, source_filesystem=self.filesystem, destination_filesystem=pafs.LocalFileSystem())
            yield local

    def ensure_dir(self, *parts: str) -> None:
        if not self.is_s3:  # S3 has no directories to create
            self.filesystem.create_dir(self.path(*parts), recursive=True)

    def _prepare(self, parts: tuple[str, ...]) -> str:
        """The final path for ``parts``, with its local parent directory created."""
        final = self.path(*parts)
        if not self.is_s3:
            self.filesystem.create_dir(posixpath.dirname(final), recursive=True)
        return final

    def _commit(self, tmp: str, final: str) -> None:
        with _directory_locked(posixpath.dirname(final)):  # never inside a compare-and-swap
            self.filesystem.move(tmp, final)  # an atomic rename on a local disk

    def _tmp_path(self, final: str) -> str:
        head, tail = posixpath.split(final)
        # A leading "." keeps half-written files invisible to Athena and Hive-style globbing.
        return posixpath.join(head, f".{tail}.{uuid.uuid4().hex}.tmp")

    def stale_temp_files(self, written_before: datetime) -> list[str]:
        """Temporary files (``_tmp_path``) last written before ``written_before``: what a writer
        killed mid-write left beside its target (a day run, forget-user's new file). A writer at
        work keeps its file's time current. Only a local lake has them: an S3 write is one
        request, or a multipart upload the lifecycle rules abort."""
        if self.is_s3:
            return []
        return sorted(
            path for path, info in self._files(recursive=True)
            if _TEMP_NAME.fullmatch(posixpath.basename(path)) and info.mtime is not None and info.mtime.astimezone(UTC) < written_before
        )

    def write_bytes(self, data: bytes | pa.Buffer, *parts: str) -> None:
        final = self._prepare(parts)
        if self.is_s3:
            # One PUT replaces an S3 object atomically; a temporary key + copy + delete would
            # cost more and leave pyarrow's empty "directory" marker objects behind.
            with self.filesystem.open_output_stream(final, compression=None) as stream:
                stream.write(data)
            return
        tmp = self._tmp_path(final)
        try:
            with self.filesystem.open_output_stream(tmp, compression=None) as stream:
                stream.write(data)
            self._commit(tmp, final)
        except BaseException:
            self._delete_quietly(tmp)
            raise

    def put_file(self, local_path: str, *parts: str) -> None:
        """Copy a local file into place, streamed: on S3 a multipart upload, which, like one PUT,
        makes the object appear whole or not at all; locally a temporary name and a rename."""
        final = self._prepare(parts)
        if self.is_s3:
            from boto3.s3.transfer import TransferConfig

            # boto3's managed upload aborts the multipart upload if a part fails. pyarrow's S3
            # stream completes whatever it holds when closed, even on an error (apache/arrow#40502),
            # which could make half a file appear.
            bucket, key = self._bucket_key(parts)
            config = TransferConfig(multipart_threshold=UPLOAD_PART_BYTES, multipart_chunksize=UPLOAD_PART_BYTES, max_concurrency=2)
            self._s3.upload_file(local_path, bucket, key, Config=config)
            return
        target = self._tmp_path(final)
        try:
            pafs.copy_files(local_path, target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.filesystem)
            self._commit(target, final)
        except BaseException:
            self._delete_quietly(target)
            raise

    def write_parquet(self, table: pa.Table, *parts: str, compression: str = "zstd") -> None:
        if self.is_s3:
            self.write_bytes(parquet_bytes(table, compression), *parts)
            return
        final = self._prepare(parts)
        tmp = self._tmp_path(final)
        try:
            pq.write_table(table, tmp, filesystem=self.filesystem, compression=compression)
            self._commit(tmp, final)
        except BaseException:
            self._delete_quietly(tmp)
            raise

    def open_parquet_writer(self, schema: pa.Schema, *parts: str, compression: str = "zstd",
                            audit: Callable[[str], None] | None = None) -> AtomicParquetWriter:
        """A streamed, atomic Parquet write (``AtomicParquetWriter``); ``audit``, given the
        finished file's local path, may raise to have it abandoned instead of published."""
        new_directory = not self.is_s3 and self.filesystem.get_file_info(posixpath.dirname(self.path(*parts))).type == pafs.FileType.NotFound
        writer = AtomicParquetWriter(self, self._prepare(parts), schema, compression, audit)
        writer.new_directory = new_directory
        return writer

    def delete_dir(self, *parts: str) -> None:
        """Delete a directory (an S3 prefix) and everything below it; missing is fine.

        Locally, a file another writer starts meanwhile (forget-user's new day file, written
        beside the old one) makes the last step fail with "directory not empty": the directory
        is emptied again, up to ``DELETE_DIR_ATTEMPTS`` times. That writer's compare-and-swap
        then finds the file gone and puts nothing back."""
        path = self.path(*parts)
        for attempt in range(1, DELETE_DIR_ATTEMPTS + 1):
            if self.filesystem.get_file_info(path).type == pafs.FileType.NotFound:
                return
            try:
                self.filesystem.delete_dir(path)
                return
            except OSError:
                if self.is_s3 or attempt == DELETE_DIR_ATTEMPTS:
                    raise

    def delete(self, *parts: str) -> None:
        path = self.path(*parts)
        if self.is_s3:
            self._delete_quietly(path)
            return
        try:
            with _directory_locked(posixpath.dirname(path)):
                self._delete_quietly(path)
        except FileNotFoundError:  # no directory, no file
            pass

    # -- compare-and-swap ----------------------------------------------------------------------
    def replace_if_unchanged(self, data: bytes | pa.Buffer, *parts: str, version: str) -> bool:
        """Replace the object with ``data`` if it is still the ``version`` read
        (``read_versioned``); False, writing nothing, if another writer replaced or deleted it."""
        if self.is_s3:
            return self._s3_put_if_unchanged(parts, pa.BufferReader(data) if isinstance(data, pa.Buffer) else data, version)  # not copied again
        final = self.path(*parts)  # not re-created if it went (retention): the comparison fails
        tmp = self._tmp_path(final)
        try:
            with self.filesystem.open_output_stream(tmp, compression=None) as stream:
                stream.write(data)
        except FileNotFoundError:  # its directory is gone
            return False
        return self._move_if_unchanged(tmp, final, version)

    def _put_file_if_unchanged(self, local_path: str, parts: tuple[str, ...], version: str) -> bool:
        """``replace_if_unchanged`` with the new object in a local file (``rewrite_streamed``'s
        sink: beside the target locally, moved into place)."""
        if not self.is_s3:
            return self._move_if_unchanged(local_path, self.path(*parts), version)
        with open(local_path, "rb") as body:  # streamed; botocore rewinds it for a retry
            return self._s3_put_if_unchanged(parts, body, version)

    def _s3_put_if_unchanged(self, parts: tuple[str, ...], body, version: str) -> bool:
        bucket, key = self._bucket_key(parts)
        # Tagged, so that a request botocore sent again (its answer lost) can tell its own
        # write, which it finds changed, from another writer's.
        write_id = uuid.uuid4().hex
        return self._s3_conditionally(
            lambda: self._s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=version, Metadata={_WRITE_ID: write_id}),
            retried_done=lambda: self._s3_write_id(bucket, key) == write_id)

    def _move_if_unchanged(self, tmp: str, final: str, version: str) -> bool:
        try:
            with _directory_locked(posixpath.dirname(final)):
                if self._local_version_of(final) != version:
                    return False
                self.filesystem.move(tmp, final)
                return True
        except FileNotFoundError:  # its directory is gone
            return False
        finally:
            self._delete_quietly(tmp)  # nothing once moved

    def delete_if_unchanged(self, *parts: str, version: str) -> bool:
        """Delete the object if it is still the ``version`` read; False if another writer
        replaced or deleted it."""
        if self.is_s3:
            bucket, key = self._bucket_key(parts)
            # Sent again (its answer lost), a delete that was done finds no object: done.
            return self._s3_conditionally(lambda: self._s3.delete_object(Bucket=bucket, Key=key, IfMatch=version),
                                          retried_done=lambda: self._s3_write_id(bucket, key) is None)
        path = self.path(*parts)
        try:
            with _directory_locked(posixpath.dirname(path)):
                if self._local_version_of(path) != version:
                    return False
                os.unlink(path)
                return True
        except FileNotFoundError:
            return False

    def rewrite(self, change: Callable[[bytes], Rewrite[T]], *parts: str) -> T | None:
        """A read-modify-write of one object that never overwrites another writer's version:
        ``change`` is applied to the bytes read, and what it makes of them is written only if
        the object is still the version read; else it is read and changed again. None if there
        is no object (or it went meanwhile)."""
        return self.rewrite_streamed(lambda source, sink: change(source.read()), *parts)

    def rewrite_streamed(self, change: Callable[[pa.NativeFile, str], Rewrite[T]], *parts: str) -> T | None:
        """``rewrite`` of an object too large to hold: ``change`` reads the version from a
        random-access file (``opened_version``) and writes the new object, if any, to the local
        path it is given, returning ``Rewrite(result, written=True)``."""
        for _ in range(REWRITE_ATTEMPTS):
            # The work directory is made once the read has succeeded, so a failed read leaves none.
            with self.opened_version(*parts) as opened, (tempfile.TemporaryDirectory(prefix="rewrite-") if self.is_s3 else nullcontext()) as work_dir:
                if opened is None:
                    return None
                source, version = opened
                # Locally, beside the target, so that it is renamed into place.
                sink = posixpath.join(work_dir, "object") if self.is_s3 else self._tmp_path(self.path(*parts))
                try:
                    try:
                        outcome = change(source, sink)
                    except FileNotFoundError:
                        if self.is_s3 or os.path.isdir(posixpath.dirname(sink)):
                            raise
                        continue  # the directory went (retention) while the sink was written: read again
                    if outcome.delete:
                        done = self.delete_if_unchanged(*parts, version=version)
                    elif outcome.written:
                        done = self._put_file_if_unchanged(sink, parts, version)
                    elif outcome.data is not None:
                        done = self.replace_if_unchanged(outcome.data, *parts, version=version)
                    else:
                        return outcome.result
                finally:
                    if not self.is_s3:
                        self._delete_quietly(sink)
                if done:
                    return outcome.result
        raise RuntimeError(f"{self.uri(*parts)} changed {REWRITE_ATTEMPTS} times while it was being rewritten")

    def _local_version_of(self, path: str) -> str | None:
        try:
            return _local_version(os.stat(path))
        except FileNotFoundError:
            return None

    @cached_property
    def _s3(self):
        # pyarrow's S3 filesystem sends no conditional headers: boto3 does (AWS_ENDPOINT_URL too).
        return aws_client("s3")

    def _bucket_key(self, parts: tuple[str, ...]) -> tuple[str, str]:
        bucket, _, key = self.path(*parts).partition("/")
        return bucket, key

    def _s3_write_id(self, bucket: str, key: str) -> str | None:
        """The write id the object carries ("" if none), or None if there is no object."""
        from botocore.exceptions import ClientError

        try:
            return self._s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get(_WRITE_ID, "")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def _s3_conditionally(self, request: Callable[[], object], retried_done: Callable[[], bool]) -> bool:
        """Whether a conditional request was done. Its condition failing means another writer
        got there first, unless botocore sent it again: then the first attempt may have been
        done, and what is there now (``retried_done``) tells."""
        from botocore.exceptions import ClientError

        try:
            request()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _S3_CONDITION_FAILED:
                raise
            return bool(exc.response.get("ResponseMetadata", {}).get("RetryAttempts")) and retried_done()
        return True

    def _delete_quietly(self, path: str) -> None:
        try:
            self.filesystem.delete_file(path)
        except FileNotFoundError:
            pass
        except OSError:
            if self.filesystem.get_file_info(path).type != pafs.FileType.NotFound:
                raise


class AtomicParquetWriter:
    """Writes record batches to a temporary Parquet file and moves it into place on success (on
    S3, uploads it), so a day can be streamed batch by batch without a reader ever seeing half of it.

    Encoding and compressing a batch (Arrow, without the GIL) runs on a background thread while
    the caller prepares the next one; one batch at most is in flight, so memory stays bounded.
    A failed write surfaces at the next ``write``, ``add_metadata`` or on exit. ``audit`` sees
    the finished file before it is published (write-audit-publish): if it raises, nothing is."""

    def __init__(self, location: Location, final: str, schema: pa.Schema, compression: str,
                 audit: Callable[[str], None] | None = None) -> None:
        self._location = location
        self._final = final
        self._schema = schema
        self._audit = audit
        # On S3, written to local disk and uploaded once whole (``Location.put_file``): a day
        # built in memory held the whole file until its PUT, 250 MB more at 5M messages.
        self._upload_dir = tempfile.TemporaryDirectory(prefix="lake-upload-") if location.is_s3 else None
        if self._upload_dir is not None:
            self._tmp = os.path.join(self._upload_dir.name, posixpath.basename(final))
            self._writer = pq.ParquetWriter(self._tmp, schema, filesystem=pafs.LocalFileSystem(), compression=compression)
        else:
            self._tmp = location._tmp_path(final)
            self._writer = pq.ParquetWriter(self._tmp, schema, filesystem=location.filesystem, compression=compression)
        self._background = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self._in_flight: Future | None = None
        self.rows = 0
        self.new_directory = False  # its target's directory was made for it (a local lake)

    def _write_now(self, batch: pa.RecordBatch | pa.Table) -> None:
        if isinstance(batch, pa.RecordBatch):
            self._writer.write_batch(batch)
        else:
            self._writer.write_table(batch)

    def _finish_in_flight(self) -> None:
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        self._finish_in_flight()
        self._in_flight = self._background.submit(self._write_now, batch)
        self.rows += batch.num_rows

    def add_metadata(self, metadata: dict[bytes | str, bytes | str]) -> None:
        """Key-value metadata for the footer, known only once the rows are written (counts)."""
        self._finish_in_flight()
        self._writer.add_key_value_metadata(metadata)

    def __enter__(self) -> AtomicParquetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self._finish_in_flight()
                if self.rows == 0:
                    self._writer.write_table(self._schema.empty_table())  # one empty row group, as write_parquet makes
                self._writer.close()
                if self._audit is not None:
                    self._audit(self._tmp)  # a local path: the lake's own, or the upload's staging copy
            except BaseException:
                self._abandon()
                raise
            self._background.shutdown()
            if self._upload_dir is None:
                self._location._commit(self._tmp, self._final)
                return
            with self._upload_dir:
                self._location.put_file(self._tmp, self._final.removeprefix(self._location.root + "/"))
        else:
            self._abandon()

    def _abandon(self) -> None:
        """After a failure: let the batch in flight end, close, and leave nothing behind."""
        self._background.shutdown()
        for step in (self._finish_in_flight, self._writer.close):
            try:
                step()
            except Exception:  # the failure already under way is the one to report
                pass
        if self._upload_dir is not None:
            self._upload_dir.cleanup()
        else:
            self._location._delete_quietly(self._tmp)
            if self.new_directory:  # an empty day directory would read as a day that has data
                try:
                    os.rmdir(posixpath.dirname(self._final))
                except OSError:  # another writer's file is in it by now
                    pass


def parquet_batches(file: pq.ParquetFile, batch_rows: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """``file``'s rows in batches of at most ``batch_rows``, one row group at a time.

    pyarrow's ``iter_batches`` over a whole file holds on to what it has read until it is
    exhausted: anonymizing a 10M-message day grew Arrow's memory by ~3 MB a batch. A reader per
    row group keeps it to one row group."""
    for group in range(file.num_row_groups):
        yield from file.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns)


def iter_lines(stream: pa.NativeFile, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Lines of a (possibly huge) stream without reading it whole."""
    pending = b""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending


class RollingParquetFiles:
    """Local Parquet files by key (a day, a time bucket), written in order, in row groups of at
    most ``row_group_rows``. An open writer holds every row group's metadata until it closes
    (about 12 KB each with 17 columns), so a key goes on in a new file every
    ``row_groups_per_file`` row groups, and at most ``max_open`` files are open at once (the
    longest open closes first, its key going on in a new file): memory and file handles stay flat
    however many keys and tables there are. A key's files all have ``schema``, or else its first
    table's (later tables are cast to it)."""

    def __init__(self, path: Callable[[Hashable, int], str], *, row_groups_per_file: int, max_open: int,
                 schema: pa.Schema | None = None, row_group_rows: int = 1024 * 1024, **writer_options) -> None:
        self._path, self._row_groups_per_file, self._max_open = path, row_groups_per_file, max_open
        self._schema, self._row_group_rows, self._writer_options = schema, row_group_rows, writer_options
        self._writers: dict[Hashable, pq.ParquetWriter] = {}  # the key's open file
        self._row_groups: dict[Hashable, int] = {}  # in the open file
        self._schemas: dict[Hashable, pa.Schema] = {}
        self.files: dict[Hashable, list[str]] = {}  # key -> its files, in order

    def write(self, key: Hashable, table: pa.Table) -> None:
        writer = self._writer(key, table.schema)
        writer.write_table(table if table.schema == writer.schema else table.cast(writer.schema), row_group_size=self._row_group_rows)
        self._row_groups[key] += max(1, -(-table.num_rows // self._row_group_rows))

    def _writer(self, key: Hashable, schema: pa.Schema) -> pq.ParquetWriter:
        writer = self._writers.get(key)
        if writer is not None and self._row_groups[key] >= self._row_groups_per_file:
            self._writers.pop(key).close()
            writer = None
        if writer is None:
            if len(self._writers) >= self._max_open:
                self._writers.pop(next(iter(self._writers))).close()
            paths = self.files.setdefault(key, [])
            paths.append(self._path(key, len(paths)))
            schema = self._schemas.setdefault(key, self._schema or schema)
            writer = self._writers[key] = pq.ParquetWriter(paths[-1], schema, **self._writer_options)
            self._row_groups[key] = 0
        return writer

    def close(self) -> None:
        """Every file complete (written again, a key goes on in a new file)."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
