"""Shared asset conventions: owners, retries, and metadata builders for the Dagster UI."""

import functools
import inspect

import dagster as dg
import pyarrow as pa

from recipe_pipeline.athena import AthenaQueryError
from recipe_pipeline.exports import ExportError

OWNERS = ["team:data-platform"]

# Assets that read or write S3 or query Athena retry transient faults (throttling, 5xx, a lost
# connection) with backoff; permanent faults are turned into Failure(allow_retries=False) by
# ``fail_fast`` so they surface at once with the provider's message.
NETWORK_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

_PERMANENT_MARKERS = (
    "AccessDenied", "ACCESS_DENIED", "NoSuchBucket", "NO_SUCH_BUCKET", "InvalidAccessKeyId", "INVALID_ACCESS_KEY_ID",
    "SignatureDoesNotMatch", "ExpiredToken", "AuthorizationHeaderMalformed", "UnrecognizedClientException",
)


def is_permanent(exc: BaseException) -> bool:
    """Faults a retry cannot fix: corrupt exports, missing upstream partitions, denied access,
    buckets that do not exist, bad credentials, Athena queries Athena calls not retryable."""
    if isinstance(exc, (ExportError, FileNotFoundError)):
        return True
    if isinstance(exc, AthenaQueryError):
        return not exc.retryable  # Athena says whether running it again can help
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "") if hasattr(exc, "response") else ""
    text = f"{code} {exc}"
    return any(marker in text for marker in _PERMANENT_MARKERS)


def _failing_fast(exc: Exception) -> None:
    if not isinstance(exc, dg.Failure) and is_permanent(exc):
        raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc
    raise exc


def fail_fast(fn):
    """Run an asset body (a function or a generator); a permanent fault fails the step without
    retries, naming the cause."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generating(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                _failing_fast(exc)

        return generating

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            _failing_fast(exc)

    return wrapper


def column_schema(schema: pa.Schema, descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[dg.TableColumn(f.name, str(f.type), description=descriptions.get(f.name)) for f in schema]
    )


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A small markdown table (no pandas needed); values are shortened for the UI."""
    if not rows:
        return "_no rows_"
    columns = columns or list(rows[0])

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 80 else text[:77] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
