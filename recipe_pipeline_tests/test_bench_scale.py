"""A small-N run of the scale benchmark so it cannot rot: every contender runs in its own
process on the same generated export and agrees on the row count. No timing assertions."""

from __future__ import annotations

from bench.scale import main


def test_the_scale_benchmark_runs_end_to_end(tmp_path, capsys):
    runs = main(["--messages", "400", "--cache", str(tmp_path / "bench")])
    assert {run["rows"] for run in runs.values()} == {400}
    assert set(runs) == {
        "floor: parse exports into Arrow",
        "ours: raw + anonymized + metrics (functions)",
        "ours: raw + anonymized + metrics (dagster)",
        "peer: seed-style Python",
    }
    assert all(run["max_rss_mb"] > 0 and run["seconds"] > 0 for run in runs.values())
    printed = capsys.readouterr().out
    assert "ours / floor =" in printed and "peer / ours =" in printed
