"""The embedded PostgreSQL of the local target: start, reuse from another process, stop, crash recovery."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from energy_datalake.emulator.redshift import Warehouse


@pytest.fixture
def home():
    # Not under pytest's base temp dir: concurrent pytest sessions reset its permissions, and the server
    # runs as another user when the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="dl-warehouse-server-test-"))
    yield path
    Warehouse(path).stop()
    shutil.rmtree(path)


def postmaster_pid(home: Path) -> int:
    return int((home / "postgres" / "postmaster.pid").read_text().splitlines()[0])


def in_another_process(home: Path, code: str) -> str:
    script = f"from pathlib import Path\nfrom energy_datalake.emulator.redshift import Warehouse\nw = Warehouse(Path({str(home)!r}))\n{code}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_a_server_started_by_one_process_is_reused_by_the_next_and_stopped_cleanly(home):
    url = in_another_process(home, "print(w.start())")
    pid = postmaster_pid(home)

    warehouse = Warehouse(home)
    assert warehouse.is_running()
    assert warehouse.start() == url
    assert postmaster_pid(home) == pid
    with warehouse.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    assert in_another_process(home, "print(w.connect().execute('SELECT v FROM kept').fetchone()[0])") == "42"

    assert warehouse.stop() is True
    assert not warehouse.is_running()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert warehouse.stop() is False
    with pytest.raises(RuntimeError, match="not running"):
        warehouse.url()

    assert warehouse.start() == url
    with warehouse.connect() as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (42,)


@pytest.mark.slow
def test_start_recovers_after_a_crash_and_from_a_stale_pid_file(home):
    warehouse = Warehouse(home)
    warehouse.start()
    with warehouse.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE kept AS SELECT 7 AS v")

    os.kill(postmaster_pid(home), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while warehouse.is_running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not warehouse.is_running()

    warehouse.start()
    with warehouse.connect() as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (7,)

    # A pid file naming a live process that is not PostgreSQL (a reused pid) must not block a start.
    warehouse.stop()
    pid_file = home / "postgres" / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{home / 'postgres'}\n0\n5432\n{home / 'postgres'}\n\n0 0\nready\n")
    assert not warehouse.is_running()
    warehouse.start()
    with warehouse.connect() as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (7,)
