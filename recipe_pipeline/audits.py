"""The privacy audits of an anonymized day, run on its file before it is published
(write-audit-publish): a day that leaks never reaches the analytics zone, which Athena serves
as soon as a file is there (partition projection). They are ``anonymized_conversations``'s
blocking checks, evaluated inside the asset on what it staged.

Each audit reads the staged file back, independently of the code that wrote it, and reports
counts and row references, never the text or the ids it found."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recipe_pipeline.columns import give_back_memory
from recipe_pipeline.pii import PII_KINDS, scan_for_pii
from recipe_pipeline.raw_user_ids import day_user_ids, id_automaton, rows_containing
from recipe_pipeline.storage import parquet_batches

NO_RAW_USER_IDS = "anonymized_has_no_raw_user_ids"
NO_PII = "anonymized_has_no_pii"

PRIVACY_AUDITS = [
    dg.AssetCheckSpec(
        NO_RAW_USER_IDS, asset="anonymized_conversations", blocking=True,
        description="No raw user id of the day appears in the analytics zone: not as a `user_id`, not inside a message. "
                    "Audited before the day is published.",
    ),
    dg.AssetCheckSpec(
        NO_PII, asset="anonymized_conversations", blocking=True,
        description="The PII detectors find no email, phone, card, IBAN, SSN, IP, address or self-introduced name left in "
                    "any message. Audited before the day is published.",
    ),
]

# Rows read at a time: memory stays flat.
AUDIT_BATCH_ROWS = 131_072


def result(check_name: str | None, passed: bool, problems: list[str], **metadata) -> dg.AssetCheckResult:
    """A check result with its problems as a markdown list (``none`` when it passed)."""
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=passed,
        metadata={**metadata, "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
    )


def numbered_batches(file: pq.ParquetFile, columns: list[str], batch_rows: int = AUDIT_BATCH_ROWS) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The file's ``columns`` in batches, each with the row number it starts at."""
    first = 0
    for batch in parquet_batches(file, batch_rows, columns):
        yield first, batch
        first += batch.num_rows


def audit_raw_user_ids(file: pq.ParquetFile, raw_file: pq.ParquetFile) -> dg.AssetCheckResult:
    """Whether any of the raw day's user ids is left in ``file``, as a ``user_id`` or in a message."""
    raw_ids = day_user_ids(raw_file, AUDIT_BATCH_ROWS)
    automaton = id_automaton(raw_ids)
    leaked_as_id, leaked_rows, rows = 0, [], 0
    for first, batch in numbered_batches(file, ["user_id", "message"]):
        leaked_as_id += pc.sum(pc.is_in(batch.column("user_id"), raw_ids)).as_py() or 0
        if automaton is not None and batch.num_rows:
            leaked_rows += [first + row for row in rows_containing(batch.column("message"), automaton)]
        rows += batch.num_rows
    problems = []
    if leaked_as_id:
        problems.append(f"{leaked_as_id} row(s) carry a raw user id as user_id")
    if leaked_rows:
        problems.append(f"{len(leaked_rows)} message(s) contain a raw user id (rows {json.dumps(leaked_rows[:20])})")
    return result(NO_RAW_USER_IDS, not problems, problems, raw_user_ids=len(raw_ids), rows_checked=rows)


def audit_pii(file: pq.ParquetFile) -> dg.AssetCheckResult:
    """Whether the PII detectors find anything left in ``file``'s messages: counts per kind and
    the first rows' references (row number, conversation id, timestamp)."""
    found: Counter = Counter()
    leaking_rows: list[int] = []
    references: list[dict] = []
    rows = 0
    for first, batch in numbered_batches(file, ["conversation_id", "timestamp", "message"]):
        batch_found, batch_rows = scan_for_pii(batch.column("message"))
        found.update(batch_found)
        leaking_rows += [first + row for row in batch_rows]
        references += [
            {"row": first + row, "conversation_id": batch.column("conversation_id")[row].as_py(), "timestamp": batch.column("timestamp")[row].as_py()}
            for row in batch_rows[: max(0, 20 - len(references))]
        ]
        rows += batch.num_rows
    problems = [f"{count} {kind} span(s) left" for kind, count in sorted(found.items())]
    if leaking_rows:
        problems.append(f"{len(leaking_rows)} message(s) leak; first rows: {json.dumps(references)}")
    return result(
        NO_PII, not leaking_rows, problems, rows_checked=rows, leaking_rows=len(leaking_rows),
        **{f"pii_{kind.lower()}": found.get(kind, 0) for kind in PII_KINDS},
    )


class AuditFailed(Exception):
    """A staged day failed an audit and was not published."""

    def __init__(self, results: list[dg.AssetCheckResult]) -> None:
        self.results = results
        failed = [r for r in results if not r.passed]
        super().__init__("; ".join(f"{r.check_name}: {r.metadata['problems'].value}" for r in failed).replace("\n", " "))


class PrivacyAudit:
    """The audits, as the hook a writer calls on its staged file before publishing it
    (``Location.open_parquet_writer(audit=...)``): raises ``AuditFailed`` if any fails. The
    results of the last file audited are kept for the materialization."""

    def __init__(self, raw_file: pq.ParquetFile) -> None:
        self._raw_file = raw_file
        self.results: list[dg.AssetCheckResult] = []

    def __call__(self, staged_path: str) -> None:
        give_back_memory()  # what writing the day freed, before the audits read it back
        with pq.ParquetFile(staged_path) as staged:
            self.results = [audit_raw_user_ids(staged, self._raw_file), audit_pii(staged)]
        if not all(r.passed for r in self.results):
            raise AuditFailed(self.results)
