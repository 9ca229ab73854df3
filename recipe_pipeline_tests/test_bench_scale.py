"""A small-N run of the scale benchmark so it cannot rot: every contender runs in its own
process on the same generated export and agrees on the row count. No timing assertions."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.scale import FLOOR, FUNCTIONS, IO_BOUND, OURS, PEER, main, summary, table


def test_the_scale_benchmark_runs_end_to_end(tmp_path, capsys):
    runs = main(["--messages", "400", "--cache", str(tmp_path / "bench"), "--repeat", "2"])
    assert {run["rows"] for run in runs.values()} == {400}
    # The floor, the I/O bound and ours run two interleaved rounds each, the peer once.
    assert {name: run["runs"] for name, run in runs.items()} == {
        "floor: parse exports into Arrow": 2,
        "I/O bound: floor + write raw, read it, write anonymized": 2,
        "ours: raw + anonymized + metrics (functions)": 2,
        "ours: raw + anonymized + metrics (dagster)": 2,
        "ours: raw + anonymized + metrics (dagster + blocking checks)": 2,
        "peer: seed-style Python": 1,
    }
    assert set(runs) == {
        "floor: parse exports into Arrow",
        "I/O bound: floor + write raw, read it, write anonymized",
        "ours: raw + anonymized + metrics (functions)",
        "ours: raw + anonymized + metrics (dagster)",
        "ours: raw + anonymized + metrics (dagster + blocking checks)",
        "peer: seed-style Python",
    }
    assert all(run["max_rss_mb"] > 0 and run["seconds"] > 0 for run in runs.values())
    printed = capsys.readouterr().out
    assert "ours / floor =" in printed and "peer / ours =" in printed and "peer / I/O bound =" in printed
    assert "median of 2 interleaved rounds" in printed and "| one run |" in printed


def test_a_contender_s_rounds_give_the_median_the_range_and_the_highest_peak():
    rounds = [{"rows": 9, "seconds": s, "max_rss_mb": m, "index_seconds": i} for s, m, i in ((3.0, 500, 1.0), (1.0, 700, 3.0), (2.0, 600, 2.0))]
    assert summary(rounds) == {"rows": 9, "seconds": 2.0, "min_seconds": 1.0, "max_seconds": 3.0, "max_rss_mb": 700, "runs": 3, "index_seconds": 2.0}
    with pytest.raises(AssertionError, match="row count"):
        summary([{"rows": 9, "seconds": 1.0, "max_rss_mb": 1}, {"rows": 8, "seconds": 1.0, "max_rss_mb": 1}])


def test_repeat_must_be_at_least_one(tmp_path):
    with pytest.raises(SystemExit):
        main(["--messages", "400", "--cache", str(tmp_path / "bench"), "--repeat", "0"])


def test_the_sensor_tick_benchmark_runs_with_a_few_days_of_exports(tmp_path):
    # Its own process: the benchmark sets the partitions' start date before the package loads.
    out = subprocess.run([sys.executable, "-m", "bench.sensor_tick", "--days", "3", "--cache", str(tmp_path / "bench")],
                         capture_output=True, text=True, check=True).stdout
    rows = [cells[3].strip() for cells in (line.split("|") for line in out.splitlines()) if len(cells) == 5 and cells[3].strip().isdigit()]
    # An index run per export (4), the index runs' own row (0), then a run per exported day in
    # range (3), none when nothing is new, and for one new export its index run, then its day.
    assert rows == ["4", "0", "3", "0", "1", "1"]
    assert "sensor ticks with 4 exports present" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is in Linux's /proc")
def test_a_child_reports_its_own_peak_rss_not_its_parents():
    # Linux carries ru_maxrss over fork and exec; the benchmark's children used to report the
    # parent's peak (1 GB after generating an export) as their own.
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # touch every page so it is resident
    probe = "from bench.scale import peak_rss_mb; print(peak_rss_mb())"
    own = float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert 0 < own < 200
    del ballast


def test_the_full_export_benchmark_runs_and_both_contenders_agree(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.full_export", "--days", "3", "--messages-per-day", "60", "--cache", str(tmp_path / "bench")],
                         capture_output=True, text=True, check=True).stdout
    assert "backfill of the 3 days of one full export (180 messages)" in out
    assert "| cut by day |" in out and "| whole export per day |" in out


def test_the_erasure_benchmark_runs_on_a_small_day(tmp_path, capsys):
    from bench.erasure import main as erasure_main

    result = erasure_main(["--messages", "400", "--cache", str(tmp_path / "bench"), "--repeat", "1"])
    assert result["rows_removed"] > 0 and result["max_rss_mb"] > 0 and result["runs"] == 1
    assert "forget-user (s, median of 1)" in capsys.readouterr().out


def test_the_s3_lake_benchmark_runs_on_a_small_day(tmp_path, capsys):
    from bench.s3_lake import main as s3_lake_main

    result = s3_lake_main(["--messages", "400", "--cache", str(tmp_path / "bench")])
    assert result["rows"] == 400 and result["max_rss_mb"] > 0 and list(result["steps"]) == ["index", "raw", "anonymize"]
    assert "| 400 | anonymize |" in capsys.readouterr().out


def test_the_table_gives_the_ratios_it_has_the_runs_for():
    run = {"rows": 10, "max_rss_mb": 1.0}
    floor, bound, ours, peer = ({**run, "seconds": s} for s in (1.0, 2.0, 4.0, 30.0))
    names = {"floor": FLOOR, "bound": IO_BOUND, "ours": OURS.format(mode=FUNCTIONS), "peer": PEER}
    every = table({names["floor"]: floor, names["bound"]: bound, names["ours"]: ours, names["peer"]: peer}, 10)
    assert "ours / floor = 4.00 (target <= 2.0); peer / ours = 7.50 (target >= 10)" in every
    assert "I/O bound / floor = 2.00; peer / I/O bound = 15.00" in every
    no_peer = table({names["floor"]: floor, names["bound"]: bound, names["ours"]: ours}, 10)
    assert "peer skipped" in no_peer and "I/O bound / floor = 2.00:" in no_peer
    # Without ours, the bound's line still stands apart from the table.
    assert "|\n\nI/O bound / floor = 2.00" in table({names["floor"]: floor, names["bound"]: bound}, 10)
    assert "I/O bound /" not in table({names["floor"]: floor, names["ours"]: ours}, 10)
