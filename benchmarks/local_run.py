"""How long the local daily run takes, run as a user runs it: ``datalake generate`` then ``datalake run``.

    .venv/bin/python benchmarks/local_run.py [--date 2026-03-29] [--repeat 2] [--work /tmp/...]

Each repetition starts from a fresh ``DATALAKE_HOME`` (``--work``/home, deleted first), generates the day's
exports (``datalake generate --date D``, not timed), then times, through the real CLI:

- **fresh home**: ``datalake run --date D``, everything a first run pays for included: Airflow's metadata
  database, the stacks' first deploy (cfn-lint, with a cache of its own in the home, as on a new machine;
  the warehouse's initdb), the local Glue runtime's start
  (by the first Glue job; ``datalake run`` stops it at its end, as it stops the warehouse);
- **re-run**: ``datalake run --date D`` again in the same home, the state of the first run in place.

Wall seconds of each ``datalake run`` process, and the CPU seconds of the processes it waited for (the
warehouse server and the Glue runtime are daemons, not counted). Each command's output goes to a log in
``--work``; a command that fails stops the benchmark with a message naming its log. Writes the medians to
``benchmarks/results/local_run.json``; goal: the fresh run within 45 s on 2 cores. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import Figure, positive, write_results

# Not resolved: a venv's python is a link to the base interpreter, whose folder has no datalake.
BIN = Path(sys.executable).parent
DATALAKE = BIN / "datalake"
# The sample day of the README's quick start.
RUN_DATE = dt.date(2026, 3, 29)
GOAL_S = 45


class CommandFailed(Exception):
    pass


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--date", type=dt.date.fromisoformat, default=RUN_DATE, help="run date (YYYY-MM-DD)")
    parser.add_argument("--repeat", type=positive, default=2, help="fresh home + re-run pairs")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/energy-datalake-bench/local-run"),
        help="scratch folder: the DATALAKE_HOME (recreated each repetition) and the logs",
    )
    return parser.parse_args()


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)


def datalake(home: Path, log: Path, *args: str) -> dict:
    """``datalake ARGS`` with ``DATALAKE_HOME=home``, its output in ``log``; wall and CPU seconds."""
    # The home's own cfn-lint cache, so that a fresh home's first deploy lints as on a new machine.
    env = {**os.environ, "DATALAKE_HOME": str(home), "DATALAKE_LINT_CACHE": str(home / "cfn-lint.json")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("w") as output:
        started = time.perf_counter()
        result = subprocess.run(
            [str(DATALAKE), *args], env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
        seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise CommandFailed(f"datalake {' '.join(args)} failed (exit {result.returncode}); see {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}


def task_seconds(log: Path, day: dt.date) -> dict[str, float]:
    """Each task's seconds, from the line ``datalake run`` prints when a task finishes (runner.py)."""
    seconds = {}
    for line in log.read_text(errors="replace").splitlines():
        match = re.fullmatch(rf"{day.isoformat()} (\w+)\s+success\s+([\d.]+)s", line.strip())
        if match:
            seconds[match[1]] = float(match[2])
    return seconds


def fresh_home(home: Path) -> None:
    """Deletes ``home``, after stopping a warehouse server an interrupted earlier run may have left in it
    (its data folder is in the home; deleting it under a live server leaves the server running)."""
    if (home / "postgres").exists():
        subprocess.run(
            [str(BIN / "python"), "-c", "from energy_datalake.emulator import redshift; redshift.stop()"],
            env={**os.environ, "DATALAKE_HOME": str(home)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    shutil.rmtree(home, ignore_errors=True)


def repetition(work: Path, day: dt.date, number: int) -> dict:
    home = work / "home"
    fresh_home(home)
    date = day.isoformat()
    datalake(home, work / f"{number}-generate.log", "generate", "--date", date)
    load_start = load_1m()
    fresh_log, rerun_log = work / f"{number}-run-fresh.log", work / f"{number}-run-again.log"
    fresh = datalake(home, fresh_log, "run", "--date", date)
    rerun = datalake(home, rerun_log, "run", "--date", date)
    fresh["tasks"], rerun["tasks"] = task_seconds(fresh_log, day), task_seconds(rerun_log, day)
    return {
        "repetition": number,
        "fresh": fresh,
        "rerun": rerun,
        "load_average_1m": [load_start, load_1m()],
    }


def figures_of(runs: list[dict], day: dt.date, load: list[float]) -> list[Figure]:
    detail = {"date": day.isoformat(), "runs": runs, "load_average_1m": load}
    return [
        Figure(
            "datalake run of the sample day, fresh home",
            round(statistics.median(run["fresh"]["seconds"] for run in runs), 2),
            "s",
            f"<= {GOAL_S} s on 2 cores",
            detail,
            target=GOAL_S,
            better="lower",
        ),
        Figure(
            "datalake run, re-run of the same day",
            round(statistics.median(run["rerun"]["seconds"] for run in runs), 2),
            "s",
            f"<= {GOAL_S} s on 2 cores",
            detail={
                "date": day.isoformat(),
                "seconds": [run["rerun"]["seconds"] for run in runs],
                "cpu_seconds": [run["rerun"]["cpu_seconds"] for run in runs],
            },
            target=GOAL_S,
            better="lower",
        ),
    ]


def main() -> int:
    args = parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    load_start = load_1m()
    print(f"local daily run of {args.date}, {args.repeat} x, under {work} (load {load_start})", flush=True)
    runs = []
    for number in range(1, args.repeat + 1):
        try:
            run = repetition(work, args.date, number)
        except CommandFailed as error:
            print(f"local_run: {error}", file=sys.stderr)
            return 1
        runs.append(run)
        print(
            f"#{number}: fresh home {run['fresh']['seconds']:.1f} s ({run['fresh']['cpu_seconds']:.1f} s CPU), "
            f"re-run {run['rerun']['seconds']:.1f} s ({run['rerun']['cpu_seconds']:.1f} s CPU) "
            f"(load {run['load_average_1m'][0]} -> {run['load_average_1m'][1]})",
            flush=True,
        )
    print(f"wrote {write_results('local_run', figures_of(runs, args.date, [load_start, load_1m()]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
