"""Reading DynamoDB table exports from their AWS S3 layout (a local folder or an S3 prefix).

Facts this module builds on (design/aws-reference.md §2):
- an export is complete once ``AWSDynamoDB/<ExportId>/manifest-summary.json`` exists;
- its data files are the ``dataFileS3Key``s of ``manifest-files.json`` (never a folder listing:
  incremental exports share ``AWSDynamoDB/data/``), each a full object key including the
  export's ``S3Prefix``;
- ``md5Checksum`` is base64(MD5(object bytes)) and is checked before a file is used;
- FULL data lines are ``{"Item": …}``; INCREMENTAL lines carry ``Metadata.WriteTimestampMicros``,
  ``Keys`` and ``NewImage``/``OldImage``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from recipe_pipeline.storage import Location, iter_lines

FULL_EXPORT = "FULL_EXPORT"
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"
EXPORTS_DIR = "AWSDynamoDB"

logger = logging.getLogger(__name__)


class ExportError(Exception):
    """An export that cannot be read as AWS wrote it; the message names export and file."""

    def __init__(self, export_id: str, file: str | None, problem: str) -> None:
        self.export_id = export_id
        self.file = file
        self.problem = problem
        where = f"export {export_id}" + (f", file {file}" if file else "")
        super().__init__(f"{where}: {problem}")


def parse_aws_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def to_micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


@dataclass(frozen=True)
class DataFile:
    key: str  # the dataFileS3Key as written in the manifest
    path: str  # relative to the exports location
    item_count: int
    md5_checksum: str


@dataclass(frozen=True)
class ExportSummary:
    """The fields of ``manifest-summary.json`` the pipeline uses."""

    export_id: str
    export_type: str
    start_time: datetime
    end_time: datetime | None
    item_count: int
    manifest_files_key: str
    export_time: datetime | None = None  # FULL: the snapshot instant
    export_from: datetime | None = None  # INCREMENTAL: [from, to)
    export_to: datetime | None = None
    output_view: str | None = None

    @property
    def is_full(self) -> bool:
        return self.export_type == FULL_EXPORT

    @property
    def snapshot_micros(self) -> int:
        """For a full export, the version every item in it has (its ``exportTime``)."""
        assert self.export_time is not None
        return to_micros(self.export_time)

    @property
    def covered_until(self) -> datetime:
        """Writes before this instant are reflected in the export."""
        moment = self.export_time if self.is_full else self.export_to
        assert moment is not None
        return moment

    @classmethod
    def from_manifest(cls, export_id: str, body: bytes) -> ExportSummary:
        try:
            doc = json.loads(body)
            # Full-export summaries carry no exportType (design/aws-reference.md §2).
            export_type = doc.get("exportType") or FULL_EXPORT
            if export_type not in (FULL_EXPORT, INCREMENTAL_EXPORT):
                raise ValueError(f"unknown exportType {export_type!r}")
            if doc.get("outputFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
                raise ValueError(f"outputFormat {doc['outputFormat']!r} is not supported (use DYNAMODB_JSON)")
            summary = cls(
                export_id=export_id,
                export_type=export_type,
                start_time=parse_aws_time(doc["startTime"]),
                end_time=parse_aws_time(doc["endTime"]) if doc.get("endTime") else None,
                item_count=int(doc.get("itemCount") or 0),
                manifest_files_key=doc["manifestFilesS3Key"],
                export_time=parse_aws_time(doc["exportTime"]) if doc.get("exportTime") else None,
                export_from=parse_aws_time(doc["exportFromTime"]) if doc.get("exportFromTime") else None,
                export_to=parse_aws_time(doc["exportToTime"]) if doc.get("exportToTime") else None,
                output_view=doc.get("outputView"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # AttributeError: not an object
            raise ExportError(export_id, "manifest-summary.json", f"unreadable summary: {exc}") from exc
        if summary.is_full and summary.export_time is None:
            raise ExportError(export_id, "manifest-summary.json", "full export without exportTime")
        if not summary.is_full and (summary.export_from is None or summary.export_to is None):
            raise ExportError(export_id, "manifest-summary.json", "incremental export without exportFromTime/exportToTime")
        return summary


@dataclass(frozen=True)
class ExportRecord:
    """One data line, decoded only as far as its keys and version.

    ``kind`` is "item" (full export), "put" (insert or update) or "delete". ``image`` is the
    DynamoDB JSON of the item after the change (None for a delete); ``old_ttl`` is the deleted
    item's ``ttl`` (seconds) when the export carries an old image."""

    conversation_id: str
    timestamp: str
    version_micros: int
    kind: str
    image: dict | None
    old_ttl: int | None


class MalformedLine(ValueError):
    """A data line that cannot be attributed to an item (no keys, bad JSON, ...)."""


def _string_key(image: dict, name: str) -> str:
    value = image.get(name)
    if not isinstance(value, dict) or "S" not in value or not isinstance(value["S"], str) or not value["S"]:
        raise MalformedLine(f"key attribute {name!r} missing or not a non-empty string")
    return value["S"]


def image_user_id(image: dict | None) -> str | None:
    """The ``user_id`` string of an item image (DynamoDB JSON), if it has one."""
    value = (image or {}).get("user_id")
    return value.get("S") if isinstance(value, dict) and isinstance(value.get("S"), str) else None


def image_ttl(image: dict | None) -> int | None:
    """The ``ttl`` (epoch seconds) of a DynamoDB JSON image, if it has a numeric one."""
    if not image or not isinstance(image.get("ttl"), dict) or "N" not in image["ttl"]:
        return None
    try:
        return int(float(image["ttl"]["N"]))
    except (TypeError, ValueError):
        return None


def parse_record(line: bytes, summary: ExportSummary) -> ExportRecord:
    """Decode one export line; raises ``MalformedLine`` with the reason."""
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedLine(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedLine("line is not a JSON object")
    if summary.is_full:
        image = doc.get("Item")
        if not isinstance(image, dict):
            raise MalformedLine("full-export line without an Item object")
        return ExportRecord(
            _string_key(image, "conversation_id"),
            _string_key(image, "timestamp"),
            summary.snapshot_micros,
            "item",
            image,
            None,
        )
    keys = doc.get("Keys")
    if not isinstance(keys, dict):
        raise MalformedLine("incremental line without a Keys object")
    try:
        version = int(doc["Metadata"]["WriteTimestampMicros"]["N"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedLine("incremental line without Metadata.WriteTimestampMicros") from exc
    new_image = doc.get("NewImage")
    old_image = doc.get("OldImage")
    if new_image is not None and not isinstance(new_image, dict):
        raise MalformedLine("NewImage is not an object")
    return ExportRecord(
        _string_key(keys, "conversation_id"),
        _string_key(keys, "timestamp"),
        version,
        "put" if new_image is not None else "delete",
        new_image,
        image_ttl(old_image if isinstance(old_image, dict) else None),
    )


@dataclass(frozen=True)
class UnusableExport:
    """A completed export whose summary the pipeline cannot use (another ``outputFormat``, such
    as ION, or a summary it cannot read), and until when it reflects writes if the summary still
    says so (None: unknown)."""

    error: ExportError
    covered_until: datetime | None


def _covered_until_of(body: bytes) -> datetime | None:
    """``exportToTime`` or ``exportTime`` of a summary that is otherwise unusable, if readable."""
    try:
        doc = json.loads(body)
        return parse_aws_time(doc.get("exportToTime") or doc["exportTime"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class ExportStore:
    """The completed exports below one location (the folder or prefix holding ``AWSDynamoDB/``)."""

    def __init__(self, location: Location) -> None:
        self.location = location

    def export_ids(self) -> list[str]:
        """Every export folder, finished or not (``data`` is the shared incremental folder)."""
        self.location.require_bucket()
        return [name for name in self.location.list_dirs(EXPORTS_DIR) if name != "data"]

    def is_complete(self, export_id: str) -> bool:
        return self.location.exists(EXPORTS_DIR, export_id, "manifest-summary.json")

    def summary(self, export_id: str) -> ExportSummary:
        body = self.location.read_bytes(EXPORTS_DIR, export_id, "manifest-summary.json")
        return ExportSummary.from_manifest(export_id, body)

    def completed(self) -> list[ExportSummary]:
        """Completed exports, oldest first. Exports still running (no summary yet) are skipped,
        and so are those whose summary cannot be used, with a warning (``completed_and_unusable``
        names them to a caller that must know whether it needs them)."""
        return self.completed_and_unusable()[0]

    def completed_and_unusable(self) -> tuple[list[ExportSummary], list[UnusableExport]]:
        """Completed exports, oldest first, and those whose summary cannot be used: one such
        export (a legal ION export beside the JSON ones) must not stop reading the others."""
        summaries, unusable = [], []
        for export_id in self.export_ids():
            if not self.is_complete(export_id):
                continue
            body = self.location.read_bytes(EXPORTS_DIR, export_id, "manifest-summary.json")
            try:
                summaries.append(ExportSummary.from_manifest(export_id, body))
            except ExportError as exc:
                logger.warning("left out: %s", exc)
                unusable.append(UnusableExport(exc, _covered_until_of(body)))
        return sorted(summaries, key=lambda s: (s.start_time, s.export_id)), unusable

    def _relative(self, key: str, export_id: str) -> str:
        # Keys include the export's S3Prefix; resolve them against the folder holding AWSDynamoDB/.
        # The last whole "AWSDynamoDB/" path segment: the prefix itself may contain that text.
        marker = f"{EXPORTS_DIR}/"
        if not isinstance(key, str):
            raise ExportError(export_id, None, f"manifest key is a {type(key).__name__}, not a string")
        if key.startswith(marker) and f"/{marker}" not in key:
            return key
        index = key.rfind(f"/{marker}")
        if index < 0:
            raise ExportError(export_id, key, f"manifest key does not contain {marker!r}")
        return key[index + 1 :]

    def data_files(self, summary: ExportSummary) -> list[DataFile]:
        manifest_path = self._relative(summary.manifest_files_key, summary.export_id)
        try:
            body = self.location.read_bytes(manifest_path)
        except FileNotFoundError as exc:
            raise ExportError(summary.export_id, manifest_path, "manifest-files.json is missing") from exc
        files = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key = entry["dataFileS3Key"]
                files.append(
                    DataFile(key, self._relative(key, summary.export_id), int(entry["itemCount"]), entry["md5Checksum"])
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ExportError(summary.export_id, manifest_path, f"line {number} is not a valid manifest entry: {exc}") from exc
        listed = sum(f.item_count for f in files)
        if listed != summary.item_count:
            raise ExportError(
                summary.export_id, manifest_path, f"data files list {listed} items but the summary says {summary.item_count}"
            )
        return files

    def read_verified(self, summary: ExportSummary, data_file: DataFile) -> bytes:
        """The compressed bytes of one data file, after checking them against ``md5Checksum``.

        A data file is read whole (compressed, a few at a time while they parse); an export
        never is."""
        try:
            body = self.location.read_bytes(data_file.path)
        except FileNotFoundError as exc:
            raise ExportError(summary.export_id, data_file.key, "data file listed in manifest-files.json is missing") from exc
        actual = base64.b64encode(hashlib.md5(body).digest()).decode()
        if actual != data_file.md5_checksum:
            raise ExportError(
                summary.export_id, data_file.key, f"checksum mismatch (manifest md5 {data_file.md5_checksum}, file md5 {actual})"
            )
        return body

    def iter_lines(self, summary: ExportSummary, data_file: DataFile, verified_body: bytes | None = None) -> Iterator[bytes]:
        """Non-empty lines of a verified data file, decompressed as a stream (from
        ``verified_body`` when the caller has already read and verified the file)."""
        body = verified_body if verified_body is not None else self.read_verified(summary, data_file)
        count = 0
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
                for line in iter_lines(stream):
                    if line.strip():
                        count += 1
                        yield line
        except (OSError, EOFError, zlib.error) as exc:
            raise ExportError(summary.export_id, data_file.key, f"corrupt gzip data: {exc}") from exc
        if count != data_file.item_count:
            raise ExportError(
                summary.export_id, data_file.key, f"holds {count} items but manifest-files.json says {data_file.item_count}"
            )

