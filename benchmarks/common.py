"""What every benchmark shares: the machine it ran on, and one JSON file of figures per benchmark.

Each benchmark script writes ``benchmarks/results/<name>.json`` through ``write_results``; ``make bench``
runs them all, then ``benchmarks/report.py`` turns the files into the results table and the chart the
README shows. Figures, never pass/fail: a goal is written next to its figure, not asserted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    """One measured figure: what was measured, its value and unit, the goal it is held to (text)."""

    measure: str
    value: float
    unit: str
    goal: str = ""
    # Anything that explains the figure: rows, repetitions, the runs it was computed from.
    detail: dict = field(default_factory=dict)


def machine() -> dict:
    """Cores, memory, CPU model and Python of this machine, and the load when the benchmark started."""
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
        "load_average_1m": round(os.getloadavg()[0], 2),
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
