"""`datalake run`'s own behaviour, without Airflow: the log it keeps, the wait it announces, its settings."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest

from energy_datalake import exports, runner

WAITING = "No tasks to run. unrunnable tasks: {<TaskInstance: energy_datalake_daily.crawl_raw [None]>}"


def test_a_line_repeated_but_for_its_timestamp_is_written_once_with_its_count():
    lines = [f"2026-12-02T18:59:{s:02d}.793513Z [warning  ] {WAITING}\n" for s in range(30, 40)]
    lines += ["2026-12-02T18:59:41.000000Z [info     ] task wait_for_exports failed\n"]
    out = io.StringIO()
    runner.copy_collapsed(io.BytesIO("".join(lines).encode()), out)
    written = out.getvalue().splitlines()
    assert written[0] == lines[0].rstrip("\n")
    assert written[1] == "  [the line above repeated 9 more times, the last at 2026-12-02T18:59:39.793513Z]"
    assert written[2] == lines[-1].rstrip("\n")
    assert len(written) == 3


def test_lines_that_differ_are_all_kept_and_a_trailing_repeat_is_counted():
    lines = [b"2026-12-02T18:59:30Z a\n", b"2026-12-02T18:59:31Z b\n", b"2026-12-02T18:59:32Z b\n"]
    out = io.StringIO()
    runner.copy_collapsed(io.BytesIO(b"".join(lines)), out)
    assert out.getvalue().splitlines() == [
        "2026-12-02T18:59:30Z a",
        "2026-12-02T18:59:31Z b",
        "  [the line above repeated 1 more times, the last at 2026-12-02T18:59:32Z]",
    ]


def test_a_closed_log_ends_the_copy_quietly():
    out = io.StringIO()
    out.close()
    runner.copy_collapsed(io.BytesIO(b"line\n"), out)


@pytest.mark.parametrize(("text", "expected"), [(None, 6 * 3600.0), ("4", 4.0), ("0.5", 0.5)])
def test_the_export_timeout_comes_from_the_environment(text, expected):
    environ = {} if text is None else {exports.TIMEOUT_ENV: text}
    assert exports.timeout_seconds(environ) == expected


@pytest.mark.parametrize("text", ["six hours", "0", "-1"])
def test_a_bad_export_setting_is_an_error_naming_it_and_its_value(text):
    with pytest.raises(ValueError, match=f"DATALAKE_EXPORT_POKE_SECONDS .*'{text}'"):
        exports.poke_seconds(60, {exports.POKE_ENV: text})


def test_datalake_run_rejects_a_bad_export_setting_before_starting(tmp_path):
    env = {**os.environ, "DATALAKE_HOME": str(tmp_path), exports.TIMEOUT_ENV: "soon"}
    result = subprocess.run(
        [sys.executable, "-m", "energy_datalake.cli", "run", "--date", "2026-03-29"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "datalake run: DATALAKE_EXPORT_TIMEOUT_SECONDS must be a number of seconds, not 'soon'"
    )
    assert not (tmp_path / "airflow").exists()


@pytest.mark.parametrize(("seconds", "said"), [(6 * 3600, "6 h"), (5400, "90 min"), (4, "4 s")])
def test_durations_read_as_a_person_says_them(seconds, said):
    assert exports.duration(seconds) == said


def test_the_wait_is_announced_with_what_is_missing_how_long_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("DATALAKE_HOME", str(tmp_path))
    day = date(2026, 4, 2)
    markers = exports.success_markers(day)
    markers["providers"].parent.mkdir(parents=True)
    markers["providers"].touch()
    said: list[str] = []
    wait = runner.ExportWait(day, said.append, {exports.TIMEOUT_ENV: "5400", exports.POKE_ENV: "30"}, every=0)
    assert wait.announce()
    (line,) = said
    assert line.startswith("2026-04-02 waiting for the exports of clients, transactions (no _SUCCESS marker")
    assert "up to 90 min (DATALAKE_EXPORT_TIMEOUT_SECONDS), looking every 30 s" in line
    assert line.endswith("for sample exports: datalake generate --date 2026-04-02")
    sensor = runner.TaskState("wait_for_exports", "up_for_reschedule", 1, None, None)
    wait.report([sensor])
    assert said[1].startswith("2026-04-02 still waiting for clients, transactions: ")
    for marker in markers.values():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    assert not runner.ExportWait(day, said.append, {}).announce()


def _group_leader(*ignored: signal.Signals) -> tuple[subprocess.Popen, int]:
    """A child in a session of its own that ignores ``ignored`` and has a grandchild in its group."""
    script = (
        "import signal, subprocess, sys, time\n"
        f"for sig in {[int(s) for s in ignored]}: signal.signal(sig, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    return proc, int(proc.stdout.readline())


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    return not _alive(pid)


def test_stop_group_ends_the_child_and_what_it_started():
    # A child deaf to SIGINT and SIGTERM, with a grandchild in its group: both must be gone.
    proc, grandchild = _group_leader(signal.SIGINT, signal.SIGTERM)
    started = time.monotonic()
    runner.stop_group(proc, grace=1.0)
    assert proc.poll() == -signal.SIGKILL
    assert time.monotonic() - started < 10
    assert _gone(grandchild)


def test_stop_group_stops_a_child_deaf_to_sigterm_with_sigint_first():
    # `airflow dags test` ignores SIGTERM while its sensor waits: a stop that began with SIGTERM would wait
    # out the whole grace and end in SIGKILL, without the child's own clean-up.
    proc, grandchild = _group_leader(signal.SIGTERM)
    runner.stop_group(proc, grace=60.0)
    assert proc.poll() == -signal.SIGINT
    assert _gone(grandchild)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_make_ui_says_what_the_scheduler_will_run_and_how_to_run_a_date():
    from datetime import UTC, datetime

    from energy_datalake import ui

    note = ui.schedule_note(datetime(2026, 12, 2, 18, 0, tzinfo=UTC))
    assert "starts a run for 2026-12-01 now" in note
    assert "the next for 2026-12-02 on 2026-12-03 00:00 UTC" in note
    assert "skipped at once" in note
    assert "Trigger with run_date = D" in note and "datalake generate --date D" in note


def test_a_scheduled_run_without_exports_is_skipped_with_its_reason(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from airflow.utils.types import DagRunType

    from energy_datalake.compat import AirflowSkipException
    from energy_datalake.pipeline.local import ExportsSensor

    monkeypatch.setenv("DATALAKE_HOME", str(tmp_path))
    sensor = ExportsSensor(task_id="wait_for_exports", run_date="2026-04-02", mode="reschedule")
    with pytest.raises(
        AirflowSkipException, match=r"scheduled run of 2026-04-02 skipped: no exports"
    ) as skip:
        sensor.execute({"dag_run": SimpleNamespace(run_type=DagRunType.SCHEDULED)})
    assert "transactions/year=2026/month=04/day=02/_SUCCESS" in str(skip.value)
    assert "datalake generate --date 2026-04-02" in str(skip.value)


def test_airflows_idle_lines_collapse_whatever_order_their_task_set_prints_in():
    lines = [
        b"2026-12-02T20:10:35Z [warning  ] No tasks to run. unrunnable tasks: {<a>, <b>}\n",
        b"2026-12-02T20:10:36Z [warning  ] No tasks to run. unrunnable tasks: {<b>, <a>}\n",
        b"2026-12-02T20:10:37Z [info     ] next\n",
    ]
    out = io.StringIO()
    runner.copy_collapsed(io.BytesIO(b"".join(lines)), out)
    assert out.getvalue().splitlines()[1:] == [
        "  [the line above repeated 1 more times, the last at 2026-12-02T20:10:36Z]",
        "2026-12-02T20:10:37Z [info     ] next",
    ]


def test_make_ui_on_another_port_says_so_and_tells_the_tasks():
    # Catches a UI announced on 8080 while it serves elsewhere, and tasks that call the execution API on 8080.
    from energy_datalake import ui

    env = {"AIRFLOW__API__PORT": "18080"}
    assert ui.served_on(env) == "http://localhost:18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:18080/execution/"
    assert "Airflow UI on http://localhost:18080 " in ui.schedule_note(url=ui.served_on(env))
    default = {}
    assert ui.served_on(default) == "http://localhost:8080" and default == {}


def test_make_ui_stops_both_engines_and_says_in_one_line_what_it_could_not(monkeypatch, capsys):
    # Catches a traceback when the warehouse cannot be stopped, and a Glue runtime left running after it.
    from energy_datalake import ui
    from energy_datalake.emulator import glue_runtime

    stopped = []

    def broken():
        raise PermissionError("pg_ctl: could not access directory")

    monkeypatch.setattr(runner, "stop_warehouse", broken)
    monkeypatch.setattr(glue_runtime, "stop", lambda: stopped.append("glue runtime"))
    ui.stop_local_engines()
    assert stopped == ["glue runtime"]
    assert capsys.readouterr().err == (
        "make ui: could not stop the local warehouse: pg_ctl: could not access directory\n"
    )
