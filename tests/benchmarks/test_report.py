"""benchmarks/report.py: the results table and chart from the benchmarks' JSON files (no Spark)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def report():
    # The scripts import ``common`` as a sibling module, as they do when run from benchmarks/.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("report")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def common(report):
    return sys.modules["common"]


MACHINE = {"cores": 2, "memory_gib": 23.4, "load_average_1m": 1.23}


def results_file(folder: Path, name: str, figures: list[dict]) -> Path:
    path = folder / f"{name}.json"
    document = {
        "benchmark": name,
        "finished_at": "2026-04-01T10:15:03+00:00",
        "machine": MACHINE,
        "figures": figures,
    }
    path.write_text(json.dumps(document))
    return path


def figure(measure: str, value: float, unit: str, goal: str = "", **target) -> dict:
    return {"measure": measure, "value": value, "unit": unit, "goal": goal, "detail": {}, **target}


@pytest.fixture
def results(tmp_path):
    results_file(
        tmp_path,
        "raw_to_processed",
        [
            figure("floor throughput at 1,000,000", 0.71, "ratio", ">= 0.67", target=0.67, better="higher"),
            figure("5M / 1M cost, <job>", 5.8, "ratio", "<= 5.5", target=5.5, better="lower"),
        ],
    )
    # Written before figures had a target: no target, no better.
    results_file(
        tmp_path,
        "warehouse_load",
        [
            figure("first load, rows/s", 123456, "rows/s", ">= 100,000 rows/s"),
            figure("fresh home run", 40.123, "s", "<= 45 s on 2 cores", target=45, better="lower"),
        ],
    )
    return tmp_path


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


def test_figure_met_against_its_target(common):
    assert common.Figure("m", 0.7, "ratio", target=0.67).met is True
    assert common.Figure("m", 0.6, "ratio", target=0.67).met is False
    assert common.Figure("m", 40, "s", target=45, better="lower").met is True
    assert common.Figure("m", 50, "s", target=45, better="lower").met is False
    assert common.Figure("m", 45, "s", target=45, better="lower").met is True
    # The callers that predate targets: goal text and detail, positionally.
    assert common.Figure("m", 1.0, "ratio", "<= 1.1", {"runs": []}).met is None
    with pytest.raises(ValueError, match="better"):
        common.Figure("m", 1.0, "s", target=1, better="smaller")


def test_table_has_a_row_per_figure_with_its_verdict(report, results, capsys):
    assert report.main(["--results", str(results)]) == 0

    rows = table_rows((results / "RESULTS.md").read_text())
    by_measure = {row[1]: row for row in rows}
    assert len(rows) == 4
    assert {measure: row[4] for measure, row in by_measure.items()} == {
        "floor throughput at 1,000,000": "yes",
        "5M / 1M cost, &lt;job>": "no",
        "first load, rows/s": "—",
        "fresh home run": "yes",
    }
    benchmark, _, value, goal, _, machine, measured = by_measure["fresh home run"]
    assert (benchmark, value, goal) == ("warehouse_load", "40.1 s", "<= 45 s on 2 cores")
    assert machine == "2 cores, 23.4 GiB, load 1.23"
    assert measured == "2026-04-01 10:15 UTC"
    assert by_measure["first load, rows/s"][2] == "123,456 rows/s"
    out = capsys.readouterr().out
    assert str(results / "RESULTS.md") in out
    assert str(results / "results.png") in out


def test_chart_is_a_png_with_a_bar_per_targeted_figure(report, results, tmp_path):
    assert report.main(["--results", str(results)]) == 0
    assert (results / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bars = report.chart_bars(report.read_results(results))
    # Oriented so that >= 1 meets the goal, whichever side is better.
    assert [(bar.measure, round(bar.attainment, 3), bar.met) for bar in bars] == [
        ("floor throughput at 1,000,000", round(0.71 / 0.67, 3), True),
        ("5M / 1M cost, <job>", round(5.5 / 5.8, 3), False),
        ("fresh home run", round(45 / 40.123, 3), True),
    ]
    drawn = report.draw_chart(bars, "2 cores, 23.4 GiB", tmp_path / "chart.png")
    assert drawn == pytest.approx([bar.attainment for bar in bars])


def test_chart_cuts_a_bar_off_scale(report):
    assert report.attainment(0, 0, "lower") == float("inf")
    assert report.attainment(5, 0, "lower") == 0.0
    assert report.attainment(100, 1, "higher") == 100


def test_an_empty_folder_is_nothing_to_report(report, tmp_path, capsys):
    assert report.main(["--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "nothing to report" in out
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_file_is_named_and_nothing_written(report, results, capsys):
    (results / "broken.json").write_text('{"figures": [')

    assert report.main(["--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "broken.json" in err
    assert not (results / "RESULTS.md").exists()


def test_a_figure_without_a_value_is_malformed(report, tmp_path, capsys):
    results_file(tmp_path, "odd", [{"measure": "m", "unit": "s"}])

    assert report.main(["--results", str(tmp_path)]) == 2
    assert "odd.json: figure 1: value is not a number" in capsys.readouterr().err
