"""The real Airflow UI and REST API over a scratch lake: ``make ui``'s own entry point (``python -m
energy_datalake.ui``, which runs ``airflow standalone``) on a free port, one start for the module.

A person's path through the UI (log in, trigger the DAG with ``run_date``, see the run green) in Debian's
headless Chromium, then a backfill of two dates through Airflow 3's REST API as the README describes it
(``max_active_runs`` 1, ``reprocess_behavior`` completed), and last that stopping the UI stops Airflow and
the warehouse.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

pytestmark = pytest.mark.slow

UI_DATE = date(2026, 3, 28)
BACKFILL_FROM = UI_DATE + timedelta(days=1)
BACKFILL_TO = BACKFILL_FROM + timedelta(days=1)
CLIENTS = 200
PROVIDERS = 10
# Airflow standalone starts four processes and parses the DAG: a minute or two on a busy 2-core machine.
START_TIMEOUT_S = 420
# A day's run is about a minute; the first one also starts the Glue runtime, and the scheduled run for
# yesterday that unpausing creates goes first.
RUN_TIMEOUT_S = 900
POLL_S = 3
STOP_TIMEOUT_S = 120
# How long a backfill's creation is retried while SQLite is locked by another Airflow component.
BACKFILL_LOCK_TIMEOUT_S = 60
# Task states after which a run cannot end in success without a person: waiting longer only hides why.
BROKEN_TASK_STATES = ("failed", "upstream_failed", "up_for_retry")


@dataclass
class AirflowUI:
    home: Path
    base: str
    password: str
    proc: subprocess.Popen
    log: Path
    stopped: bool = False

    def token(self) -> str:
        import httpx

        response = httpx.post(
            f"{self.base}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def api(self):
        import httpx

        return httpx.Client(
            base_url=f"{self.base}/api/v2", headers={"Authorization": f"Bearer {self.token()}"}, timeout=30
        )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(text[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _generate(first: date, days: int) -> None:
    from energy_datalake.generator import generate

    generate(first.isoformat(), days=days, clients=CLIENTS, providers=PROVIDERS, seed=7, progress=None)


def _wait_until_serving(ui: AirflowUI) -> None:
    """Until the API answers, every component heartbeats and the DAG is parsed (bounded)."""
    import httpx

    from energy_datalake import airflow_env

    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if ui.proc.poll() is not None:
            pytest.fail(f"the UI exited with code {ui.proc.returncode} while starting:\n{ui.log_tail()}")
        try:
            health = httpx.get(f"{ui.base}/api/v2/monitor/health", timeout=10).json()
            last = json.dumps(health)
            if all(part.get("status") == "healthy" for part in health.values()):
                with ui.api() as api:
                    if api.get(f"/dags/{airflow_env.DAG_ID}").status_code == 200:
                        return
                    last = f"{last}; the DAG {airflow_env.DAG_ID} is not parsed yet"
        except (httpx.HTTPError, ValueError) as error:
            last = f"{type(error).__name__}: {error}"
        time.sleep(POLL_S)
    pytest.fail(f"Airflow did not serve within {START_TIMEOUT_S} s on {ui.base} ({last}):\n{ui.log_tail()}")


def _stop(ui: AirflowUI) -> None:
    """SIGTERM to the UI, as Ctrl-C or a service manager would: it stops Airflow's process group and the
    warehouse itself. Whatever it left of the processes it started is killed afterwards, by pid."""
    import psutil

    if ui.stopped:
        return
    ui.stopped = True
    try:
        started = psutil.Process(ui.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    if ui.proc.poll() is None:
        ui.proc.send_signal(signal.SIGTERM)
        try:
            ui.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(ui.proc.pid, signal.SIGKILL)
            ui.proc.wait(timeout=30)
    for process in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory):
    from energy_datalake import airflow_env
    from energy_datalake.emulator import glue_runtime, redshift

    home = tmp_path_factory.mktemp("datalake")
    port = _free_port()
    patch = pytest.MonkeyPatch()
    for name, value in {
        "DATALAKE_HOME": str(home),
        "DATALAKE_SPARK_DRIVER_MEMORY": "1g",
        "DATALAKE_SPARK_MASTER": "local[2]",
        # `airflow standalone` starts its components as `airflow` from PATH (`make ui` puts the venv first).
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # The task runners reach the API server here; its default names port 8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # The scheduler's and the triggerer's log servers default to 8793 and 8794: not shared with others.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
    }.items():
        patch.setenv(name, value)
    _generate(UI_DATE, days=1)
    log = home / "ui.log"
    with log.open("w") as out:
        # Its own session: the teardown's signal reaches the UI only, which stops what it started.
        proc = subprocess.Popen(
            [sys.executable, "-m", "energy_datalake.ui"],
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ui = AirflowUI(home, f"http://127.0.0.1:{port}", "", proc, log)
    try:
        passwords = airflow_env.airflow_home() / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not passwords.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1)
        if not passwords.exists():
            pytest.fail(f"no password file {passwords} (UI exit code {proc.poll()}):\n{ui.log_tail()}")
        time.sleep(1)  # written at once, but not atomically
        ui.password = json.loads(passwords.read_text())["admin"]
        _wait_until_serving(ui)
        yield ui
    finally:
        # Each clean-up runs even when the one before it raised.
        try:
            _stop(ui)
        finally:
            try:
                # Started by the runs' tasks without an owner, the Glue runtime would idle for minutes.
                glue_runtime.stop(home)
            finally:
                try:
                    redshift.stop()
                finally:
                    patch.undo()


def _tasks(api, run_id: str) -> dict[str, dict]:
    from energy_datalake import airflow_env

    response = api.get(f"/dags/{airflow_env.DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
    response.raise_for_status()
    return {t["task_id"]: t for t in response.json()["task_instances"]}


def _runs(api, **params) -> list[dict]:
    from energy_datalake import airflow_env

    response = api.get(f"/dags/{airflow_env.DAG_ID}/dagRuns", params={"limit": 100, **params})
    response.raise_for_status()
    return response.json()["dag_runs"]


def _wait_for_runs(ui: AirflowUI, run_ids, what: str, timeout: float = RUN_TIMEOUT_S) -> dict[str, dict]:
    """The runs once all have finished; a clear failure when one breaks or time runs out."""
    from energy_datalake import airflow_env

    deadline = time.monotonic() + timeout
    with ui.api() as api:
        while True:
            runs, states = {}, {}
            for run_id in run_ids():
                response = api.get(f"/dags/{airflow_env.DAG_ID}/dagRuns/{run_id}")
                response.raise_for_status()
                runs[run_id] = response.json()
                states[run_id] = {k: t["state"] for k, t in _tasks(api, run_id).items()}
            broken = {
                (run_id, task, state)
                for run_id, tasks in states.items()
                for task, state in tasks.items()
                if state in BROKEN_TASK_STATES
            }
            if broken:
                pytest.fail(f"{what}: tasks failed {sorted(broken)}; task states {states}\n{ui.log_tail()}")
            if runs and all(r["state"] in ("success", "failed") for r in runs.values()):
                return runs
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{what}: not finished within {timeout} s; runs "
                    f"{ {k: r['state'] for k, r in runs.items()} }, task states {states}\n{ui.log_tail()}"
                )
            time.sleep(POLL_S)


# The badge's background as the browser paints it, in RGB whatever notation the stylesheet uses (oklch).
_PAINTED_RGB = """e => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 1;
    const context = canvas.getContext("2d");
    context.fillStyle = getComputedStyle(e).backgroundColor;
    context.fillRect(0, 0, 1, 1);
    return Array.from(context.getImageData(0, 0, 1, 1).data.slice(0, 3));
}"""


def test_a_run_triggered_in_the_ui_with_run_date_processes_that_date(airflow_ui, browser, tmp_path):
    # Fails if the login, the trigger form's run_date field or its conf break, if the triggered run does not
    # process the date it names (the run_date param is what the tasks render), if a task is not green in
    # the UI, or if `datalake status`'s lookup (airflow_env.latest_run) does not find a run the UI started.
    from playwright.sync_api import expect

    from energy_datalake import airflow_env
    from energy_datalake.pipeline import STEPS

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{airflow_ui.base}/dags/{airflow_env.DAG_ID}")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(airflow_ui.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/dags/{airflow_env.DAG_ID}")

    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#element_run_date").fill(UI_DATE.isoformat())
    dialog.get_by_test_id("trigger-dag-submit").click()
    # The UI opens the new run's page.
    page.wait_for_url("**/runs/**")
    run_page = page.url
    run_id = unquote(run_page.split("/runs/", 1)[1].split("/")[0].split("?")[0])
    # Left open, the page polls the API and repaints every few seconds for the whole run: CPU the run needs.
    page.goto("about:blank")

    runs = _wait_for_runs(airflow_ui, lambda: [run_id], f"the run {run_id} triggered in the UI")
    assert runs[run_id]["state"] == "success"
    assert runs[run_id]["run_type"] == "manual"
    assert runs[run_id]["conf"]["run_date"] == UI_DATE.isoformat()

    page.goto(run_page)
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(len(STEPS))
    for step in STEPS:
        badge = rows.filter(has=page.get_by_role("link", name=step, exact=True)).get_by_test_id("state-badge")
        expect(badge).to_have_text("Success")
        red, green, blue = badge.evaluate(_PAINTED_RGB)
        assert green > red and green > blue, (step, red, green, blue)
    screenshot = tmp_path / "airflow-ui-run.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot of the run in the Airflow UI: {screenshot}")
    assert screenshot.stat().st_size > 20_000

    with airflow_ui.api() as api:
        tasks = _tasks(api, run_id)
    assert {k: t["state"] for k, t in tasks.items()} == dict.fromkeys(STEPS, "success")
    assert tasks["wait_for_exports"]["rendered_fields"]["run_date"] == UI_DATE.isoformat()
    recorded = airflow_env.latest_run(UI_DATE)
    assert recorded is not None and recorded.run_id == run_id
    assert [(t.task_id, t.state) for t in recorded.tasks] == [(step, "success") for step in STEPS]
    # Triggering unpaused the DAG, so the scheduler ran yesterday (UTC), which has no exports: that run
    # skips its work (README) instead of holding the DAG's only run slot until the export timeout.
    with airflow_ui.api() as api:
        scheduled = _runs(api, run_type="scheduled")
        assert scheduled, "unpausing the DAG created no scheduled run"
        for run in scheduled:
            states = {k: t["state"] for k, t in _tasks(api, run["dag_run_id"]).items()}
            assert states == {**dict.fromkeys(STEPS, "skipped"), "deploy_stacks": "success"}, states


def _overlap(runs: list[dict]) -> list[tuple[str, str]]:
    spans = sorted((r["start_date"], r["end_date"], r["dag_run_id"]) for r in runs)
    return [(a[2], b[2]) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]


def _curated_rows(day: date, table: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    from energy_datalake import config, templates

    folder = config.s3_root() / templates.load().lake_bucket / "curated" / table
    folder = folder / f"year={day:%Y}" / f"month={day:%m}" / f"day={day:%d}"
    # Without the folder names' year/month/day: the warehouse has no such columns.
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet', hive_partitioning = false)")
    return relation.columns, sorted(relation.fetchall())


def _backfill_completed(ui: AirflowUI, backfill_id: int, timeout: float = 120) -> dict:
    """The backfill once the scheduler has marked it complete (a loop of its own, after the last run)."""
    deadline = time.monotonic() + timeout
    with ui.api() as api:
        while True:
            backfill = api.get(f"/backfills/{backfill_id}").json()
            if backfill["completed_at"] is not None:
                return backfill
            if time.monotonic() > deadline:
                pytest.fail(f"backfill {backfill_id}: its runs finished, not marked complete in {timeout} s")
            time.sleep(POLL_S)


def _create_backfill(api, body: dict, timeout: float = BACKFILL_LOCK_TIMEOUT_S):
    """``POST /backfills``, again while Airflow answers 503 "Database is locked": on SQLite (``make ui``'s
    database) Airflow refuses the creation while another of its components holds the write lock, as the
    README says; any other answer is returned as it is."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.post("/backfills", json=body)
        locked = response.status_code == 503 and "Database is locked" in response.text
        if not locked or time.monotonic() > deadline:
            return response
        time.sleep(POLL_S)


def test_a_rest_api_backfill_of_two_dates_runs_them_one_after_the_other(airflow_ui):
    # Fails if the backfill runs the dates at once (its max_active_runs ignored), skips one, processes
    # another business date than its logical date (the DAG's `params.run_date or ds`), or leaves the
    # warehouse without a date's facts or with facts other than the date's curated partition.
    from energy_datalake import airflow_env
    from energy_datalake.emulator import redshift
    from energy_datalake.pipeline import STEPS

    _generate(BACKFILL_FROM, days=2)
    with airflow_ui.api() as api:
        # A paused DAG runs no backfill run; the UI test's trigger unpaused it, on its own this test does.
        api.patch(f"/dags/{airflow_env.DAG_ID}", json={"is_paused": False}).raise_for_status()
        created = _create_backfill(
            api,
            {
                "dag_id": airflow_env.DAG_ID,
                "from_date": f"{BACKFILL_FROM.isoformat()}T00:00:00Z",
                "to_date": f"{BACKFILL_TO.isoformat()}T00:00:00Z",
                "max_active_runs": 1,
                "reprocess_behavior": "completed",
            },
        )
        assert created.status_code == 200, created.text
        backfill = created.json()
        assert (backfill["max_active_runs"], backfill["reprocess_behavior"]) == (1, "completed")

    def backfill_runs() -> list[str]:
        with airflow_ui.api() as api:
            # This backfill's runs: no other backfill runs the DAG in this module.
            return [r["dag_run_id"] for r in _runs(api, run_type="backfill")]

    runs = list(_wait_for_runs(airflow_ui, backfill_runs, f"backfill {backfill['id']}").values())
    with airflow_ui.api() as api:
        tasks = {r["dag_run_id"]: _tasks(api, r["dag_run_id"]) for r in runs}
    by_logical = {r["logical_date"][:10]: r for r in runs}
    assert sorted(by_logical) == [BACKFILL_FROM.isoformat(), BACKFILL_TO.isoformat()], runs
    for run in runs:
        assert run["state"] == "success", run
        assert run["conf"] in ({}, None), run  # a backfill names no run_date: each run its own date
        states = {k: t["state"] for k, t in tasks[run["dag_run_id"]].items()}
        assert states == dict.fromkeys(STEPS, "success"), (run["dag_run_id"], states)
        # The logical date D (interval [D, D+1), run at D+1 00:00 UTC, so the run id names D+1) is the
        # business date the tasks process.
        rendered = tasks[run["dag_run_id"]]["wait_for_exports"]["rendered_fields"]["run_date"]
        assert rendered == run["logical_date"][:10], run["dag_run_id"]
    assert _overlap(runs) == [], [(r["dag_run_id"], r["start_date"], r["end_date"]) for r in runs]
    first, second = sorted(runs, key=lambda r: r["start_date"])
    assert first["logical_date"] < second["logical_date"]  # in date order, not backwards
    assert _backfill_completed(airflow_ui, backfill["id"])
    for day in (BACKFILL_FROM, BACKFILL_TO):
        recorded = airflow_env.latest_run(day)
        assert recorded is not None and recorded.run_id == by_logical[day.isoformat()]["dag_run_id"]

    with redshift.serving() as warehouse, warehouse.connect() as conn:
        loaded = {}
        for day in (BACKFILL_FROM, BACKFILL_TO):
            columns, curated = _curated_rows(day, "daily_energy_balance")
            assert len(curated) == 1, (day, curated)
            loaded[day] = (
                curated,
                sorted(
                    conn.execute(
                        f"SELECT {', '.join(columns)} FROM energy.daily_energy_balance WHERE delivery_date = %s",
                        (day,),
                    ).fetchall()
                ),
            )
        audited = {r[0] for r in conn.execute("SELECT DISTINCT run_date FROM energy.load_audit")}
    for day, (curated, warehouse_rows) in loaded.items():
        assert warehouse_rows == curated, day
    assert {str(BACKFILL_FROM), str(BACKFILL_TO)} <= {str(d) for d in audited}, audited


def test_stopping_the_ui_stops_airflow_the_warehouse_and_the_glue_runtime(airflow_ui):
    # Fails if SIGTERM (what Ctrl-C does to `make ui` too) leaves an Airflow process running, or leaves the
    # embedded PostgreSQL or the Glue runtime that the runs started.
    import psutil

    from energy_datalake.emulator import glue_runtime, redshift

    airflow = psutil.Process(airflow_ui.proc.pid).children()
    assert [p.name() for p in airflow], "the UI has no Airflow child"
    group = {p.pid for p in psutil.Process(airflow_ui.proc.pid).children(recursive=True)}
    if redshift.is_running() is False:
        # Nothing started it in this module (the other tests deselected): start it as a run's load would.
        redshift.start()
    airflow_ui.proc.send_signal(signal.SIGTERM)
    airflow_ui.stopped = True
    code = airflow_ui.proc.wait(timeout=STOP_TIMEOUT_S)
    assert code == 0, airflow_ui.log_tail()
    left = [p for p in psutil.process_iter(["pid", "status", "cmdline"]) if p.info["pid"] in group]
    left = [p for p in left if p.info["status"] != psutil.STATUS_ZOMBIE]
    assert left == [], [(p.info["pid"], p.info["cmdline"]) for p in left]
    assert not redshift.is_running()
    # The Glue runtime the runs started, in a session of its own, is stopped too, not left to its idle time.
    assert glue_runtime.status(airflow_ui.home) is None
    assert "stopping Airflow" in airflow_ui.log.read_text()
