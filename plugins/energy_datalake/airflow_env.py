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
from datetime import date
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


def latest_run(day: date | None = None) -> DagRunState | None:
    """The DAG's newest run (for the business date ``day`` if given), its tasks in the pipeline's order.

    None when there is none yet, or when Airflow holds its write lock for a moment (ask again later): the
    database is read-only here, as ``datalake run`` and ``datalake status`` only watch what Airflow does.
    """
    db = database_path()
    if not db.exists():
        return None
    where = "dag_id = ?" + (" AND logical_date LIKE ?" if day else "")
    params = [DAG_ID] + ([f"{day} 00:00:00%"] if day else [])
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            run = conn.execute(
                f"SELECT run_id, logical_date, state, start_date, end_date FROM dag_run WHERE {where} "
                "ORDER BY id DESC LIMIT 1",
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
    return DagRunState(run[0], str(run[1])[:10], run[2], run[3], run[4], states)
