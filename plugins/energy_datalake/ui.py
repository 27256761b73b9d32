"""``make ui``: Airflow's UI over the local lake (``airflow standalone``), saying first what it will schedule.

Airflow runs as a child in its own session: Ctrl-C (or SIGTERM) stops it and everything it started, then the
embedded PostgreSQL and the local Glue runtime that its runs started, so nothing of the local lake keeps running.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from energy_datalake import airflow_env, config, exports, runner

PORT_ENV = "AIRFLOW__API__PORT"
EXECUTION_API_ENV = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"
DEFAULT_PORT = "8080"


def served_on(env: dict[str, str]) -> str:
    """The UI's URL for ``AIRFLOW__API__PORT`` (default 8080). On another port the tasks must be told too:
    Airflow's execution API URL, which they call back, defaults to port 8080 whatever the UI's port is."""
    port = env.get(PORT_ENV) or DEFAULT_PORT
    if port != DEFAULT_PORT:
        env.setdefault(EXECUTION_API_ENV, f"http://localhost:{port}/execution/")
    return f"http://localhost:{port}"


def schedule_note(now: datetime | None = None, url: str = f"http://localhost:{DEFAULT_PORT}") -> str:
    """What unpausing the DAG makes the scheduler do, and how a person runs a date of their own."""
    now = now or datetime.now(UTC)
    latest = (now - timedelta(days=1)).date()
    tomorrow = (now + timedelta(days=1)).date()
    return "\n".join(
        [
            f"Airflow UI on {url} (user admin, password in {airflow_env.airflow_home()}/"
            "simple_auth_manager_passwords.json.generated)",
            f"The DAG {airflow_env.DAG_ID} starts paused; triggering it from the UI also unpauses it (the tick box).",
            f"Unpaused, the scheduler starts a run for {latest} now and one a day at 00:00 UTC for the day before "
            f"(the next for {now.date()} on {tomorrow} 00:00 UTC). On the local target such a run is skipped at "
            "once, with its reason, when the day's exports are not in the raw zone, so it never holds the "
            "DAG's only run slot.",
            "To process a date: datalake generate --date D, then Trigger with run_date = D "
            "(waits up to "
            f"{exports.duration(exports.timeout_seconds())} for exports, {exports.TIMEOUT_ENV}).",
            "Ctrl-C stops Airflow, the local warehouse and the local Glue runtime.",
        ]
    )


def main() -> int:
    env = airflow_env.airflow_environ()
    if airflow_env.ensure_migrated(env):
        print(f"airflow: metadata database created in {airflow_env.airflow_home()}", flush=True)
    print(schedule_note(url=served_on(env)), flush=True)
    previous = signal.signal(signal.SIGTERM, runner.raise_stopped)
    proc = subprocess.Popen([airflow_env.airflow_bin(), "standalone"], env=env, start_new_session=True)
    try:
        return proc.wait()
    except (KeyboardInterrupt, runner.Stopped):
        with runner.signals_ignored():
            print(f"\nstopping Airflow (up to {runner.STOP_GRACE_SECONDS:.0f} s)", flush=True)
            runner.stop_group(proc, runner.STOP_GRACE_SECONDS, interrupt_first=False)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        with runner.signals_ignored():
            if config.target() == "local":
                stop_local_engines()


def stop_local_engines() -> None:
    """The warehouse and the Glue runtime that the UI's runs started outlive their tasks; stop both, and say
    in one line (never a traceback) what could not be stopped."""
    from energy_datalake.emulator import glue_runtime

    for name, stop in (
        ("the local warehouse", runner.stop_warehouse),
        ("the local Glue runtime", glue_runtime.stop),
    ):
        try:
            stop()
        except Exception as error:  # whatever it is: the person is told, and the other one still stops
            print(f"make ui: could not stop {name}: {error}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
