"""The Glue job tests' engines, each started once for the whole run: the warehouse's PostgreSQL (a fresh
database per test) and the warm local Glue runtime that runs the entry scripts as the local target does."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from warehouse_db import fresh_database, with_schema

from energy_datalake.config import GLUE_JOBS_DIR
from energy_datalake.emulator.redshift import Warehouse


@pytest.fixture(scope="session")
def server():
    """The server's home. Not under pytest's base temp dir: concurrent pytest sessions reset its permissions,
    and the server runs as another user when the tests run as root."""
    home = Path(tempfile.mkdtemp(prefix="dl-warehouse-test-"))
    Warehouse(home).start()
    yield home
    Warehouse(home).stop()
    shutil.rmtree(home)


@pytest.fixture
def bare_url(server):
    """A fresh database without the schema the admin creates."""
    return fresh_database(server)


@pytest.fixture
def url(bare_url):
    """A fresh database with the admin's schema, so each test starts from an empty warehouse."""
    return with_schema(bare_url)


@dataclass
class JobRun:
    code: int
    # Every line the job printed, Spark's log and the driver's stderr included, as a run's log shows them.
    output: str


@pytest.fixture(scope="session")
def run_glue_script() -> Callable[..., JobRun]:
    """``run(script, *argv)``: the entry script ``glue_jobs/<script>.py`` as ``__main__`` with ``--name value``
    arguments on one warm Glue runtime for the session (emulator/glue_runtime.py), the way the local target
    runs every job; spark-submit itself is tested once, in tests/emulator/test_glue_runner.py."""
    from energy_datalake.emulator import glue_etl, glue_runtime

    # Not under pytest's base temp dir, as for the server above; a short path for the runtime's socket.
    home = Path(tempfile.mkdtemp(prefix="dl-glue-test-"))
    patch = pytest.MonkeyPatch()
    for name, value in {
        "DATALAKE_HOME": str(home),
        "DATALAKE_SPARK_MASTER": "local[2]",
        "DATALAKE_SPARK_DRIVER_MEMORY": "1g",
        "DATALAKE_SHUFFLE_PARTITIONS": "2",
    }.items():
        patch.setenv(name, value)
    try:
        settings = glue_etl.runtime_settings()
    finally:
        patch.undo()

    def run(script: str, *argv: str) -> JobRun:
        lines: list[str] = []
        code = glue_runtime.run(GLUE_JOBS_DIR / f"{script}.py", list(argv), settings, lines.append)
        return JobRun(code, "\n".join(lines))

    yield run
    glue_runtime.stop(home)
    shutil.rmtree(home, ignore_errors=True)
