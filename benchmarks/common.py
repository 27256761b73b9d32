"""What every benchmark shares: the machine it ran on, and one JSON file of figures per benchmark.

Each benchmark script writes ``benchmarks/results/<name>.json`` through ``write_results``; ``make bench``
runs them all, then ``benchmarks/report.py`` turns the files into the results table and the chart the
README shows. Figures, never pass/fail: a goal is written next to its figure, not asserted; the report
says whether a figure with a ``target`` met it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Every benchmark imports this module before it starts: the load then is the load the benchmark started on,
# which write_results, called at the end, could no longer read.
_LOAD_AT_START = os.getloadavg()[0]
# Which side of a figure's target meets its goal.
BETTER = ("higher", "lower")


@dataclass
class Figure:
    """One measured figure: what was measured, its value and unit, the goal it is held to.

    ``goal`` is the goal as text, for the table. ``target`` and ``better`` make it something a chart can
    draw and the report can judge: the goal is met when ``value`` is on the ``better`` side of ``target``
    (or on it). A figure without a target is reported, not judged.
    """

    measure: str
    value: float
    unit: str
    goal: str = ""
    # Anything that explains the figure: rows, repetitions, the runs it was computed from.
    detail: dict = field(default_factory=dict)
    target: float | None = None
    better: str = "higher"

    def __post_init__(self) -> None:
        if self.better not in BETTER:
            raise ValueError(f"better must be one of {BETTER}, got {self.better!r}")

    @property
    def met(self) -> bool | None:
        return goal_met(self.value, self.target, self.better)


def goal_met(value: float, target: float | None, better: str = "higher") -> bool | None:
    """Whether ``value`` meets ``target`` from the ``better`` side; None when there is no target.

    A plain function, not only ``Figure.met``: the report judges figures read back from JSON, where
    files written before ``target`` existed have neither field."""
    if target is None:
        return None
    if better == "higher":
        return value >= target
    if better == "lower":
        return value <= target
    raise ValueError(f"better must be one of {BETTER}, got {better!r}")


def machine() -> dict:
    """Cores, memory, CPU model and Python of this machine, and the load when the benchmark started
    (when it imported this module) and now."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "load_average_1m": round(_LOAD_AT_START, 2),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def write_results(name: str, figures: list[Figure], results_dir: Path = RESULTS_DIR) -> Path:
    """Writes ``<results_dir>/<name>.json``: the machine, the time, the figures."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    document = {
        "benchmark": name,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": [asdict(f) for f in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def session(app_name: str):
    """A local SparkSession configured like the local Glue runtime (``glue_jobs.runtime.start_job``), on
    every core: the jobs' own settings (``SPARK_CONF``) and the local ones (``LOCAL_CONF``)."""
    from energy_datalake.emulator import spark as local_spark

    local_spark.configure_process()
    from pyspark.sql import SparkSession

    from glue_jobs.runtime import LOCAL_CONF, SPARK_CONF

    builder = SparkSession.builder.master("local[*]").appName(app_name)
    for key, value in {**SPARK_CONF, **LOCAL_CONF, "spark.ui.showConsoleProgress": "false"}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
