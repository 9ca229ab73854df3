"""Stakeholder metrics over the analytics zone, from the named queries (Athena SQL; DuckDB runs
the same files locally), plus what is derived from their rows.

Definitions (README "Metrics"):
- DAU / WAU / MAU: distinct pseudonymous users active on the day / in the 7 / 28 days ending that
  day (never sums of daily uniques). Stickiness = DAU / MAU. Week-over-week growth = WAU against
  WAU seven days earlier.
- New user: first seen that day in the users' activity (``user_activity``, kept 2 years, unlike
  the conversations' 90 days); returning: seen on an earlier day.
- Retention: for a cohort (users first seen on a day, as for new users), the share active again
  exactly 1, 7 and 30 days later; None while that day is still in the future of the data.
- Completion (the seed's heuristic): High if a conversation has more than 5 messages, Medium if
  more than 3, else Low. A conversation counts in the range holding its first message, whole. Satisfaction: a user message that thanks or reports success, or rates
  4-5 -> satisfied; one that reports failure ("didn't help", "burned", "too dry") or rates 1-2 ->
  dissatisfied (wins over satisfied); otherwise unknown.
- Tool adoption: share of conversations in the range in which the tool was used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

QueryRunner = Callable[[str, dict[str, Any]], tuple[list[str], list[tuple]]]


def range_values(start: date, end: date) -> dict[str, Any]:
    """Every parameter the named queries take, for the days [start, end]."""
    ymd = lambda d: int(d.strftime("%Y%m%d"))  # noqa: E731
    return {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "start_ymd": ymd(start),
        "end_ymd": ymd(end),
        "lookback_ymd": ymd(start - timedelta(days=27)),
        "first_ymd": 0,  # first-seen needs every day the lake still holds
        # conversations crossing the range's edges are read whole (conversation_outcomes)
        "read_start_ymd": ymd(start - timedelta(days=1)),
        "read_end_ymd": ymd(end + timedelta(days=1)),
    }


def _records(run: QueryRunner, name: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    columns, rows = run(name, values)
    return [dict(zip(columns, row)) for row in rows]


def active_users(run: QueryRunner, start: date, end: date) -> list[dict[str, Any]]:
    # Growth compares each day's WAU with the WAU seven days earlier, so the week before the range
    # is read too (a weekly report's range holds no such pair) and dropped once growth is known.
    rows = _records(run, "active_users", range_values(start - timedelta(days=7), end))
    by_date = {r["date"]: r for r in rows}
    for row in rows:
        row["stickiness"] = round(row["dau"] / row["mau"], 4) if row["mau"] else None
        week_before = by_date.get((date.fromisoformat(row["date"]) - timedelta(days=7)).isoformat())
        row["wau_growth"] = round((row["wau"] - week_before["wau"]) / week_before["wau"], 4) if week_before and week_before["wau"] else None
    return [r for r in rows if r["date"] >= start.isoformat()]


def retention_values(start: date, end: date, data_end: date) -> dict[str, Any]:
    """``retention_cohorts``'s parameters: cohorts of the days [start, end], their returns read
    through ``data_end`` (a week's cohorts return after the week)."""
    return {**range_values(start, end), "end_ymd": range_values(start, max(end, data_end))["end_ymd"]}


def retention(run: QueryRunner, start: date, end: date, data_end: date) -> list[dict[str, Any]]:
    """Cohorts first seen on the days [start, end]; their returns are read through ``data_end``."""
    rows = _records(run, "retention_cohorts", retention_values(start, end, data_end))
    for row in rows:
        cohort = date.fromisoformat(row["cohort"])
        for n in (1, 7, 30):
            observable = cohort + timedelta(days=n) <= data_end
            row[f"day_{n}_rate"] = round(row[f"day_{n}"] / row["users"], 4) if observable and row["users"] else None
    return rows


def latest_observable_week(data_end: date, n: int) -> tuple[date, date]:
    """The latest seven cohort days whose day-n return is observable by ``data_end``."""
    last = data_end - timedelta(days=n)
    return last - timedelta(days=6), last


def latest_observable_cohorts(run: QueryRunner, data_end: date) -> dict[int, list[dict[str, Any]]]:
    """For day 7 and day 30: the cohorts of ``latest_observable_week`` (one query reads both)."""
    weeks = {n: latest_observable_week(data_end, n) for n in (7, 30)}
    cohorts = retention(run, weeks[30][0], weeks[7][1], data_end)
    return {n: [c for c in cohorts if first <= date.fromisoformat(c["cohort"]) <= last] for n, (first, last) in weeks.items()}


def outcomes(run: QueryRunner, start: date, end: date) -> dict[str, Any]:
    rows = _records(run, "conversation_outcomes", range_values(start, end))
    total = sum(r["conversations"] for r in rows)
    completion: dict[str, int] = {"High": 0, "Medium": 0, "Low": 0}
    satisfaction: dict[str, int] = {"satisfied": 0, "dissatisfied": 0, "unknown": 0}
    for r in rows:
        completion[r["completion"]] += r["conversations"]
        satisfaction[r["satisfaction"]] += r["conversations"]
    rated = satisfaction["satisfied"] + satisfaction["dissatisfied"]
    return {
        "conversations": total,
        "completion": completion,
        "completion_rate": round(completion["High"] / total, 4) if total else None,
        "satisfaction": satisfaction,
        "satisfaction_rate": round(satisfaction["satisfied"] / rated, 4) if rated else None,
    }


def heatmap(run: QueryRunner, start: date, end: date) -> list[dict[str, Any]]:
    return _records(run, "usage_heatmap", range_values(start, end))


def recipes(run: QueryRunner, start: date, end: date) -> dict[str, Any]:
    values = range_values(start, end)
    return {
        # top_recipes is a top 20; the count of every recipe mentioned comes from the totals.
        "distinct_recipes": _records(run, "lake_summary", values)[0]["recipes"],
        "top_recipes": _records(run, "weekly_recipe_popularity", values),
        "categories": _records(run, "category_distribution", values),
        "category_trend": _records(run, "category_trend", values),
        "diversity": _records(run, "recipe_diversity", values),
    }


def engagement(run: QueryRunner, start: date, end: date) -> dict[str, Any]:
    values = range_values(start, end)
    return {
        "active_users": active_users(run, start, end),
        "new_vs_returning": _records(run, "new_vs_returning", values),
        "daily": _records(run, "user_engagement", values),
        "tools": _records(run, "tool_adoption", values),
        "outcomes": outcomes(run, start, end),
    }


def dashboard_data(run: QueryRunner, start: date, end: date, generated: str) -> dict[str, Any]:
    """Everything the dashboard draws, for the days [start, end]."""
    week = max(start, end - timedelta(days=6))
    values = range_values(start, end)
    active = active_users(run, start, end)
    out = outcomes(run, start, end)
    categories = _records(run, "category_distribution", values)
    last = active[-1] if active else {"dau": 0, "wau": 0, "mau": 0, "stickiness": None, "wau_growth": None}
    totals = _records(run, "lake_summary", values)[0]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "week_start": week.isoformat(),
        "generated": generated,
        "active_users": active,
        "daily": sorted(_records(run, "user_engagement", values), key=lambda r: r["date"]),
        "top_recipes": _records(run, "weekly_recipe_popularity", range_values(week, end)),
        "categories": categories,
        "retention": retention(run, start, end, end),
        "heatmap": heatmap(run, start, end),
        "tools": _records(run, "tool_adoption", values),
        "outcomes": out,
        "kpis": {
            "days": totals["days"],
            "messages": totals["messages"],
            "conversations": totals["conversations"],
            "users": totals["users"],
            f"DAU {end.isoformat()}": last["dau"],
            "WAU": last["wau"],
            "MAU": last["mau"],
            "stickiness": f"{last['stickiness']:.0%}" if last["stickiness"] is not None else "—",
            "completion (High)": f"{out['completion_rate']:.0%}" if out["completion_rate"] is not None else "—",
            "satisfaction": f"{out['satisfaction_rate']:.0%}" if out["satisfaction_rate"] is not None else "—",
        },
    }
