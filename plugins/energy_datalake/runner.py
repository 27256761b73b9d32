"""``datalake run``: the daily DAG through real Airflow (``airflow dags test``), one date after another.

Airflow writes its full output to ``$DATALAKE_HOME/logs/run-<date>.log`` (a line repeated while a sensor
waits is written once, with how often it repeated); the console gets one line per task as it finishes, read
from Airflow's own metadata database, and the run's verdict. The exit code is non-zero when a run fails,
and the message names the failed task and its error.

Waiting for exports says at once which are missing and for how long it will wait, then a line every
``WAIT_REPORT_SECONDS``. Ctrl-C or SIGTERM stops Airflow and what it started, marks the run failed and ends
with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from energy_datalake import airflow_env, exports
from energy_datalake.airflow_env import TaskState, config

FINISHED = ("success", "failed", "upstream_failed", "skipped", "up_for_retry", "up_for_reschedule")
FAILED = ("failed", "upstream_failed")
POLL_SECONDS = 1.0
WAIT_REPORT_SECONDS = 60.0
# How long Airflow gets to stop (SIGINT, then SIGTERM) before it and its children are killed.
STOP_GRACE_SECONDS = 15.0
TERM_SECONDS = 5.0
# The local sensor's default poke interval (pipeline/local.py).
LOCAL_POKE_SECONDS = 60.0


class Stopped(Exception):
    """The run was stopped from outside (Ctrl-C, SIGTERM, SIGHUP)."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why
        self.where = ""


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
        print(f"datalake run: --to {last} is before --date {first}", file=sys.stderr)
        return 2
    try:
        exports.timeout_seconds()
        exports.poke_seconds(LOCAL_POKE_SECONDS)
    except ValueError as error:
        print(f"datalake run: {error}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, raise_stopped) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        results = run_dates(first, last)
    except (KeyboardInterrupt, Stopped) as stop:
        why = stop.why if isinstance(stop, Stopped) else "Ctrl-C"
        where = getattr(stop, "where", "")
        print(f"datalake run: stopped by {why}{where}", file=sys.stderr, flush=True)
        return 143 if why == "SIGTERM" else 130
    finally:
        # Stopping the warehouse must not be cut short by a second Ctrl-C.
        with signals_ignored():
            stop_warehouse()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if results and all(r.state == "success" for r in results) else 1


def raise_stopped(signum, frame) -> None:
    raise Stopped(signal.Signals(signum).name)


class signals_ignored:
    """SIGINT, SIGTERM and SIGHUP ignored inside: the clean-up of a stop runs to its end."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in self.SIGNALS}

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run_dates(first: date, last: date, echo=None) -> list[RunResult]:
    """Run the DAG for each date in order; stop at the first failed run (later dates build on it).

    The dates' Glue jobs share one local Glue runtime, started in the background as the run starts (its JVM
    starts while Airflow does) and stopped when the last date is done; this process owns it, so it also ends
    if this process is killed. When the first date's exports are not there yet, the first job starts it
    instead: a wait of hours holds no JVM, and a wait that ends in a timeout or a Ctrl-C never starts one."""
    from energy_datalake.emulator import glue_etl, glue_runtime

    echo = echo or say
    env = airflow_env.airflow_environ()
    env[glue_runtime.OWNER_ENV] = str(os.getpid())
    try:
        if config.target() == "local" and not exports.missing_locally(first):
            glue_etl.warm_up_runtime(env, echo)
        if airflow_env.ensure_migrated(env):
            echo(f"airflow: metadata database created in {airflow_env.airflow_home()}")
        results = []
        for offset in range((last - first).days + 1):
            result = run_date(first + timedelta(days=offset), env, echo)
            results.append(result)
            if result.state != "success":
                break
    finally:
        with signals_ignored():
            glue_runtime.stop()
    return results


def run_date(run_date: date, env: dict[str, str], echo=None, mark_success: str | None = None) -> RunResult:
    """One DAG run; ``mark_success`` is Airflow's regex of task ids to mark successful without running."""
    echo = echo or say
    log = config.home() / "logs" / f"run-{run_date}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    started = time.monotonic()
    # The conf names the business date: the UI shows it, and `datalake status` finds the run by it.
    command = [
        airflow_env.airflow_bin(),
        "dags",
        "test",
        airflow_env.DAG_ID,
        run_date.isoformat(),
        "--conf",
        json.dumps({"run_date": run_date.isoformat()}),
    ]
    if mark_success:
        command += ["--mark-success-pattern", mark_success]
    echo(f"{run_date} {airflow_env.DAG_ID}: started (log {log})")
    wait = ExportWait(run_date, echo, env) if config.target() == "local" else None
    if wait:
        wait.announce()
    reported: set[tuple[str, str, int]] = set()
    tasks: list[TaskState] = []
    with (
        log.open("w") as out,
        # Its own session: a Ctrl-C reaches this process only, which then stops Airflow and everything it
        # started (the whole group), and marks the run.
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        ) as proc,
    ):
        copier = threading.Thread(target=copy_collapsed, args=(proc.stdout, out), daemon=True)
        copier.start()
        try:
            while proc.poll() is None:
                tasks = task_states(run_date, since)
                _report_new(tasks, reported, run_date, echo)
                if wait:
                    wait.report(tasks)
                time.sleep(POLL_SECONDS)
        except (KeyboardInterrupt, Stopped) as stop:
            if not isinstance(stop, Stopped):
                stop = Stopped("Ctrl-C")
            with signals_ignored():
                echo(f"{run_date} stopping Airflow (up to {STOP_GRACE_SECONDS:.0f} s)")
                stop_group(proc, STOP_GRACE_SECONDS)
                copier.join(5)
                running = [t.task_id for t in tasks if t.state in ("running", "up_for_reschedule", "queued")]
                run = airflow_env.latest_run(run_date)
                if run is not None and run.start_date is not None:
                    airflow_env.mark_stopped(run.run_id)
                    _annotate(run.run_id, run_date, f"stopped by {stop.why}")
                task = f" at task {running[0]}" if running else ""
                stop.where = f" during the run of {run_date}{task}; the run is marked failed (log {log})"
            raise stop from None
        # A process Airflow left behind may still hold the pipe: its output is not waited for.
        copier.join(10)
    tasks = task_states(run_date, since)
    _report_new(tasks, reported, run_date, echo)
    state = "success" if tasks and all(t.state in ("success", "skipped") for t in tasks) else "failed"
    result = RunResult(run_date, state, time.monotonic() - started, log, tasks)
    run = airflow_env.latest_run(run_date)
    if run is not None:
        _annotate(run.run_id, run_date, state)
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


def _annotate(run_id: str, run_date: date, outcome: str) -> None:
    try:
        airflow_env.annotate_run(run_id, f"Business date {run_date} (datalake run): {outcome}")
    except Exception as error:  # noqa: BLE001 - a note is a courtesy; the run's outcome stands without it
        say(f"{run_date} could not annotate the run in Airflow's database: {error}")


def stop_group(proc: subprocess.Popen, grace: float, interrupt_first: bool = True) -> None:
    """Stop the process group of ``proc`` (started with its own session) within ``grace`` seconds: SIGINT,
    as a terminal's Ctrl-C, then SIGTERM for the last ``TERM_SECONDS``, then SIGKILL. ``airflow dags test``
    ignores SIGTERM while a sensor waits and stops at once on SIGINT; ``airflow standalone`` is the other
    way round (``interrupt_first=False``: SIGTERM for the whole grace)."""
    term = min(TERM_SECONDS, grace / 2) if interrupt_first else grace
    steps = ((signal.SIGINT, grace - term),) if interrupt_first else ()
    for sig, wait in (*steps, (signal.SIGTERM, term), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader has gone; what it started in its group may not have.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


class ExportWait:
    """What ``datalake run`` says while the run waits for a day's exports (local target)."""

    def __init__(self, run_date: date, echo, env: dict[str, str], every: float = WAIT_REPORT_SECONDS):
        self.run_date, self.echo, self.every = run_date, echo, every
        self.started = time.monotonic()
        self.last = self.started
        # The sensor's own settings: those of the environment Airflow runs with.
        self.timeout = exports.timeout_seconds(env)
        self.poke = exports.poke_seconds(LOCAL_POKE_SECONDS, env)

    def announce(self) -> bool:
        """One line at once when exports are missing: which, how long the run waits, how to make them."""
        missing = exports.missing_locally(self.run_date)
        if not missing:
            return False
        folder = next(iter(missing.values())).parents[4]
        self.echo(
            f"{self.run_date} waiting for the exports of {', '.join(missing)} (no _SUCCESS marker under "
            f"{folder}): up to {exports.duration(self.timeout)} ({exports.TIMEOUT_ENV}), looking every "
            f"{exports.duration(self.poke)}; for sample exports: datalake generate --date {self.run_date}"
        )
        return True

    def report(self, tasks: list[TaskState]) -> None:
        """A line every ``every`` seconds while the sensor waits."""
        now = time.monotonic()
        waiting = any(t.task_id == "wait_for_exports" and t.state == "up_for_reschedule" for t in tasks)
        if not waiting or now - self.last < self.every:
            return
        self.last = now
        missing = exports.missing_locally(self.run_date)
        if missing:
            self.echo(
                f"{self.run_date} still waiting for {', '.join(missing)}: "
                f"{exports.duration(now - self.started)} of {exports.duration(self.timeout)}"
            )


# An Airflow log line starts with its ISO timestamp; the rest is what repeats.
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?\s*")


def _repeat_key(line: str) -> str:
    # Airflow's idle line lists the waiting tasks as a set, in no fixed order: one key for all of them.
    return _IDLE if _IDLE in line else _TIMESTAMP.sub("", line)


_IDLE = "No tasks to run."


def copy_collapsed(source, out) -> None:
    """Copies Airflow's output to the log; a line that repeats the previous one but for its timestamp, and
    the "No tasks to run" Airflow logs once a second while a sensor waits, are counted, not written again."""
    try:
        _copy_collapsed(source, out)
    except (ValueError, OSError):
        # The log was closed: the run is over, and what still writes to the pipe is no part of it.
        return


def _copy_collapsed(source, out) -> None:
    previous, repeats, last_stamp = None, 0, ""
    for line in iter(source.readline, b""):
        text = line.decode(errors="replace")
        key = _repeat_key(text)
        if key == previous:
            stamp = _TIMESTAMP.match(text)
            repeats, last_stamp = repeats + 1, stamp.group(0).strip() if stamp else "?"
            continue
        if repeats:
            out.write(f"  [the line above repeated {repeats} more times, the last at {last_stamp}]\n")
        out.write(text)
        out.flush()
        previous, repeats = key, 0
    if repeats:
        out.write(f"  [the line above repeated {repeats} more times, the last at {last_stamp}]\n")
    out.flush()


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


def stop_warehouse() -> None:
    """The embedded PostgreSQL outlives the DAG run's tasks; a finished `datalake run` shuts it down."""
    from energy_datalake.emulator import redshift

    redshift.stop()
