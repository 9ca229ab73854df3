"""Asset checks that would catch data loss or a privacy leak, per daily partition.

Each check reads back what was written (footers, key columns), independently of the code that
wrote it. Blocking checks stop downstream assets from being built on a bad partition.
Count chain: export items for the day = raw rows + deleted + quarantined; raw rows = anonymized
rows (same keys) = ``daily_metrics.total_messages`` = rows served by the warehouse tables; and
the day's users and their messages in ``user_activity`` = those of the anonymized day.
"""


import functools
import json
import warnings
from collections.abc import Iterable, Iterator

import dagster as dg
import pyarrow as pa

from recipe_pipeline import lake as layout
from recipe_pipeline.assets.ingestion import raw_conversations
from recipe_pipeline.assets.metrics import daily_metrics, user_activity
from recipe_pipeline.assets.privacy import anonymized_conversations
from recipe_pipeline.assets.warehouse import athena_tables
from recipe_pipeline.audits import numbered_batches, result
from recipe_pipeline.export_index import ExportIndex
from recipe_pipeline.columns import give_back_memory
from recipe_pipeline.partitions import daily_partitions
from recipe_pipeline.resources import LakeResource, PseudonymKeyResource, WarehouseResource
from recipe_pipeline.warehouse import METRICS_MEMORY_LIMIT, bounded_duckdb, parquet_relation



def daily_check(**kwargs):
    """``dg.asset_check`` evaluated per daily partition, giving back the Arrow memory it
    freed (``give_back_memory``). Partitioned checks are a preview feature
    in Dagster 1.13; the warning is acknowledged here once instead of on every load."""

    def decorate(fn):
        @functools.wraps(fn)
        def evaluate(*args, **inputs):
            try:
                return fn(*args, **inputs)
            finally:
                give_back_memory()  # checks share a process with the assets in materialize and catch-up

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=dg.PreviewWarning)
            return dg.asset_check(partitions_def=daily_partitions, **kwargs)(evaluate)

    return decorate


def _result(passed: bool, problems: list[str], **metadata) -> dg.AssetCheckResult:
    return result(None, passed, problems, **metadata)


@daily_check(asset=raw_conversations, blocking=True)
def raw_conversations_counts_conserved(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Every export item for the day is accounted for: the export indexes' count for the day
    equals the records read, the records read = unique items + superseded versions, and unique
    items = rows + deleted + quarantined + erased = file rows."""
    day = context.partition_key
    location = lake.location()
    path = layout.raw_conversations_path(day)
    provenance = layout.read_provenance(location, path)
    counts = provenance["counts"]
    file_rows = location.parquet_file(path).metadata.num_rows
    indexed = sum(
        ExportIndex.from_json(location.read_bytes(layout.export_index_path(eid))).days.get(day, 0)
        for eid in provenance["exports"]
    )
    problems = []
    if indexed != counts["export_records"]:
        problems.append(f"export indexes list {indexed} records for {day}, {counts['export_records']} were read")
    # Without it, records lost between reading and resolving would lower both sides of the sum below.
    # forget-user takes the records it removed from full exports' cuts out of export_records (the
    # indexes no longer list them) and counts them in export_records_erased.
    superseded = counts.get("superseded_versions")
    read = counts["export_records"] + counts.get("export_records_erased", 0)
    if superseded is not None and read != counts["unique_items"] + superseded:
        problems.append(f"{read} records read != {counts['unique_items']} unique items + {superseded} superseded versions")
    erased = counts.get("erased", 0)
    if counts["unique_items"] != counts["rows"] + counts["deleted"] + counts["quarantined"] + erased:
        problems.append(
            f"{counts['unique_items']} unique items != {counts['rows']} rows + {counts['deleted']} deleted"
            f" + {counts['quarantined']} quarantined + {erased} erased"
        )
    if file_rows != counts["rows"]:
        problems.append(f"the file holds {file_rows} rows, the run counted {counts['rows']}")
    return _result(
        not problems, problems, export_records=indexed, rows=file_rows, deleted=counts["deleted"], quarantined=counts["quarantined"], erased=erased
    )


@daily_check(asset=raw_conversations)
def raw_conversations_quarantine_rate(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Warns when more than the configured share (RECIPE_PIPELINE_QUARANTINE_THRESHOLD, default
    0.1%) of the day's items had to be quarantined."""
    counts = layout.read_provenance(lake.location(), layout.raw_conversations_path(context.partition_key))["counts"]
    rate = counts["quarantined"] / counts["unique_items"] if counts["unique_items"] else 0.0
    return dg.AssetCheckResult(
        passed=rate <= lake.quarantine_threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": counts["quarantined"], "quarantine_rate": rate, "threshold": lake.quarantine_threshold},
    )


@daily_check(asset=raw_conversations)
def raw_conversations_exports_cover_day(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Warns when the exports read do not yet reach the end of the day (a later export will
    complete it, and the sensor will rebuild the partition then)."""
    provenance = layout.read_provenance(lake.location(), layout.raw_conversations_path(context.partition_key))
    return dg.AssetCheckResult(
        passed=bool(provenance["exports_cover_day"]),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"covered_until": str(provenance["covered_until"])},
    )


def _batches(location, path: str, columns: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The file's ``columns`` in batches, each with the row number it starts at."""
    return numbered_batches(location.parquet_file(path), columns)


_KEY_DIFFERENCES_SQL = """
SELECT
    (SELECT count(*) FROM raw_day) AS raw_rows,
    (SELECT count(*) FROM anonymized_day) AS anonymized_rows,
    (SELECT count(*) FROM (SELECT conversation_id, "timestamp" FROM raw_day EXCEPT ALL
                           SELECT conversation_id, "timestamp" FROM anonymized_day)) AS missing,
    (SELECT count(*) FROM (SELECT conversation_id, "timestamp" FROM anonymized_day EXCEPT ALL
                           SELECT conversation_id, "timestamp" FROM raw_day)) AS unexpected
"""


_KEY_COLUMNS = ["conversation_id", "timestamp"]


def rows_in_step(left: Iterable[pa.RecordBatch], right: Iterable[pa.RecordBatch]) -> int | None:
    """How many rows two streams of batches hold, if they hold the same values in the same order
    (however each is cut into batches); None at the first difference."""
    left, right = (b for b in left if b.num_rows), (b for b in right if b.num_rows)
    rows, a, b = 0, next(left, None), next(right, None)
    while a is not None and b is not None:
        n = min(a.num_rows, b.num_rows)
        if not all(x.equals(y) for x, y in zip(a.slice(0, n).columns, b.slice(0, n).columns, strict=True)):
            return None
        rows += n
        a = a.slice(n) if a.num_rows > n else next(left, None)
        b = b.slice(n) if b.num_rows > n else next(right, None)
    return rows if a is None and b is None else None


# Raw messages missing from the anonymized day, by raw user id.
_MISSING_BY_USER_SQL = """
SELECT r.user_id, count(*) FROM raw_day r
ANTI JOIN anonymized_day a ON r.conversation_id = a.conversation_id AND r."timestamp" = a."timestamp"
GROUP BY r.user_id
"""


@daily_check(asset=anonymized_conversations, blocking=True)
def anonymized_rows_match_raw(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, pseudonyms: PseudonymKeyResource
) -> dg.AssetCheckResult:
    """The anonymized day has exactly the raw day's messages: same count, same keys. The only
    raw messages that may be missing are those of users in the erasure registry: anonymizing
    leaves them out while the raw day still holds them, until forget-user's sweep reaches it."""
    day = context.partition_key
    location = lake.location()
    raw_path, path = layout.raw_conversations_path(day), layout.conversations_path(day)
    # Anonymizing keeps the raw day's order: the key columns side by side settle a good day in
    # one streamed pass (0.2 s at 1M messages, against 0.8 s for the set difference below).
    rows = rows_in_step((b for _, b in _batches(location, raw_path, _KEY_COLUMNS)), (b for _, b in _batches(location, path, _KEY_COLUMNS)))
    if rows is not None:
        return _result(True, [], raw_rows=rows, anonymized_rows=rows, erased_users_missing=0)
    # DuckDB scans the two files' key columns and spills if it must; no day is held in Python.
    with location.local_file(raw_path) as raw_file, location.local_file(path) as file, bounded_duckdb(METRICS_MEMORY_LIMIT) as con:
        con.execute(f"CREATE VIEW raw_day AS SELECT * FROM {parquet_relation(raw_file)}")
        con.execute(f"CREATE VIEW anonymized_day AS SELECT * FROM {parquet_relation(file)}")
        raw_rows, anonymized_rows, missing, unexpected = con.execute(_KEY_DIFFERENCES_SQL).fetchone()
        erased = layout.erased_pseudonyms(location) if missing else set()
        left_out = 0
        if erased:
            pseudonymizer = pseudonyms.pseudonymizer()
            missing_by_user = con.execute(_MISSING_BY_USER_SQL).fetchall()
            left_out = min(missing, sum(n for user_id, n in missing_by_user if pseudonymizer.pseudonym(user_id) in erased))
    problems = []
    if raw_rows != anonymized_rows + left_out:
        problems.append(f"{raw_rows} raw rows but {anonymized_rows} anonymized rows" + (f" and {left_out} of erased users" if left_out else ""))
    if missing - left_out or unexpected:
        problems.append(f"{missing - left_out} raw message(s) missing, {unexpected} unexpected")
    return _result(not problems, problems, raw_rows=raw_rows, anonymized_rows=anonymized_rows, erased_users_missing=left_out)


@daily_check(asset=daily_metrics, blocking=True)
def daily_metrics_match_conversations(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """The metrics agree with the anonymized day recounted by plain aggregates over the file (not
    with the metrics SQL that produced them): messages, conversations, users, role counts."""
    day = context.partition_key
    location = lake.location()
    metrics = json.loads(location.read_bytes(layout.daily_metrics_path(day)))
    with location.local_file(layout.conversations_path(day)) as path, bounded_duckdb(METRICS_MEMORY_LIMIT) as con:
        recount = con.execute(
            "SELECT count(*), count(DISTINCT conversation_id), count(DISTINCT user_id),"
            " count(*) FILTER (WHERE role = 'user'), count(*) FILTER (WHERE role = 'assistant')"
            f" FROM {parquet_relation(path)}"
        ).fetchone()
    expected = {
        "date": day,
        **dict(zip(("total_messages", "total_conversations", "unique_users", "user_messages", "assistant_messages"), recount)),
    }
    problems = [f"{name} is {metrics.get(name)!r}, recount gives {value!r}" for name, value in expected.items() if metrics.get(name) != value]
    return _result(not problems, problems, **{k: v for k, v in expected.items() if k != "date"})


@daily_check(asset=user_activity, blocking=True)
def user_activity_matches_conversations(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Each user of the anonymized day is listed once, on the day, with their messages counted
    again by DuckDB over the anonymized file (not by the Arrow code that wrote the table). Users
    in the erasure registry are left out of both sides: forget-user may be between its sweeps of
    the two files, and the activity file leaves out anyone erased when it was written."""
    day = context.partition_key
    location = lake.location()
    activity = location.read_parquet(layout.user_activity_path(day))
    erased = layout.erased_pseudonyms(location)
    with location.local_file(layout.conversations_path(day)) as path, bounded_duckdb(METRICS_MEMORY_LIMIT) as con:
        con.register("activity", activity)
        con.register("erased", pa.table({"user_id": pa.array(sorted(erased), pa.string())}))
        # NULL-safe throughout: a row with no date or no count is wrong, not unknown.
        counted = con.execute(
            f"WITH day_users AS (SELECT user_id, count(*) AS messages, true AS held FROM {parquet_relation(path)}"
            "   WHERE user_id NOT IN (SELECT user_id FROM erased) GROUP BY user_id),"
            " listed AS (SELECT *, true AS held FROM activity WHERE user_id IS NULL OR user_id NOT IN (SELECT user_id FROM erased))"
            " SELECT"  # `held` tells a side without the row from a row whose user_id is NULL
            "  count(*) FILTER (WHERE a.held IS NULL),"
            "  count(*) FILTER (WHERE d.held IS NULL),"
            "  count(*) FILTER (WHERE a.held AND d.held AND a.messages IS DISTINCT FROM d.messages),"
            "  (SELECT count(user_id) - count(DISTINCT user_id) FROM listed),"
            "  (SELECT count(*) FILTER (WHERE activity_date IS DISTINCT FROM CAST(? AS date)) FROM listed),"
            "  (SELECT count(*) FROM day_users)"
            " FROM day_users AS d FULL OUTER JOIN listed AS a ON a.user_id = d.user_id",
            [day],
        ).fetchone()
    missing, unexpected, miscounted, repeated, other_days, day_users = counted
    problems = [f"{n} {what}" for n, what in (
        (missing, "user(s) of the anonymized day missing"),
        (unexpected, "user(s) the anonymized day does not hold"),
        (miscounted, "user(s) with another count of messages than the anonymized day's"),
        (repeated, "user row(s) repeated"),
        (other_days, f"row(s) dated another day than {day}"),
    ) if n]
    return _result(not problems, problems, users=activity.num_rows, anonymized_day_users=day_users)


@daily_check(asset=athena_tables, blocking=True)
def athena_tables_serve_partition(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """The tables serve the day completely: `recipe_conversations` and `user_activity` return
    their files' rows and `daily_metrics` exactly one row for the day."""
    day = context.partition_key
    location = lake.location()
    served = warehouse.partition_counts(day)
    file_rows = location.parquet_file(layout.conversations_path(day)).metadata.num_rows
    problems = []
    if served["recipe_conversations"] != file_rows:
        problems.append(f"recipe_conversations serves {served['recipe_conversations']} rows, the file holds {file_rows}")
    if served["daily_metrics"] != 1:
        problems.append(f"daily_metrics serves {served['daily_metrics']} rows for {day}, expected 1")
    if location.exists(layout.user_activity_path(day)):
        activity_rows = location.parquet_file(layout.user_activity_path(day)).metadata.num_rows
        if served["user_activity"] != activity_rows:
            problems.append(f"user_activity serves {served['user_activity']} rows, the file holds {activity_rows}")
    else:  # a day of a lake built before user_activity, or a selection without it
        problems.append(f"user_activity has no file for {day}: materialize user_activity, then athena_tables, for the day")
    return _result(not problems, problems, **served)


asset_checks = [
    raw_conversations_counts_conserved,
    raw_conversations_quarantine_rate,
    raw_conversations_exports_cover_day,
    anonymized_rows_match_raw,
    daily_metrics_match_conversations,
    user_activity_matches_conversations,
    athena_tables_serve_partition,
]
