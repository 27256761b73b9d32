"""``datalake run``: the daily DAG through real Airflow (``airflow dags test``), one date after another.

Airflow writes its full output to ``$DATALAKE_HOME/logs/run-<date>.log``; the console gets one line per
task as it finishes, read from Airflow's own metadata database, and the run's verdict. The exit code is
non-zero when a run fails, and the message names the failed task and its error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from energy_datalake import airflow_env
from energy_datalake.airflow_env import TaskState, config

FINISHED = ("success", "failed", "upstream_failed", "skipped", "up_for_retry", "up_for_reschedule")
FAILED = ("failed", "upstream_failed")
POLL_SECONDS = 1.0


@dataclass
class RunResult:
    run_date: date
    state: str
    seconds: float
    log: Path
    tasks: list[TaskState] = field(default_factory=list)
    error: str = ""

    @property
    def failed_task(self) -> str | None:
        return next((t.task_id for t in self.tasks if t.state == "failed"), None)


def main(args) -> int:
    first = date.fromisoformat(args.date)
    last = date.fromisoformat(args.to) if args.to else first
    if last < first:
        print(f"--to {last} is before --date {first}", file=sys.stderr)
        return 2
    try:
        results = run_dates(first, last)
    finally:
        _stop_warehouse()
    return 0 if results and all(r.state == "success" for r in results) else 1


def run_dates(first: date, last: date, echo=None) -> list[RunResult]:
    """Run the DAG for each date in order; stop at the first failed run (later dates build on it).

    The dates' Glue jobs share one local Glue runtime, started in the background as the run starts (its JVM
    starts while Airflow does) and stopped when the last date is done; this process owns it, so it also ends
    if this process is killed."""
    from energy_datalake.emulator import glue_etl, glue_runtime

    echo = echo or say
    env = airflow_env.airflow_environ()
    env[glue_runtime.OWNER_ENV] = str(os.getpid())
    if config.target() == "local":
        glue_etl.warm_up_runtime(env, echo)
    if airflow_env.ensure_migrated(env):
        echo(f"airflow: metadata database created in {airflow_env.airflow_home()}")
    results = []
    try:
        for offset in range((last - first).days + 1):
            result = run_date(first + timedelta(days=offset), env, echo)
            results.append(result)
            if result.state != "success":
                break
    finally:
        glue_runtime.stop()
    return results


def run_date(run_date: date, env: dict[str, str], echo=None, mark_success: str | None = None) -> RunResult:
    """One DAG run; ``mark_success`` is Airflow's regex of task ids to mark successful without running."""
    echo = echo or say
    log = config.home() / "logs" / f"run-{run_date}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    started = time.monotonic()
    command = [airflow_env.airflow_bin(), "dags", "test", airflow_env.DAG_ID, run_date.isoformat()]
    if mark_success:
        command += ["--mark-success-pattern", mark_success]
    echo(f"{run_date} {airflow_env.DAG_ID}: started (log {log})")
    reported: set[tuple[str, str, int]] = set()
    with (
        log.open("w") as out,
        subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT) as proc,
    ):
        while proc.poll() is None:
            _report_new(task_states(run_date, since), reported, run_date, echo)
            time.sleep(POLL_SECONDS)
    tasks = task_states(run_date, since)
    _report_new(tasks, reported, run_date, echo)
    state = "success" if tasks and all(t.state == "success" for t in tasks) else "failed"
    result = RunResult(run_date, state, time.monotonic() - started, log, tasks)
    if state == "success":
        echo(f"{run_date} {airflow_env.DAG_ID}: success in {result.seconds:.1f}s")
        return result
    result.error = task_error(log.read_text(errors="replace"), result.failed_task)
    where = (
        f"at task {result.failed_task}" if result.failed_task else f"(airflow exit code {proc.returncode})"
    )
    echo(f"{run_date} {airflow_env.DAG_ID}: FAILED {where} after {result.seconds:.1f}s")
    if result.error:
        echo("  " + result.error.replace("\n", "\n  "))
    echo(f"  full log: {log}")
    return result


def say(line: str) -> None:
    # Flushed line by line: the progress must show while Airflow runs, also when stdout is a pipe.
    print(line, flush=True)


def _report_new(tasks: list[TaskState], reported: set, run_date: date, echo) -> None:
    for task in tasks:
        key = (task.task_id, task.state or "", task.try_number)
        if task.state in FINISHED and key not in reported:
            reported.add(key)
            seconds = f"{task.duration:.1f}s" if task.duration is not None else "-"
            echo(f"{run_date} {task.task_id:<21}{task.state:<18}{seconds:>8}")


def task_states(run_date: date, since: str | None = None) -> list[TaskState]:
    """Task instances of the DAG's latest run for ``run_date`` (only those touched after ``since``)."""
    run = airflow_env.latest_run(run_date)
    tasks = run.tasks if run else []
    if since is not None:
        tasks = [t for t in tasks if t.end_date is None or t.end_date >= since]
    return tasks


def task_error(log_text: str, task_id: str | None, max_lines: int = 12) -> str:
    """The exception that failed ``task_id``, as its traceback's last lines say it."""
    if task_id is None:
        return ""
    segment = log_text.split(f"[DAG TEST] starting task_id={task_id} ")[-1]
    lines = segment.splitlines()
    error: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            error = _exception_lines(lines[i + 1 :], max_lines)
    return "\n".join(error)


def _exception_lines(traceback: list[str], max_lines: int) -> list[str]:
    # The frames are indented; the exception and its message are the first unindented lines after them.
    for i, line in enumerate(traceback):
        if line and not line.startswith(" ") and not line.startswith("Traceback"):
            message = []
            for follow in traceback[i:]:
                if _is_log_record(follow) or follow.startswith(("Traceback", "During handling", "The above")):
                    break
                message.append(follow)
            return message[:max_lines]
    return []


def _is_log_record(line: str) -> bool:
    return len(line) > 20 and line[:4].isdigit() and line[4] == "-" and "T" in line[:11]


def _stop_warehouse() -> None:
    """The embedded PostgreSQL outlives the DAG run's tasks; a finished `datalake run` shuts it down."""
    from energy_datalake.emulator import redshift

    redshift.stop()
