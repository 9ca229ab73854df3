"""Retention: conversations (raw, anonymized, quarantined) for 90 days, aggregates for 2 years.

The scheduled ``lake_retention`` job deletes whole expired day partitions by partition date, and
the lines quarantined from an export (raw text no day could take) and a full export's copy cut by
day once the export is older than the conversations' retention, on a local lake and on S3 alike. Each deleted partition gets an
observation on its asset, and its materialization is wiped where Dagster's storage can (the OSS
storages cannot yet). In production the same rules are also an S3 lifecycle configuration
(``lifecycle_configuration``, applied by provisioning): a backstop that expires objects by age
even if the job stops running, including DynamoDB's export files, which only S3 can expire (a full
export is a snapshot the pipeline keeps reading until a newer one exists). It also deletes, on a
local lake, the temporary files of writers killed mid-write, a day after they were last written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from recipe_pipeline import lake as layout
from recipe_pipeline.export_index import ExportIndex
from recipe_pipeline.storage import Location, Rewrite

CONVERSATION_RETENTION_DAYS = 90
AGGREGATE_RETENTION_DAYS = 730  # 2 years

# zone -> (days kept, the assets whose partitions live there)
RETENTION = {
    layout.RAW_CONVERSATIONS: (CONVERSATION_RETENTION_DAYS, ("raw_conversations",)),
    layout.CONVERSATIONS: (CONVERSATION_RETENTION_DAYS, ("anonymized_conversations",)),
    layout.DAY_QUARANTINE: (CONVERSATION_RETENTION_DAYS, ()),
    layout.DAILY_METRICS: (AGGREGATE_RETENTION_DAYS, ("daily_metrics", "athena_tables")),
    layout.USER_ACTIVITY: (AGGREGATE_RETENTION_DAYS, ("user_activity",)),
}
EXPORTS_PREFIX = "exports"


@dataclass
class RetentionReport:
    today: str
    expired: dict[str, list[str]] = field(default_factory=dict)  # zone -> days deleted
    expired_export_quarantine: list[str] = field(default_factory=list)  # export ids
    expired_export_days: list[str] = field(default_factory=list)  # export ids
    stale_temp_files: list[str] = field(default_factory=list)  # left by writers killed mid-write

    @property
    def partitions_by_asset(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for zone, days in self.expired.items():
            for asset in RETENTION[zone][1]:
                out.setdefault(asset, []).extend(days)
        return {asset: sorted(days) for asset, days in out.items() if days}


def cutoff(today: date, keep_days: int) -> str:
    """The oldest day still kept: partitions before it have expired."""
    return (today - timedelta(days=keep_days)).isoformat()


def apply_retention(lake: Location, today: date, *, dry_run: bool = False, now: datetime | None = None) -> RetentionReport:
    report = RetentionReport(today.isoformat())
    # Listed first: a file written after the listing is not this run's to judge.
    report.stale_temp_files = lake.stale_temp_files((now or datetime.now(UTC)) - STALE_TEMP_AGE)
    for zone, (keep_days, _) in RETENTION.items():
        oldest_kept = cutoff(today, keep_days)
        expired = [day for day in layout.days_present(lake, zone) if day < oldest_kept]
        report.expired[zone] = expired
        if not dry_run:
            for day in expired:
                lake.delete_dir(zone, layout.hive_dir(day))
    oldest_kept = cutoff(today, CONVERSATION_RETENTION_DAYS)
    report.expired_export_quarantine = _expired_exports(lake, layout.EXPORT_QUARANTINE, oldest_kept)
    report.expired_export_days = _expired_exports(lake, layout.EXPORT_DAYS, oldest_kept)
    if not dry_run:
        for zone, export_ids in ((layout.EXPORT_QUARANTINE, report.expired_export_quarantine), (layout.EXPORT_DAYS, report.expired_export_days)):
            for export_id in export_ids:
                lake.delete_dir(zone, export_id)
        for path in report.stale_temp_files:
            lake.delete(path)
        for export_id in report.expired_export_days:
            # A late run of one of its days reads the export itself, if it is still there, rather
            # than cutting all of it again.
            lake.rewrite(_without_day_files, layout.export_index_path(export_id))
    return report


def _without_day_files(data: bytes) -> Rewrite[None]:
    """An index no longer pointing at its copy cut by day (by compare-and-swap: forget-user may
    be recounting it)."""
    index = ExportIndex.from_json(data)
    return Rewrite(None, replace(index, day_files=False).to_json() if index is not None and index.day_files else None)


# A temporary file nothing has written to for this long was left by a writer that was killed
# (the longest writes, a day of millions of messages or a full export's cut, take minutes).
STALE_TEMP_AGE = timedelta(days=1)

# A copy cut by day is written before its index, in day order: while an index build is under
# way, the days written so far can all be old. A cut with no index is left alone this long.
UNINDEXED_CUT_GRACE = timedelta(days=2)


def _expired_exports(lake: Location, zone: str, oldest_kept: str) -> list[str]:
    """Exports whose folder in ``zone`` has expired: the export's data is as of a day before
    ``oldest_kept`` (its index says until when). An export with no index is kept, unless its
    folder is a copy cut by day whose newest day has expired and which nothing has written to for
    ``UNINDEXED_CUT_GRACE``: an index build that stopped after writing the cut leaves one, which
    no later build of that export may come to replace."""
    expired = []
    for export_id in lake.list_dirs(zone):
        try:  # one request: an index deleted between a check and a read is simply missing
            index = lake.read_bytes(layout.export_index_path(export_id))
        except FileNotFoundError:
            index = None
        if index is not None:
            covered_until = json.loads(index).get("covered_until")
            if covered_until and covered_until[:10] < oldest_kept:
                expired.append(export_id)
        elif zone == layout.EXPORT_DAYS:
            newest_day = max(lake.list_dirs(zone, export_id), default=None)
            written = lake.last_modified(zone, export_id)
            if newest_day and newest_day < oldest_kept and written and written < datetime.now(UTC) - UNINDEXED_CUT_GRACE:
                expired.append(export_id)
    return expired


def lifecycle_configuration(lake_url: str, exports_url: str | None = None) -> dict:
    """The S3 ``PutBucketLifecycleConfiguration`` body for the lake's bucket (same rules)."""
    if not lake_url.startswith("s3://"):
        raise ValueError(f"lifecycle rules apply to an s3:// lake, not {lake_url!r}")
    bucket, _, prefix = lake_url[len("s3://") :].partition("/")
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    exports_prefix = f"{base}{EXPORTS_PREFIX}/"
    if exports_url and exports_url.startswith(f"s3://{bucket}/"):
        exports_prefix = exports_url[len(f"s3://{bucket}/") :].strip("/") + "/"
    rules = [
        {
            "ID": f"expire-{zone.replace('/', '-')}",
            "Filter": {"Prefix": f"{base}{zone}/"},
            "Status": "Enabled",
            "Expiration": {"Days": keep_days},
        }
        for zone, (keep_days, _) in RETENTION.items()
    ]
    # Lines quarantined from an export are written when it is indexed, soon after it completes.
    rules.append({"ID": "expire-quarantine-exports", "Filter": {"Prefix": f"{base}{layout.EXPORT_QUARANTINE}/"}, "Status": "Enabled",
                  "Expiration": {"Days": CONVERSATION_RETENTION_DAYS}})
    # A full export's copy cut by day is written when it is indexed; its newest day is the export's.
    rules.append({"ID": "expire-raw-export-days", "Filter": {"Prefix": f"{base}{layout.EXPORT_DAYS}/"}, "Status": "Enabled",
                  "Expiration": {"Days": CONVERSATION_RETENTION_DAYS}})
    rules.append({"ID": "expire-dynamodb-exports", "Filter": {"Prefix": exports_prefix}, "Status": "Enabled", "Expiration": {"Days": CONVERSATION_RETENTION_DAYS}})
    rules.append({"ID": "abort-incomplete-uploads", "Filter": {"Prefix": base}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}})
    return {"Rules": rules}
