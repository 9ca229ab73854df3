"""Every stakeholder metric on a small lake whose answers are known: a returning user, a user
who churns, a conversation that spans midnight, a week boundary (Sunday -> Monday)."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from recipe_pipeline import analytics
from recipe_pipeline import lake as layout
from recipe_pipeline.catchup import catch_up
from recipe_pipeline.definitions import build_definitions
from recipe_pipeline.export_writer import ExportWriter
from recipe_pipeline.retention import apply_retention
from recipe_pipeline.settings import load_settings
from recipe_pipeline.storage import Location
from recipe_pipeline.warehouse import DuckDBCatalog

SUN, MON, NEXT_SUN = date(2025, 1, 5), date(2025, 1, 6), date(2025, 1, 12)


def msg(conversation: str, user: str, at: str, role: str, text: str, **metadata) -> dict:
    return {"conversation_id": conversation, "timestamp": at, "user_id": user, "role": role, "message": text, "metadata": metadata}


ITEMS = [
    # user-a returns on Monday and the next Sunday
    msg("a1", "user-a", "2025-01-05T10:00:00Z", "user", "How do I make ramen?"),
    msg("a1", "user-a", "2025-01-05T10:00:30Z", "assistant", "Here's a recipe for ramen.", tools_used=["timer"]),
    msg("a2", "user-a", "2025-01-06T09:00:00Z", "user", "Can I use a 9x13 pan?"),
    msg("a2", "user-a", "2025-01-06T09:00:30Z", "assistant", "Yes, reduce the time by 5 minutes."),
    msg("a2", "user-a", "2025-01-06T09:01:00Z", "user", "And for 8 people?"),
    msg("a2", "user-a", "2025-01-06T09:02:00Z", "user", "Thanks, it worked perfectly!"),
    msg("a3", "user-a", "2025-01-12T12:00:00Z", "user", "Hi again"),
    # user-b: one conversation across midnight, then gone
    msg("b1", "user-b", "2025-01-05T23:59:50Z", "user", "Quick pancakes?"),
    msg("b1", "user-b", "2025-01-06T00:00:20Z", "assistant", "Here's a recipe for pancakes.", tools_used=["web_search"]),
    msg("b1", "user-b", "2025-01-06T00:01:00Z", "user", "That didn't help, it burned."),
    # user-c: new on the next Sunday, a long conversation with a rating
    *[msg("c1", "user-c", f"2025-01-12T15:0{i}:00Z", "assistant" if i % 2 else "user", "Here's a recipe for tiramisu." if i == 1 else "ok") for i in range(5)],
    msg("c1", "user-c", "2025-01-12T15:09:00Z", "user", "done", rating=5),
]


# D and the days around it, each user active on one edge of a window (DAU: D; WAU: the 7 days
# D-6..D; MAU: the 28 days D-27..D), outcomes at their thresholds on D+1, and a user seen again
# eight days after the first (day 7 retention is exactly seven days later).
D = date(2025, 3, 1)
EDGE_ITEMS = [
    msg("m-out", "user-mau-out", "2025-02-01T12:00:00Z", "user", "hello"),  # D-28
    msg("m-in", "user-mau-in", "2025-02-02T12:00:00Z", "user", "hello"),  # D-27
    msg("w-out", "user-wau-out", "2025-02-22T12:00:00Z", "user", "hello"),  # D-7
    msg("w-in", "user-wau-in", "2025-02-23T12:00:00Z", "user", "hello"),  # D-6
    msg("d", "user-today", "2025-03-01T12:00:00Z", "user", "hello"),  # D
    *[msg("five", "user-o", f"2025-03-02T10:0{i}:00Z", "assistant" if i % 2 else "user", "ok") for i in range(5)],
    msg("mixed", "user-o", "2025-03-02T11:00:00Z", "user", "Thanks for the recipe!"),
    msg("mixed", "user-o", "2025-03-02T11:00:30Z", "assistant", "You're welcome."),
    msg("mixed", "user-o", "2025-03-02T11:01:00Z", "user", "But the crust burned."),
    msg("r1", "user-r", "2025-03-02T12:00:00Z", "user", "hello"),
    msg("r2", "user-r", "2025-03-10T12:00:00Z", "user", "hello again"),  # cohort + 8
]


def build_lake(tmp_path, items: list[dict], exported: datetime):
    """A lake built by the real pipeline (catch-up over one full export); returns its query runner."""
    settings = load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake")})
    ExportWriter(Location(settings.exports_url)).write_full_export(items, exported)
    with warnings.catch_warnings(), dg.instance_for_test() as instance:
        warnings.simplefilter("ignore")  # the development pseudonym key is fine for a test lake
        report = catch_up(build_definitions(settings), instance, log=lambda _: None)
    assert report.ok and [r.partition_key for r in report.day_runs] == sorted({i["timestamp"][:10] for i in items})
    return DuckDBCatalog(settings.duckdb_path, Location(settings.lake_url)).run_query


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The lake built once for the module."""
    return build_lake(tmp_path_factory.mktemp("analytics"), ITEMS, datetime(2025, 1, 13, tzinfo=UTC))


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory):
    return build_lake(tmp_path_factory.mktemp("edges"), EDGE_ITEMS, datetime(2025, 3, 11, tzinfo=UTC))


def test_active_users_are_rolling_distinct_counts(run):
    rows = {r["date"]: r for r in analytics.active_users(run, SUN, NEXT_SUN)}
    assert {d: (r["dau"], r["wau"], r["mau"]) for d, r in rows.items()} == {
        "2025-01-05": (2, 2, 2),
        "2025-01-06": (2, 2, 2),  # b's midnight conversation makes b active on both days
        **{f"2025-01-{d:02d}": (0, 2, 2) for d in range(7, 12)},  # nobody active: still a row each
        "2025-01-12": (2, 3, 3),  # a and c today; b was active within the last 7 days
    }
    assert rows["2025-01-12"]["stickiness"] == round(2 / 3, 4)
    assert rows["2025-01-12"]["wau_growth"] == round((3 - 2) / 2, 4)  # against 2025-01-05


def test_wau_growth_of_a_weekly_range_reads_the_week_before(run):
    # A weekly report's range (Monday to Sunday) holds no day seven days before another.
    rows = {r["date"]: r for r in analytics.active_users(run, MON, NEXT_SUN)}
    assert "2025-01-05" not in rows  # read for growth only
    assert rows["2025-01-12"]["wau_growth"] == round((3 - 2) / 2, 4)  # against 2025-01-05


def test_active_users_has_a_row_for_every_day_even_at_the_range_edges(run):
    # 2025-01-13 .. 01-14 follow the last activity: DAU 0, and the window still holds a, b, c.
    rows = analytics.active_users(run, date(2025, 1, 7), date(2025, 1, 14))
    assert [r["date"] for r in rows] == [f"2025-01-{d:02d}" for d in range(7, 15)]
    assert (rows[0]["dau"], rows[0]["wau"]) == (0, 2)
    assert (rows[-1]["dau"], rows[-1]["wau"], rows[-1]["mau"]) == (0, 2, 3)


def test_active_users_has_a_row_for_every_day_before_the_first_activity_too(run):
    # The calendar started at the first activity read: a launch week lost its idle days, and the
    # weekly report's average DAU, a mean over the rows, came out up to seven times too high.
    rows = analytics.active_users(run, date(2024, 12, 30), date(2025, 1, 5))
    assert [(r["date"], r["dau"], r["wau"]) for r in rows] == [
        *((f"2024-12-{d}", 0, 0) for d in (30, 31)), *((f"2025-01-0{d}", 0, 0) for d in range(1, 5)), ("2025-01-05", 2, 2)]
    assert [(r["date"], r["mau"]) for r in analytics.active_users(run, date(2024, 11, 1), date(2024, 11, 2))] == [
        ("2024-11-01", 0), ("2024-11-02", 0)]  # nothing read at all


def test_new_and_returning_users(run):
    columns, rows = run("new_vs_returning", analytics.range_values(SUN, NEXT_SUN))
    assert [dict(zip(columns, r)) for r in rows] == [
        {"date": "2025-01-05", "new_users": 2, "returning_users": 0},
        {"date": "2025-01-06", "new_users": 0, "returning_users": 2},
        {"date": "2025-01-12", "new_users": 1, "returning_users": 1},
    ]


def test_a_user_back_after_their_first_days_conversations_expired_is_returning_not_new(tmp_path):
    # Conversations are kept 90 days; first-seen dates come from user_activity, kept 2 years.
    first, back = date(2025, 1, 10), date(2025, 5, 1)
    items = [msg("x1", "user-x", "2025-01-10T12:00:00Z", "user", "hello"),
             msg("x2", "user-x", "2025-05-01T12:00:00Z", "user", "hello again"),
             msg("y1", "user-y", "2025-05-01T13:00:00Z", "user", "hi")]
    run = build_lake(tmp_path, items, datetime(2025, 5, 2, tzinfo=UTC))
    report = apply_retention(Location(load_settings({"RECIPE_PIPELINE_LAKE": str(tmp_path / "lake")}).lake_url), date(2025, 5, 2))
    assert report.expired[layout.CONVERSATIONS] == [first.isoformat()] and not report.expired[layout.USER_ACTIVITY]

    columns, rows = run("new_vs_returning", analytics.range_values(back, back))
    assert [dict(zip(columns, r)) for r in rows] == [{"date": "2025-05-01", "new_users": 1, "returning_users": 1}]
    assert [c["cohort"] for c in analytics.retention(run, first, back, back)] == ["2025-01-10", "2025-05-01"]
    assert [(c["users"], c["day_1"]) for c in analytics.retention(run, back, back, back)] == [(1, 0)]  # user-y alone


def test_retention_cohorts(run):
    cohorts = {c["cohort"]: c for c in analytics.retention(run, SUN, NEXT_SUN, NEXT_SUN)}
    sunday = cohorts["2025-01-05"]
    assert (sunday["users"], sunday["day_1"], sunday["day_7"]) == (2, 2, 1)
    assert (sunday["day_1_rate"], sunday["day_7_rate"], sunday["day_30_rate"]) == (1.0, 0.5, None)  # day 30 not yet observable
    assert cohorts["2025-01-12"]["users"] == 1 and cohorts["2025-01-12"]["day_1_rate"] is None


def test_retention_counts_returns_after_the_cohort_range(run):
    # The weekly report asks for one week's cohorts with the data running on past it.
    [sunday] = analytics.retention(run, SUN, SUN, NEXT_SUN)
    assert (sunday["users"], sunday["day_1"], sunday["day_7"]) == (2, 2, 1)
    assert (sunday["day_1_rate"], sunday["day_7_rate"], sunday["day_30_rate"]) == (1.0, 0.5, None)


def test_latest_cohorts_whose_day_7_and_day_30_are_observable(run):
    assert analytics.latest_observable_week(NEXT_SUN, 7) == (date(2024, 12, 30), SUN)
    latest = analytics.latest_observable_cohorts(run, NEXT_SUN)
    assert [(c["cohort"], c["day_7_rate"]) for c in latest[7]] == [("2025-01-05", 0.5)]
    assert latest[30] == []  # no cohort 30 days before the data's end


def test_recipes_categories_and_the_week_boundary(run):
    body = analytics.recipes(run, SUN, NEXT_SUN)
    assert {r["recipe_name"]: (r["mentions"], r["unique_users"]) for r in body["top_recipes"]} == {"ramen": (1, 1), "pancakes": (1, 1), "tiramisu": (1, 1)}
    assert {r["recipe_category"] for r in body["categories"]} == {"soup", "breakfast", "dessert"}
    assert body["distinct_recipes"] == 3
    trend = {(r["week"], r["recipe_category"]): r["mentions"] for r in body["category_trend"]}
    # Sunday's ramen belongs to the week that began on Monday 2024-12-30; Monday's pancakes to the next.
    assert trend == {("2024-12-30", "soup"): 1, ("2025-01-06", "breakfast"): 1, ("2025-01-06", "dessert"): 1}


def test_usage_heatmap_by_iso_weekday_and_utc_hour(run):
    cells = {(c["day_of_week"], c["hour_of_day"]): c["messages"] for c in analytics.heatmap(run, SUN, NEXT_SUN)}
    assert cells[(7, 10)] == 2 and cells[(7, 23)] == 1  # Sunday
    assert cells[(1, 0)] == 2 and cells[(1, 9)] == 4  # Monday, after midnight
    assert cells[(7, 12)] == 1 and cells[(7, 15)] == 6
    assert sum(cells.values()) == len(ITEMS)


def test_tool_adoption_and_outcomes(run):
    body = analytics.engagement(run, SUN, NEXT_SUN)
    assert {t["tool"]: (t["uses"], t["conversations_using"], t["adoption_rate"]) for t in body["tools"]} == {
        "timer": (1, 1, 0.2), "web_search": (1, 1, 0.2),
    }
    outcomes = body["outcomes"]
    assert outcomes["conversations"] == 5
    assert outcomes["completion"] == {"High": 1, "Medium": 1, "Low": 3}
    assert outcomes["satisfaction"] == {"satisfied": 2, "dissatisfied": 1, "unknown": 2}
    assert outcomes["satisfaction_rate"] == round(2 / 3, 4)


def test_outcomes_count_a_conversation_once_whole_on_the_day_it_began(run):
    # b1 begins Sunday 23:59:50 and ends on Monday with "That didn't help, it burned."
    sunday, monday = analytics.outcomes(run, SUN, SUN), analytics.outcomes(run, MON, MON)
    assert (sunday["conversations"], sunday["satisfaction"]["dissatisfied"]) == (2, 1)  # a1, b1 (all 3 messages)
    assert (monday["conversations"], monday["satisfaction"]["dissatisfied"]) == (1, 0)  # a2 only
    assert analytics.outcomes(run, SUN, MON)["conversations"] == 3


def test_tool_adoption_counts_a_conversation_once_whole_on_the_day_it_began(run):
    # b1 begins on Sunday; its web_search came after midnight: Sunday's, not Monday's.
    def tools(start, end):
        return {r["tool"]: (r["uses"], r["conversations_using"], r["adoption_rate"]) for r in analytics._records(run, "tool_adoption", analytics.range_values(start, end))}

    assert tools(SUN, SUN) == {"timer": (1, 1, 0.5), "web_search": (1, 1, 0.5)}  # a1 and b1
    assert tools(MON, MON) == {}  # a2 used no tool
    assert tools(SUN, MON) == {"timer": (1, 1, 1 / 3), "web_search": (1, 1, 1 / 3)}


def test_wau_mau_window_edges_and_lookback(edge_run):
    # Alone in the range, D still sees the 27 days before it: the lookback reads them.
    [row] = analytics.active_users(edge_run, D, D)
    assert (row["date"], row["dau"], row["wau"], row["mau"]) == ("2025-03-01", 1, 2, 4)
    assert row["stickiness"] == 0.25  # DAU / MAU; DAU / WAU would be 0.5
    # With D-28 inside the range (so read), it still falls outside D's month.
    rows = {r["date"]: r for r in analytics.active_users(edge_run, D - timedelta(days=28), D)}
    assert "2025-02-01" in rows
    assert (rows["2025-03-01"]["wau"], rows["2025-03-01"]["mau"]) == (2, 4)


def test_completion_threshold_and_dissatisfaction_winning_over_thanks(edge_run):
    outcomes = analytics.outcomes(edge_run, D + timedelta(days=1), D + timedelta(days=1))
    assert outcomes["conversations"] == 3
    assert outcomes["completion"] == {"High": 0, "Medium": 1, "Low": 2}  # five messages are not "more than 5"
    assert outcomes["satisfaction"] == {"satisfied": 0, "dissatisfied": 1, "unknown": 2}


def test_day_7_retention_counts_only_exactly_seven_days_later(edge_run):
    cohort_day = D + timedelta(days=1)
    [cohort] = analytics.retention(edge_run, cohort_day, cohort_day, date(2025, 3, 10))
    assert (cohort["cohort"], cohort["users"], cohort["day_1"], cohort["day_7"]) == ("2025-03-02", 2, 0, 0)  # user-r came back on day 8
    assert cohort["day_7_rate"] == 0.0
