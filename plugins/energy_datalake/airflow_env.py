"""Airflow's state for local runs: ``AIRFLOW_HOME=$DATALAKE_HOME/airflow`` (SQLite), this checkout's DAGs.

Every Airflow process the local target starts (``airflow dags test``, ``airflow standalone``) gets the
environment from ``airflow_environ()``, so they all share one metadata database.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
