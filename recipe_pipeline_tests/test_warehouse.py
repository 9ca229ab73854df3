"""The local DuckDB catalog over a lake directory."""

from __future__ import annotations

import pyarrow.parquet as pq

from recipe_pipeline.activity import user_activity
from recipe_pipeline.storage import Location
from recipe_pipeline.warehouse import DuckDBCatalog
from recipe_pipeline_tests.conftest import anonymized_day


def write_day(lake, *, activity: bool) -> None:
    """One anonymized day (2025-01-01) of one message, its metrics and, if ``activity``, its user activity."""
    day = lake / "conversations" / "year=2025" / "month=01" / "day=01"
    day.mkdir(parents=True)
    pq.write_table(anonymized_day([{"conversation_id": "c1", "role": "user", "message": "hi"}]), str(day / "conversations-2025-01-01.parquet"))
    metrics = lake / "aggregated" / "daily" / "year=2025" / "month=01" / "day=01"
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "daily-metrics-2025-01-01.json").write_text('{"date": "2025-01-01", "total_messages": 1}\n')
    if activity:
        write_activity(lake)


def write_activity(lake) -> None:
    folder = lake / "aggregated" / "user_activity" / "year=2025" / "month=01" / "day=01"
    folder.mkdir(parents=True)
    conversations = pq.ParquetFile(str(lake / "conversations" / "year=2025" / "month=01" / "day=01" / "conversations-2025-01-01.parquet"))
    pq.write_table(user_activity(conversations, "2025-01-01"), str(folder / "user-activity-2025-01-01.parquet"))


def test_catalog_views_over_a_lake_path_holding_a_semicolon(tmp_path):
    lake = tmp_path / "team;analytics" / "lake"  # legal in a POSIX path
    write_day(lake, activity=True)
    catalog = DuckDBCatalog(str(tmp_path / "warehouse.duckdb"), Location(str(lake)))
    assert len(catalog.refresh()) == 3
    with catalog.connect(read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM recipe_conversations WHERE day = 1").fetchone() == (1,)
        assert con.execute("SELECT total_messages FROM daily_metrics WHERE day = 1").fetchone() == (1,)
        assert con.execute("SELECT messages FROM user_activity WHERE day = 1").fetchone() == (1,)


def test_a_lake_built_before_user_activity_gets_an_empty_view_until_its_first_activity_file(tmp_path):
    # read_parquet fails on a pattern matching no file: the catalog could not be refreshed at all.
    lake = tmp_path / "lake"
    write_day(lake, activity=False)
    catalog = DuckDBCatalog(str(tmp_path / "warehouse.duckdb"), Location(str(lake)))
    catalog.refresh()
    with catalog.connect(read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT user_id) FROM user_activity WHERE day = 1").fetchone() == (0, 0)
        empty = con.execute("DESCRIBE user_activity").fetchall()
    write_activity(lake)
    catalog.refresh()
    with catalog.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM user_activity WHERE day = 1").fetchone() == (1,)
        real = con.execute("DESCRIBE user_activity").fetchall()
    # The same columns, types and order: a query cannot tell the stand-in from the real view.
    assert [row[:2] for row in empty] == [row[:2] for row in real] == [
        ("activity_date", "DATE"), ("user_id", "VARCHAR"), ("messages", "BIGINT"), ("year", "INTEGER"), ("month", "INTEGER"), ("day", "INTEGER")]
