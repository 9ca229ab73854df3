"""``recipe-pipeline``: simulate, catch-up, query, demo."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime, timedelta

import click

from recipe_pipeline.settings import ConfigurationError, load_settings


def _settings():
    try:
        return load_settings()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


def _instance():
    """The Dagster instance in ``DAGSTER_HOME`` (``./.dagster_home`` when unset)."""
    import dagster as dg

    home = os.environ.setdefault("DAGSTER_HOME", os.path.abspath(".dagster_home"))
    os.makedirs(home, exist_ok=True)
    return dg.DagsterInstance.get()


def format_table(columns: list[str], rows: list[tuple]) -> str:
    def text(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.2f}"
        return "" if value is None else str(value)

    cells = [[text(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


@click.group()
def main() -> None:
    """Privacy-safe analytics for the recipe chatbot (Dagster project)."""


@main.command()
@click.option("--exports", "exports_url", help="Where to write the exports (default: RECIPE_PIPELINE_EXPORTS).")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default="2025-01-01", show_default=True, help="First simulated UTC day.")
@click.option("--days", type=click.IntRange(2, 400), default=14, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--users", type=click.IntRange(1), default=300, show_default=True)
@click.option("--conversations-per-day", type=click.IntRange(1), default=140, show_default=True)
@click.option("--view", type=click.Choice(["NEW_AND_OLD_IMAGES", "NEW_IMAGE"]), default="NEW_AND_OLD_IMAGES", show_default=True)
@click.option("--force", is_flag=True, help="Write even if the location holds other exports.")
def simulate(exports_url, start, days, seed, users, conversations_per_day, view, force) -> None:
    """Write realistic synthetic conversations as DynamoDB exports in AWS's layout:
    one full export, then one incremental export per day."""
    from recipe_pipeline.simulate import SimulationConfig, write_simulation
    from recipe_pipeline.storage import Location

    location = Location(exports_url or _settings().exports_url)
    config = SimulationConfig(start=start.date(), days=days, seed=seed, users=users, conversations_per_day=conversations_per_day, view=view)
    try:
        result = write_simulation(location, config, force=force)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc
    stats = result.stats
    click.echo(
        f"wrote {len(result.export_ids)} exports ({result.export_ids[0]} full, then incremental) to {location.uri()}\n"
        f"  {stats.messages} messages, {stats.conversations} conversations, {stats.users} users, "
        f"{stats.edits} edits, {stats.deletions} deletions"
    )


@main.command("catch-up")
def catch_up_command() -> None:
    """Evaluate the export sensor and run every run it requests, in-process: the new exports' index
    runs, then (the sensor evaluated again) the days they touch."""
    report = _run_catch_up()
    if not report.ok:
        sys.exit(1)


def _run_catch_up():
    from recipe_pipeline.catchup import catch_up
    from recipe_pipeline.definitions import build_definitions

    report = catch_up(build_definitions(_settings()), _instance(), log=click.echo)
    if not report.runs:
        click.echo(f"nothing to do: {report.skip_reason or 'no new completed exports'}")
    for run in report.runs:
        click.echo(f"  {run.job_name:<15} {run.partition_key:<26} {run.status:<28} run {run.run_id}")
    succeeded = sum(r.status == "succeeded" for r in report.runs)
    failed = [r for r in report.runs if r.status == "failed"]
    if report.runs:
        indexed = len(report.runs) - len(report.day_runs)
        click.echo(f"{succeeded} run(s) succeeded, {len(failed)} failed, {len(report.runs) - succeeded - len(failed)} skipped"
                   f" ({indexed} export index run(s), {len(report.day_runs)} day run(s))")
    for export_id, problem in report.failed_exports.items():
        click.echo(f"export not processed (looked at again on the next catch-up): {problem}", err=True)
    if failed:
        click.echo("failed runs can be inspected and re-executed in the Dagster UI (make dev)", err=True)
    return report


# Dates on the command line: click names the option and the expected form when one is malformed.
DAY = click.DateTime(["%Y-%m-%d"])


def _date_range(name: str, start: date | None, end: date | None, days: int = 7) -> dict:
    from recipe_pipeline import lake as layout
    from recipe_pipeline.analytics import range_values, retention_values
    from recipe_pipeline.storage import Location

    present = layout.days_present(Location(_settings().lake_url), layout.DAILY_METRICS)
    if end is None:
        if not present:
            raise click.ClickException("the lake has no data yet: run `recipe-pipeline catch-up` (or `make demo`) first")
        end = date.fromisoformat(present[-1])
    start = start or end - timedelta(days=days - 1)
    if name == "retention_cohorts":  # returns are read through the newest day, as the reports read them
        return retention_values(start, end, date.fromisoformat(present[-1]) if present else end)
    # The reports' own parameters (lookback, first-seen bound and all), so every listed query runs.
    return range_values(start, end)


def _catalog():
    from recipe_pipeline.storage import Location
    from recipe_pipeline.warehouse import DuckDBCatalog

    settings = _settings()
    return DuckDBCatalog(settings.duckdb_path, Location(settings.lake_url))


@main.command()
@click.argument("name")
@click.option("--start", type=DAY, help="First day (YYYY-MM-DD); default: 6 days before --end.")
@click.option("--end", type=DAY, help="Last day (YYYY-MM-DD); default: the newest day with metrics.")
def query(name: str, start: datetime | None, end: datetime | None) -> None:
    """Run a named analytics query (e.g. weekly_recipe_popularity, user_engagement,
    recipe_diversity) on the local engine and print the rows."""
    from recipe_pipeline.sql import query_names

    if name not in query_names() or name == "daily_metrics":
        raise click.ClickException(f"unknown query {name!r}; known: {', '.join(n for n in query_names() if n != 'daily_metrics')}")
    values = _date_range(name, start and start.date(), end and end.date())
    settings = _settings()
    try:
        if settings.engine == "athena":
            import dagster as dg

            from recipe_pipeline.resources import build_resources

            with dg.build_resources({"warehouse": build_resources(settings)["warehouse"]}) as resources:
                columns, rows = resources.warehouse.run_query(name, values)
        else:
            columns, rows = _catalog().run_query(name, values)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{name}  {values['start_date']} .. {values['end_date']}")
    click.echo(format_table(columns, rows))


def _run_reports(settings) -> str | None:
    """Materialize the weekly reports of every complete week in the lake, then the dashboard;
    returns the dashboard's location."""
    from recipe_pipeline import lake as layout
    from recipe_pipeline.assets.reporting import DASHBOARD_PATH
    from recipe_pipeline.definitions import build_definitions
    from recipe_pipeline.partitions import weekly_partitions
    from recipe_pipeline.storage import Location

    lake = Location(settings.lake_url)
    days = layout.days_present(lake, layout.DAILY_METRICS)
    if not days:
        raise click.ClickException("the lake has no data yet: run `recipe-pipeline catch-up` (or `make demo`) first")
    defs = build_definitions(settings)
    instance = _instance()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    weeks = [
        key for key in weekly_partitions.get_partition_keys()
        if first <= date.fromisoformat(key) and date.fromisoformat(key) + timedelta(days=6) <= last
    ]
    job = defs.resolve_job_def("weekly_reports")
    for week in weeks:
        result = job.execute_in_process(partition_key=week, instance=instance, raise_on_error=False, run_config=quiet)
        click.echo(f"  week {week}  reports {'succeeded' if result.success else 'FAILED'}")
        if not result.success:
            raise click.ClickException(f"the reports of week {week} failed; see run {result.run_id} in the Dagster UI")
    result = defs.resolve_job_def("dashboard").execute_in_process(instance=instance, raise_on_error=False, run_config=quiet)
    if not result.success:
        raise click.ClickException(f"the dashboard failed; see run {result.run_id} in the Dagster UI")
    return lake.uri(DASHBOARD_PATH)


@main.command()
def reports() -> None:
    """Materialize the weekly reports of every complete week, and the dashboard."""
    path = _run_reports(_settings())
    click.echo(f"dashboard: {path}")


@main.command("forget-user")
@click.argument("user_id")
def forget_user_command(user_id: str) -> None:
    """Erase USER_ID from every zone of the lake (raw, anonymized, quarantine), recompute the
    affected days' metrics, and write an audit record that holds only the pseudonym."""
    import dagster as dg

    from recipe_pipeline import lake as layout
    from recipe_pipeline.definitions import build_definitions
    from recipe_pipeline.erasure import forget_user
    from recipe_pipeline.storage import Location

    settings = _settings()
    defs = build_definitions(settings)
    with dg.build_resources({"pseudonyms": defs.resources["pseudonyms"]}) as resources:
        pseudonymizer = resources.pseudonyms.pseudonymizer()
    lake = Location(settings.lake_url)
    report = forget_user(lake, pseudonymizer, user_id)
    click.echo(f"user {report.pseudonym[:12]}… (pseudonym): {report.total_rows} row(s) removed from {len(report.days)} day(s)")
    if report.export_lines_removed:
        click.echo(f"  and {sum(report.export_lines_removed.values())} unreadable export line(s) from {len(report.export_lines_removed)} quarantine file(s)")
    if report.activity_rows_removed:
        click.echo(f"  and the user's activity from {len(report.activity_rows_removed)} day(s) of user_activity (kept 2 years)")
    if report.export_day_items_removed:
        click.echo(f"  and {sum(report.export_day_items_removed.values())} item(s) from {len(report.export_day_items_removed)} file(s) of full exports cut by day")
    job = defs.resolve_job_def("metrics_refresh")
    instance = _instance()
    failed = []
    # Every day the user left whose metrics exist, not only those whose anonymized file still
    # held them (a day run may have left them out of it already); a day without metrics was
    # stopped by a blocking check or not yet built, and is not built here behind the checks' back.
    for day in (d for d in report.days if lake.exists(layout.daily_metrics_path(d))):
        result = job.execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False,
            tags={"recipe_pipeline/reason": "forget-user"},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        click.echo(f"  {day}  metrics recomputed: {'ok' if result.success else 'FAILED'}")
        if not result.success:
            failed.append(day)
    click.echo(f"audit record: {lake.uri(report.audit_path)}")
    if failed:
        raise click.ClickException(f"metrics could not be recomputed for {', '.join(failed)}; re-run metrics_refresh for them")


@main.command()
@click.option("--today", type=DAY, help="Apply retention as of this day (YYYY-MM-DD); default: today (UTC).")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def retention(today: datetime | None, dry_run: bool) -> None:
    """Delete partitions past retention: conversations after 90 days, aggregates after 2 years
    (the lake_retention job, run here in-process)."""
    from datetime import UTC

    from recipe_pipeline import lake as layout
    from recipe_pipeline.retention import apply_retention
    from recipe_pipeline.storage import Location

    settings = _settings()
    as_of = today.date() if today else datetime.now(UTC).date()
    report = apply_retention(Location(settings.lake_url), as_of, dry_run=True)
    for zone, days in report.expired.items():
        span = f"{days[0]} .. {days[-1]}" if days else "nothing"
        click.echo(f"  {zone:<28} {len(days):>4} day(s) past retention: {span}")
    for zone, exports in ((layout.EXPORT_QUARANTINE, report.expired_export_quarantine), (layout.EXPORT_DAYS, report.expired_export_days)):
        click.echo(f"  {zone:<28} {len(exports):>4} export(s) past retention{': ' + ', '.join(exports) if exports else ''}")
    click.echo(f"  {'temporary files':<28} {len(report.stale_temp_files):>4} left by writers killed mid-write")
    if dry_run:
        click.echo("dry run: nothing deleted")
        return
    from recipe_pipeline.definitions import build_definitions

    result = build_definitions(settings).resolve_job_def("lake_retention").execute_in_process(
        instance=_instance(), raise_on_error=False,
        run_config={"ops": {"apply_lake_retention": {"config": {"today": as_of.isoformat()}}},
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        raise click.ClickException("the lake_retention run failed; see it in the Dagster UI")
    click.echo(f"deleted; run {result.run_id}")


def _deployment():
    from recipe_pipeline.aws import Deployment

    try:
        return Deployment.from_environment()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--dry-run", is_flag=True, help="Print what would change, change nothing.")
def provision(dry_run: bool) -> None:
    """Create or update the AWS resources (DynamoDB table, S3 bucket, Glue database, Athena
    workgroup) to match the configuration; a second run changes nothing."""
    import boto3

    from recipe_pipeline.aws import provision as apply_provisioning

    apply_provisioning(_deployment(), boto3.session.Session(), dry_run=dry_run, log=click.echo)


@main.command("iam-policy")
@click.option("--account", default="*", help="AWS account id for the ARNs.")
@click.option("--region", default="*", help="AWS region for the ARNs.")
def iam_policy(account: str, region: str) -> None:
    """Print the least-privilege IAM policy the pipeline's runs need (JSON)."""
    import json

    from recipe_pipeline.aws import pipeline_iam_policy

    click.echo(json.dumps(pipeline_iam_policy(_deployment(), account, region), indent=2))


@main.command("lifecycle-config")
def lifecycle_config() -> None:
    """Print the S3 lifecycle configuration that expresses the retention rules (JSON for
    PutBucketLifecycleConfiguration) for an s3:// lake."""
    import json

    from recipe_pipeline.retention import lifecycle_configuration

    settings = _settings()
    try:
        click.echo(json.dumps(lifecycle_configuration(settings.lake_url, settings.exports_url), indent=2))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--days", type=click.IntRange(2, 400), default=14, show_default=True)
def demo(seed: int, days: int) -> None:
    """Simulate two weeks of traffic, catch up, and print a summary."""
    from recipe_pipeline.simulate import SimulationConfig, write_simulation
    from recipe_pipeline.storage import Location

    settings = _settings()
    config = SimulationConfig(seed=seed, days=days)
    try:
        result = write_simulation(Location(settings.exports_url), config)
    except FileExistsError as exc:
        raise click.ClickException(f"{exc}\n(`make clean` removes the local demo state)") from exc
    click.echo(f"simulated {result.stats.messages} messages in {len(result.export_ids)} DynamoDB exports at {settings.exports_url}")
    report = _run_catch_up()

    from recipe_pipeline.analytics import range_values

    first, last = config.start, config.start + timedelta(days=days - 1)
    values = range_values(first, last)
    catalog = _catalog()
    columns, [row] = catalog.run_query("lake_summary", values)
    totals = dict(zip(columns, row))
    top_columns, top_rows = catalog.run_query("weekly_recipe_popularity", values)
    click.echo("")
    click.echo(f"summary {first} .. {last}: {totals['days']} days processed, {totals['messages']} messages, "
               f"{totals['conversations']} conversations, {totals['users']} users")
    click.echo("top recipes:")
    click.echo(format_table(top_columns, top_rows[:10]))
    dashboard = _run_reports(settings)
    click.echo("")
    click.echo("outputs:")
    click.echo(f"  dashboard (open it):   {dashboard}")
    click.echo(f"  lake (Parquet/JSON):   {Location(settings.lake_url).uri()}")
    click.echo(f"  DuckDB warehouse:      {settings.duckdb_path}")
    click.echo(f"  Dagster instance:      {os.environ.get('DAGSTER_HOME')}")
    click.echo("next: `make dev` opens the Dagster UI; `recipe-pipeline query weekly_recipe_popularity` queries the lake")
    if not report.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
