"""Airflow's state for local runs: ``AIRFLOW_HOME=$DATALAKE_HOME/airflow`` (SQLite), this checkout's DAGs.

Every Airflow process the local target starts (``airflow dags test``, ``airflow standalone``) gets the
environment from ``airflow_environ()``, so they all share one metadata database.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from energy_datalake import config

DAG_ID = "energy_datalake_daily"


def airflow_home() -> Path:
    return config.home() / "airflow"


def database_path() -> Path:
    return airflow_home() / "airflow.db"


def airflow_bin() -> str:
    """The ``airflow`` entry point of this interpreter's environment (the venv), never another one."""
    return str(Path(sys.executable).parent / "airflow")


def airflow_environ(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home()),
            "AIRFLOW__CORE__DAGS_FOLDER": str(config.DAGS_DIR),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database_path()}",
            "DATALAKE_HOME": str(config.home()),
        }
    )
    return env


def ensure_migrated(env: dict[str, str] | None = None) -> bool:
    """Create or upgrade Airflow's database once per Airflow version; True when it ran the migration."""
    import airflow

    env = env or airflow_environ()
    marker = airflow_home() / f".migrated-{airflow.__version__}"
    if marker.exists() and database_path().exists():
        return False
    airflow_home().mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    marker.touch()
    return True


@dataclass
class TaskState:
    task_id: str
    state: str | None
    try_number: int
    duration: float | None
    end_date: str | None


@dataclass
class DagRunState:
    run_id: str
    run_date: str
    state: str | None
    start_date: str | None
    end_date: str | None
    tasks: list[TaskState] = field(default_factory=list)


# A run's business date: its conf's run_date (a manual trigger, `datalake run`), else its logical date.
_BUSINESS_DATE = "COALESCE(CASE WHEN json_valid(conf) THEN json_extract(conf, '$.run_date') END, substr(logical_date, 1, 10))"
FINISHED_RUN_STATES = ("success", "failed")
# Task states a stopped run must not keep: nothing is running them any more.
_UNFINISHED_TASK_STATES = (
    "running",
    "queued",
    "scheduled",
    "up_for_reschedule",
    "up_for_retry",
    "deferred",
    "restarting",
)


def latest_run(day: date | None = None, finished: bool = False) -> DagRunState | None:
    """The DAG's newest run (for the business date ``day`` if given), its tasks in the pipeline's order.

    ``finished``: the run that finished last (success or failed) instead, whatever runs were created
    after it. A run's business date is its conf's ``run_date`` (a trigger from the UI or the API that names
    the date, and ``datalake run``), else its logical date.

    None when there is none yet, or when Airflow holds its write lock for a moment (ask again later): the
    database is read-only here, as ``datalake run`` and ``datalake status`` only watch what Airflow does.
    """
    db = database_path()
    if not db.exists():
        return None
    conditions, params = ["dag_id = ?"], [DAG_ID]
    if day:
        conditions.append(f"{_BUSINESS_DATE} = ?")
        params.append(day.isoformat())
    if finished:
        conditions.append(f"state IN ({', '.join('?' * len(FINISHED_RUN_STATES))})")
        params += FINISHED_RUN_STATES
    order = "end_date DESC, id DESC" if finished else "id DESC"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            run = conn.execute(
                f"SELECT run_id, {_BUSINESS_DATE}, state, start_date, end_date FROM dag_run "
                f"WHERE {' AND '.join(conditions)} ORDER BY {order} LIMIT 1",
                params,
            ).fetchone()
            if run is None:
                return None
            tasks = conn.execute(
                "SELECT task_id, state, try_number, duration, end_date FROM task_instance "
                "WHERE dag_id = ? AND run_id = ?",
                (DAG_ID, run[0]),
            ).fetchall()
    except sqlite3.OperationalError:
        return None
    from energy_datalake.pipeline import STEPS

    order = {step: i for i, step in enumerate(STEPS)}
    states = sorted((TaskState(*row) for row in tasks), key=lambda t: order.get(t.task_id, len(order)))
    return DagRunState(run[0], run[1], run[2], run[3], run[4], states)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def annotate_run(run_id: str, note: str) -> None:
    """After ``airflow dags test`` ends: the run's start is when it was created (the command sets it to the
    logical date, so the UI showed months-long runs), and its note says what it was for."""
    with sqlite3.connect(database_path(), timeout=30) as conn:
        conn.execute(
            "UPDATE dag_run SET start_date = created_at "
            "WHERE dag_id = ? AND run_id = ? AND (start_date IS NULL OR start_date < created_at)",
            (DAG_ID, run_id),
        )
        now = _now()
        conn.execute(
            "INSERT INTO dag_run_note (user_id, dag_run_id, content, created_at, updated_at) "
            "SELECT NULL, id, ?, ?, ? FROM dag_run WHERE dag_id = ? AND run_id = ? "
            "ON CONFLICT (dag_run_id) DO UPDATE SET content = excluded.content, updated_at = excluded.updated_at",
            (note, now, now, DAG_ID, run_id),
        )


def mark_stopped(run_id: str) -> None:
    """A run whose ``airflow dags test`` was stopped (Ctrl-C, SIGTERM): failed, with its unfinished tasks,
    so that nothing reports it running for ever."""
    now = _now()
    states = ", ".join("?" * len(_UNFINISHED_TASK_STATES))
    with sqlite3.connect(database_path(), timeout=30) as conn:
        conn.execute(
            f"UPDATE task_instance SET state = 'failed', end_date = ? "
            f"WHERE dag_id = ? AND run_id = ? AND state IN ({states})",
            (now, DAG_ID, run_id, *_UNFINISHED_TASK_STATES),
        )
        conn.execute(
            "UPDATE dag_run SET state = 'failed', end_date = ? "
            "WHERE dag_id = ? AND run_id = ? AND state NOT IN ('success', 'failed')",
            (now, DAG_ID, run_id),
        )
