"""The benchmarks' results as one table and one chart, from the JSON files the benchmarks wrote.

    .venv/bin/python benchmarks/report.py [--results benchmarks/results]

Reads every ``*.json`` in the results folder (one per benchmark, written by ``common.write_results``) and
writes beside them:

- ``RESULTS.md``: a markdown table, one row per figure: benchmark, measure, value, goal, whether the goal
  is met (yes / no, or — for a figure without a target), the machine it ran on, when it was measured;
- ``results.png``: one horizontal bar per figure that has a target, its length the figure against its
  target, oriented so that 1 or more always meets the goal: value / target when higher is better,
  target / value when lower is better.

Exit codes: 0 when written or when there is nothing to report; 2 when a results file is not a results
document (the message names it), and nothing is written then.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from common import BETTER, RESULTS_DIR, goal_met

TABLE_NAME = "RESULTS.md"
CHART_NAME = "results.png"
# A goal beaten many times over (or a zero on a lower-is-better figure) would squash every other bar.
CHART_CAP = 3.0
MET_COLOUR = "#2e7d32"
MISSED_COLOUR = "#c62828"


class MalformedResults(Exception):
    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path


@dataclass(frozen=True)
class Row:
    """One figure of one benchmark, with the machine and time of its run."""

    benchmark: str
    measure: str
    value: float
    unit: str
    goal: str
    target: float | None
    better: str
    machine: dict
    finished_at: str

    @property
    def met(self) -> bool | None:
        return goal_met(self.value, self.target, self.better)


@dataclass(frozen=True)
class Bar:
    """What the chart draws for one targeted figure."""

    measure: str
    benchmark: str
    # value / target or target / value: >= 1 meets the goal. Not capped; the chart cuts it at CHART_CAP.
    attainment: float
    met: bool
    text: str


# Reading


def read_results(results_dir: Path) -> list[Row]:
    """Every figure of every ``*.json`` in ``results_dir``, file by file in name order."""
    rows: list[Row] = []
    for path in sorted(results_dir.glob("*.json")):
        rows.extend(read_document(path))
    return rows


def read_document(path: Path) -> list[Row]:
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedResults(path, f"not readable as JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("figures"), list):
        raise MalformedResults(path, "no list of figures")
    machine = document.get("machine") or {}
    finished_at = document.get("finished_at") or ""
    if not isinstance(machine, dict) or not isinstance(finished_at, str):
        raise MalformedResults(path, "machine must be an object and finished_at a string")
    benchmark = document.get("benchmark") or path.stem
    return [
        _row(path, str(benchmark), index, figure, machine, finished_at)
        for index, figure in enumerate(document["figures"], 1)
    ]


def _row(path: Path, benchmark: str, index: int, figure, machine: dict, finished_at: str) -> Row:
    def fail(reason: str):
        raise MalformedResults(path, f"figure {index}: {reason}")

    if not isinstance(figure, dict):
        fail("not an object")
    measure, value, unit = figure.get("measure"), figure.get("value"), figure.get("unit", "")
    target, better, goal = figure.get("target"), figure.get("better", "higher"), figure.get("goal", "")
    if not isinstance(measure, str) or not measure:
        fail("no measure")
    if not _is_number(value):
        fail(f"value is not a number: {value!r}")
    if target is not None and not _is_number(target):
        fail(f"target is not a number: {target!r}")
    if better not in BETTER:
        fail(f"better must be one of {BETTER}, got {better!r}")
    if not isinstance(unit, str) or not isinstance(goal, str):
        fail("unit and goal must be text")
    return Row(benchmark, measure, value, unit, goal, target, better, machine, finished_at)


def _is_number(value) -> bool:
    # JSON's true/false are ints to Python, and never a measured figure.
    return isinstance(value, int | float) and not isinstance(value, bool)


# Formatting


def number(value: float) -> str:
    """Rounded to what a reader compares: whole numbers with separators, about three significant digits."""
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def with_unit(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{number(value)}×"
    return f"{number(value)} {unit}".strip()


def goal_text(row: Row) -> str:
    if row.goal or row.target is None:
        return row.goal
    return f"{'>=' if row.better == 'higher' else '<='} {with_unit(row.target, row.unit)}"


def met_text(met: bool | None) -> str:
    return {True: "yes", False: "no", None: "—"}[met]


def machine_text(machine: dict, load: bool = True) -> str:
    parts = []
    cores = machine.get("cores")
    if cores is not None:
        parts.append(f"{cores} core{'' if cores == 1 else 's'}")
    if machine.get("memory_gib") is not None:
        parts.append(f"{machine['memory_gib']} GiB")
    if load and machine.get("load_average_1m") is not None:
        parts.append(f"load {machine['load_average_1m']}")
    return ", ".join(parts) or "—"


def measured_text(finished_at: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(finished_at)
    except ValueError:
        return finished_at or "—"
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def cell(text: str) -> str:
    # A measure may hold "|" (a table cell's end) or "<job>" (an HTML tag to a markdown renderer); "<= 5.5"
    # is no tag and stays readable.
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text.replace("|", "\\|").replace("\n", " "))


def table(rows: list[Row], chart: str | None) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/report.py` from the `*.json` files beside this one; do not edit by hand.",
        "*met*: the figure against its target (— when it has none). *machine*: cores, memory and the "
        "1-minute load average when the benchmark started.",
        "",
        "| benchmark | measure | value | goal | met | machine | measured |",
        "|---|---|---:|---|:---:|---|---|",
    ]
    for row in rows:
        cells = (
            row.benchmark,
            row.measure,
            with_unit(row.value, row.unit),
            goal_text(row),
            met_text(row.met),
            machine_text(row.machine),
            measured_text(row.finished_at),
        )
        lines.append("| " + " | ".join(cell(text) for text in cells) + " |")
    if chart:
        lines += ["", f"![Figures against their targets: 1 or more meets the goal]({chart})"]
    return "\n".join(lines) + "\n"


# The chart


def attainment(value: float, target: float, better: str) -> float:
    """The figure against its target, so that >= 1 meets the goal whichever side is better."""
    numerator, denominator = (value, target) if better == "higher" else (target, value)
    if denominator == 0:
        # 0 s against a 45 s goal, or anything against a goal of 0 rows: met or missed without a ratio.
        return math.inf if goal_met(value, target, better) else 0.0
    return numerator / denominator


def chart_bars(rows: list[Row]) -> list[Bar]:
    """One bar per figure with a target, in the table's order."""
    return [
        Bar(
            row.measure,
            row.benchmark,
            attainment(row.value, row.target, row.better),
            bool(row.met),
            f"{with_unit(row.value, row.unit)}  (goal {goal_text(row)})",
        )
        for row in rows
        if row.target is not None
    ]


def machines_text(rows: list[Row]) -> str:
    by_benchmark = {row.benchmark: machine_text(row.machine, load=False) for row in rows}
    if len(set(by_benchmark.values())) == 1:
        return next(iter(by_benchmark.values()))
    return "; ".join(f"{benchmark}: {text}" for benchmark, text in by_benchmark.items())


def draw_chart(bars: list[Bar], machines: str, path: Path) -> list[float]:
    """Saves the chart of ``bars`` to ``path``; the bar lengths it drew (capped at CHART_CAP)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    labels = [textwrap.fill(f"{bar.measure} [{bar.benchmark}]", 56) for bar in bars]
    lengths = [min(bar.attainment, CHART_CAP) for bar in bars]
    height = 2.0 + sum(0.22 * label.count("\n") + 0.45 for label in labels)
    figure, axes = plt.subplots(figsize=(11, height))
    try:
        # The first figure at the top, as in the table.
        positions = list(range(len(bars)))[::-1]
        drawn = axes.barh(
            positions,
            lengths,
            color=[MET_COLOUR if bar.met else MISSED_COLOUR for bar in bars],
            height=0.6,
        )
        # The raw values in a column right of the plot, clear of the bars and of the line at 1.
        beside = axes.get_yaxis_transform()
        for position, bar in zip(positions, bars, strict=True):
            cut = ", off scale" if bar.attainment > CHART_CAP else ""
            against = f"{number(round(bar.attainment, 2))}{cut}"
            axes.text(1.02, position, f"{bar.text} → {against}", transform=beside, va="center", fontsize=8)
        axes.axvline(1.0, color="black", linewidth=1, linestyle="--")
        axes.set_yticks(positions, labels, fontsize=8)
        axes.set_xlim(0, max(1.25, max(lengths) * 1.05))
        axes.set_xlabel("figure against its target (value / target, or target / value when lower is better)")
        axes.set_title("Benchmarks against their goals: 1 or more meets the goal")
        figure.legend(
            handles=[
                Patch(color=MET_COLOUR, label="goal met"),
                Patch(color=MISSED_COLOUR, label="goal not met"),
            ],
            loc="lower right",
            ncol=2,
            frameon=False,
            fontsize=8,
        )
        figure.text(0.01, 0.01, f"Machine: {machines}", fontsize=8, color="#555555")
        figure.tight_layout(rect=(0, 0.05, 1, 1))
        figure.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(figure)
    return [patch.get_width() for patch in drawn]


# Command line


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS_DIR,
        help=f"folder of the JSON results (default {RESULTS_DIR})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    results_dir: Path = parse_args(argv).results
    try:
        rows = read_results(results_dir)
    except MalformedResults as error:
        print(f"report: malformed results file {error}", file=sys.stderr)
        return 2
    if not rows:
        print(f"report: nothing to report: no figures in {results_dir}/*.json")
        return 0
    bars = chart_bars(rows)
    chart_path = results_dir / CHART_NAME
    if bars:
        draw_chart(bars, machines_text(rows), chart_path)
    else:
        # A chart left from earlier results would contradict the table.
        chart_path.unlink(missing_ok=True)
    table_path = results_dir / TABLE_NAME
    table_path.write_text(table(rows, CHART_NAME if bars else None))
    print(f"wrote {table_path} ({plural(len(rows), 'figure')})")
    if bars:
        print(f"wrote {chart_path} ({plural(len(bars), 'figure')} with a target)")
    else:
        print("no figure has a target: no chart")
    return 0


if __name__ == "__main__":
    sys.exit(main())
