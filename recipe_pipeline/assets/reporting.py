"""Reporting layer: weekly stakeholder reports and the dashboard, over the warehouse tables.

Each weekly report covers one ISO week (Monday to Sunday, UTC) and depends on the seven daily
partitions of ``athena_tables``; it runs the named queries on the configured engine (DuckDB
locally, Athena in production), writes ``reports/<name>/week=YYYY-MM-DD/<name>.json``, shows a
markdown preview, and records the numbers a user would chart as numeric metadata (the UI plots
them per partition). ``stakeholder_dashboard`` draws every day in the lake into one
self-contained HTML page.
"""

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from recipe_pipeline import analytics
from recipe_pipeline import lake as layout
from recipe_pipeline.assets.common import NETWORK_RETRY, OWNERS, fail_fast, markdown_table
from recipe_pipeline.assets.warehouse import athena_tables
from recipe_pipeline.dashboard import render_dashboard
from recipe_pipeline.partitions import weekly_partitions
from recipe_pipeline.resources import LakeResource, WarehouseResource

REPORTS = "reports"
DASHBOARD_PATH = "dashboard/index.html"


def _week(context: dg.AssetExecutionContext) -> tuple[date, date]:
    window = context.partition_time_window
    return window.start.date(), window.end.date() - timedelta(days=1)


def _write(lake: LakeResource, name: str, week_start: date, body: dict) -> str:
    path = f"{REPORTS}/{name}/week={week_start.isoformat()}/{name.replace('_', '-')}.json"
    lake.location().write_bytes(json.dumps(body, indent=1, default=str).encode(), path)
    return lake.location().uri(path)


def _mean(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else 0.0


def _retention_metadata(cohorts: list[dict], n: int, key: str) -> dict[str, float]:
    """The share of the users of the cohorts whose day n is observable who were active again on
    day n (each user counts once, not each cohort: a one-user cohort weighed as much as a
    large one); nothing when no cohort is observable, so the UI plots no point rather than a 0%
    retention nobody measured."""
    observable = [c for c in cohorts if c[f"day_{n}_rate"] is not None]
    users = sum(c["users"] for c in observable)
    return {key: round(sum(c[f"day_{n}"] for c in observable) / users, 4)} if users else {}


def _days_with_data(lake: LakeResource, zone: str) -> list[str]:
    days = layout.days_present(lake.location(), zone)
    if not days:
        raise dg.Failure("the lake has no daily data yet: materialize the daily pipeline first", allow_retries=False)
    return days


report = dict(partitions_def=weekly_partitions, deps=[athena_tables], group_name="reporting", kinds={"python", "json"}, owners=OWNERS,
              retry_policy=NETWORK_RETRY)


@dg.asset(**report)
@fail_fast
def recipe_popularity_report(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The week's most discussed recipes (mentions and distinct users), category distribution,
    category trend and daily recipe diversity: the seed's `weekly_recipe_popularity` and
    `recipe_diversity` queries plus the category taxonomy."""
    start, end = _week(context)
    body = analytics.recipes(warehouse.run_query, start, end)
    uri = _write(lake, "recipe_popularity", start, {"week": start.isoformat(), **body})
    top = body["top_recipes"]
    return dg.MaterializeResult(
        metadata={
            "dagster/uri": uri,
            "distinct_recipes": body["distinct_recipes"],
            "recipe_mentions": sum(r["mentions"] for r in body["categories"]),
            "top_recipe_mentions": top[0]["mentions"] if top else 0,
            "top_recipes": dg.MetadataValue.md(markdown_table(top[:10])),
            "categories": dg.MetadataValue.md(markdown_table(body["categories"])),
        }
    )


@dg.asset(**report)
@fail_fast
def engagement_report(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """DAU/WAU/MAU (rolling distinct users), stickiness, week-over-week growth, new vs returning
    users, conversations and messages per conversation, tool adoption and conversation outcomes
    (completion and satisfaction) for the week: the seed's `user_engagement` and more."""
    start, end = _week(context)
    body = analytics.engagement(warehouse.run_query, start, end)
    uri = _write(lake, "engagement", start, {"week": start.isoformat(), **body})
    active = body["active_users"]
    last = active[-1] if active else {}
    outcomes = body["outcomes"]
    # A rate with nothing to measure it on (no users, no conversations, no WAU a week before) is
    # left out, so the UI plots no point rather than a 0 nobody measured.
    rates = {"stickiness": last.get("stickiness"), "wau_growth": last.get("wau_growth"),
             "completion_rate": outcomes["completion_rate"], "satisfaction_rate": outcomes["satisfaction_rate"]}
    return dg.MaterializeResult(
        metadata={
            "dagster/uri": uri,
            "average_dau": _mean([r["dau"] for r in active]),
            "wau": last.get("wau", 0),
            "mau": last.get("mau", 0),
            **{name: rate for name, rate in rates.items() if rate is not None},
            "new_users": sum(r["new_users"] for r in body["new_vs_returning"]),
            "returning_user_days": sum(r["returning_users"] for r in body["new_vs_returning"]),
            "conversations": outcomes["conversations"],
            "active_users": dg.MetadataValue.md(markdown_table(active)),
            "tool_adoption": dg.MetadataValue.md(markdown_table(body["tools"])),
        }
    )


@dg.asset(**report)
@fail_fast
def retention_cohorts(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Cohorts of users first seen on each day of the week, with the share active again exactly
    1, 7 and 30 days later (empty while that day is still ahead of the data; a rate nobody could
    observe yet is left out of the metadata, not plotted as 0). Also the day-7 and day-30
    retention of the latest cohorts for which they are known, since a week's own cohorts
    have no day-7 return yet when the Monday schedule reports on them."""
    start, end = _week(context)
    data_end = date.fromisoformat(_days_with_data(lake, layout.DAILY_METRICS)[-1])
    cohorts = analytics.retention(warehouse.run_query, start, end, data_end)
    latest = analytics.latest_observable_cohorts(warehouse.run_query, data_end)
    uri = _write(lake, "retention_cohorts", start, {
        "week": start.isoformat(), "data_end": data_end.isoformat(), "cohorts": cohorts,
        "latest_observable": {f"day_{n}": rows for n, rows in latest.items()},
    })
    metadata = {"dagster/uri": uri, "new_users": sum(c["users"] for c in cohorts)}
    for n in (1, 7, 30):
        metadata.update(_retention_metadata(cohorts, n, f"day_{n}_retention"))
    for n, rows in latest.items():
        rate = _retention_metadata(rows, n, f"latest_day_{n}_retention")
        if rate:
            first, last = analytics.latest_observable_week(data_end, n)
            metadata.update(rate, **{f"latest_day_{n}_cohorts": f"{first} .. {last}"})
    metadata["cohorts"] = dg.MetadataValue.md(markdown_table(cohorts))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(**report)
@fail_fast
def usage_heatmap(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Messages and conversations by ISO day of week and UTC hour for the week (peak hours)."""
    start, end = _week(context)
    cells = analytics.heatmap(warehouse.run_query, start, end)
    uri = _write(lake, "usage_heatmap", start, {"week": start.isoformat(), "cells": cells})
    by_hour: dict[int, int] = {}
    for cell in cells:
        by_hour[cell["hour_of_day"]] = by_hour.get(cell["hour_of_day"], 0) + cell["messages"]
    peak = max(by_hour.items(), key=lambda kv: kv[1]) if by_hour else (0, 0)
    return dg.MaterializeResult(
        metadata={
            "dagster/uri": uri,
            "peak_hour_utc": peak[0],
            "peak_hour_messages": peak[1],
            "messages_by_hour": dg.MetadataValue.md(markdown_table([{"hour": h, "messages": n} for h, n in sorted(by_hour.items())])),
        }
    )


@dg.asset(
    deps=[recipe_popularity_report, engagement_report, retention_cohorts, usage_heatmap],
    group_name="reporting",
    kinds={"html"},
    owners=OWNERS,
)
@fail_fast
def stakeholder_dashboard(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One self-contained HTML page (no network needed to open it) over every day the lake still
    holds conversations of (90 days; its figures come from them, and first days from `user_activity`): active users, top recipes
    of the last 7 days, conversation length, category distribution, retention cohorts, the usage
    heat map, tool adoption and outcomes. `dashboard/index.html`."""
    # Not the daily metrics' days: they are kept two years, and the page's range then promised
    # figures of days whose conversations had expired.
    days = _days_with_data(lake, layout.CONVERSATIONS)
    start, end = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    data = analytics.dashboard_data(warehouse.run_query, start, end, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    page = render_dashboard(data)
    lake.location().write_bytes(page.encode(), DASHBOARD_PATH)
    return dg.MaterializeResult(
        metadata={
            "dagster/uri": lake.location().uri(DASHBOARD_PATH),
            "days": len(days),
            "date_range": f"{start} .. {end}",
            "bytes": len(page.encode()),
        }
    )


reporting_assets = [recipe_popularity_report, engagement_report, retention_cohorts, usage_heatmap]
