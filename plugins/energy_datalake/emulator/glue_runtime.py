"""A warm local Glue runtime: one long-lived process holding a JVM and a SparkSession that runs the Glue
scripts on request, the way Glue's warm pools hide a job's start-up.

A spark-submit per job pays a cold JVM, Spark's start-up and the JIT's warm-up every time, most of a local
run. Here the first job starts the runtime and the next ones reuse it. It runs a script as
``spark-submit <script> --name value ...`` does: the same file as ``__main__`` with the same ``sys.argv``,
so the script's own ``runtime.run_script(main)`` decides the exit code (``DETERMINISTIC_EXIT_CODE`` for a
DeterministicJobFailure), and everything the job prints (its own lines, Spark's log, the Python workers')
streams line by line to the caller.

A job leaves nothing to the next. Each gets a session of its own on the shared SparkContext (own SQL conf,
temporary views and functions) through ``glue_jobs.runtime.session_host``, so its ``job.stop()`` leaves the
context running; after it the cache, persisted RDDs, global temporary views and the thread's local
properties are cleared, and ``sys.argv``, ``sys.path``, the environment and the working directory restored.
Every run imports ``glue_jobs`` afresh, and when that code or the session's settings changed since the
runtime started, the runtime is replaced (Python workers may hold the old modules).

One runtime per ``$DATALAKE_HOME``: a Unix socket, a state file and a log under
``$DATALAKE_HOME/glue-runtime/``; one job at a time (callers queue on a file lock). It ends when ``stop()`` is
called or its owner is gone (``datalake run`` names itself in ``OWNER_ENV``), and, started without an owner
(by ``make ui``'s scheduler, a test), after ``IDLE_SECONDS_ENV`` seconds without a job. If it dies during a
job, the caller gets RuntimeLost and the next job starts a new runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import hashlib
import importlib
import json
import os
import queue
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The pid of the process whose end ends the runtime (`datalake run` sets it for its Airflow tasks).
OWNER_ENV = "DATALAKE_GLUE_RUNTIME_OWNER"
IDLE_SECONDS_ENV = "DATALAKE_GLUE_RUNTIME_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 300.0
START_TIMEOUT_ENV = "DATALAKE_GLUE_RUNTIME_START_SECONDS"
# A JVM and a SparkSession on a busy 2-core machine: seconds normally, minutes when several sessions compete.
DEFAULT_START_TIMEOUT = 300.0
# Said before the first start on a machine; afterwards the last start's duration is.
FIRST_START_ESTIMATE = 10.0
STATUS_TIMEOUT = 10.0
STOP_TIMEOUT = 30.0
# The environment that shapes the JVM and the session when they start: a change means a new runtime.
SESSION_VARIABLES = (
    "PYTHONPATH",
    "SPARK_",
    "PYSPARK_",
    "JAVA_",
    "HADOOP_",
    "DATALAKE_SPARK_",
    "DATALAKE_SHUFFLE_",
)
# Unix socket paths are limited to about 104 bytes (macOS) or 108 (Linux).
MAX_SOCKET_PATH = 100
_END_OF_OUTPUT = b"\x00glue-runtime-end "


class RuntimeUnavailable(RuntimeError):
    """The runtime could not run the job: it did not start, or it went away."""


class RuntimeLost(RuntimeUnavailable):
    """The runtime died (or was stopped) while it ran the job."""


@dataclass(frozen=True)
class Settings:
    """What a runtime is started with. Two settings with the same fingerprints can share a runtime."""

    home: Path
    # The glue_jobs package the scripts import (its parent is on PYTHONPATH in ``environment``).
    code_dir: Path
    # The runtime's environment, the same a spark-submit of the job gets; each job also runs with its own.
    environment: Mapping[str, str]
    java_options: str
    python: str = sys.executable

    def code_fingerprint(self) -> str:
        digest = hashlib.sha256(Path(__file__).read_bytes())
        for path in sorted(self.code_dir.rglob("*.py")):
            if "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(self.code_dir)).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def settings_fingerprint(self) -> str:
        shaping = sorted((k, v) for k, v in self.environment.items() if k.startswith(SESSION_VARIABLES))
        return hashlib.sha256(
            json.dumps([self.python, self.java_options, str(self.code_dir), shaping]).encode()
        ).hexdigest()


@dataclass(frozen=True)
class Paths:
    folder: Path

    @classmethod
    def of(cls, home: Path) -> Paths:
        return cls(Path(home) / "glue-runtime")

    @property
    def socket(self) -> Path:
        inside = self.folder / "server.sock"
        if len(str(inside)) <= MAX_SOCKET_PATH:
            return inside
        # A deep $DATALAKE_HOME (pytest's tmp folders): a short path that still names this home alone.
        key = hashlib.sha256(str(self.folder.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"energy-datalake-glue-{key}.sock"

    @property
    def state(self) -> Path:
        return self.folder / "server.json"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def lock(self) -> Path:
        return self.folder / "lock"

    @property
    def startup(self) -> Path:
        return self.folder / "startup.json"


# --- the caller's side (an Airflow task, a test) ---------------------------------------------------------


def run(script: Path, argv: Sequence[str], settings: Settings, echo: Callable[[str], None]) -> int:
    """Run ``script`` with ``argv`` (``--name value`` pairs) on the home's runtime, started if need be;
    echo its output line by line; return its exit code. Raises RuntimeUnavailable."""
    paths = Paths.of(settings.home)
    paths.folder.mkdir(parents=True, exist_ok=True)
    with _one_job_at_a_time(paths, echo):
        status = _ready_runtime(paths, settings, echo)
        return _run_on(paths, status, script, argv, dict(settings.environment), echo)


def warm_up(settings: Settings, echo: Callable[[str], None]) -> None:
    """Have the home's runtime ready for the next job (started if need be) without running one: the caller
    starts it while other work goes on, and the first job finds it warm. Raises RuntimeUnavailable."""
    paths = Paths.of(settings.home)
    paths.folder.mkdir(parents=True, exist_ok=True)
    with _one_job_at_a_time(paths, echo):
        _ready_runtime(paths, settings, echo)


def status(home: Path) -> dict | None:
    """What the home's runtime says of itself (pid, fingerprints, jobs run, busy); None if none answers."""
    paths = Paths.of(home)
    try:
        with _connect(paths, STATUS_TIMEOUT) as connection:
            _send(connection, {"op": "status"})
            line = connection.makefile("rb").readline()
        return json.loads(line) if line else None
    except (OSError, ValueError):
        return None


def stop(home: Path | None = None) -> bool:
    """Stop the home's runtime and its JVM (whatever it is doing); False when none was running."""
    import psutil

    if home is None:
        from energy_datalake import config

        home = config.home()
    paths = Paths.of(home)
    process = _recorded_process(paths)
    if process is None:
        _forget(paths, None)
        return False
    try:
        descendants = process.children(recursive=True)
        process.terminate()
    except psutil.NoSuchProcess:
        descendants = []
    _, alive = psutil.wait_procs([process], timeout=STOP_TIMEOUT)
    for leftover in alive:
        leftover.kill()
    # The JVM ends with its parent (its stdin closes); wait for it so that nothing outlives stop().
    _, alive = psutil.wait_procs(descendants, timeout=STOP_TIMEOUT)
    for leftover in alive:
        leftover.kill()
    _forget(paths, process.pid)
    return True


@contextlib.contextmanager
def _one_job_at_a_time(paths: Paths, echo):
    with open(paths.lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo("waiting for the local Glue runtime: it is starting, or another job is running on it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ready_runtime(paths: Paths, settings: Settings, echo) -> dict:
    code, shaping = settings.code_fingerprint(), settings.settings_fingerprint()
    current = status(settings.home)
    if current and not current["busy"] and (current["code"], current["settings"]) == (code, shaping):
        echo(
            f"reusing the local Glue runtime (pid {current['pid']}, Spark up for "
            f"{current['uptime']:.0f} s, {current['jobs']} job(s) run)"
        )
        return current
    if current and current["code"] != code:
        echo(f"glue_jobs changed since the local Glue runtime (pid {current['pid']}) started: restarting it")
    elif current and current["settings"] != shaping:
        echo(
            f"the Spark settings changed since the local Glue runtime (pid {current['pid']}) started: restarting it"
        )
    elif current:
        echo(
            f"the local Glue runtime (pid {current['pid']}) is busy with a job nobody waits for: replacing it"
        )
    elif _recorded_process(paths) is not None:
        echo("the local Glue runtime does not answer: replacing it")
    stop(settings.home)
    return _start(paths, settings, code, shaping, echo)


def _start(paths: Paths, settings: Settings, code: str, shaping: str, echo) -> dict:
    estimate = _read_json(paths.startup).get("seconds", FIRST_START_ESTIMATE)
    echo(f"starting the local Glue runtime (Spark), ~{estimate:.0f} s")
    owner = settings.environment.get(OWNER_ENV) or os.environ.get(OWNER_ENV, "")
    idle_seconds = _seconds(IDLE_SECONDS_ENV, DEFAULT_IDLE_SECONDS)
    timeout = _seconds(START_TIMEOUT_ENV, DEFAULT_START_TIMEOUT)
    command = [settings.python, "-m", __name__, "--home", str(settings.home), "--code", code]
    command += ["--settings", shaping, "--java-options", settings.java_options, "--owner", owner]
    command += ["--idle-seconds", str(idle_seconds)]
    started = time.monotonic()
    with open(paths.log, "wb") as log:
        # Its own session: a Ctrl-C in the terminal reaches `datalake run`, which stops the runtime itself.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(settings.environment),
            cwd=settings.home,
            start_new_session=True,
        )
    shown = 0
    while True:
        shown = _echo_new_lines(paths.log, shown, echo)
        ready = status(settings.home) if paths.state.exists() else None
        if ready and ready["pid"] == process.pid:
            break
        if process.poll() is not None:
            _echo_new_lines(paths.log, shown, echo)
            raise RuntimeUnavailable(
                f"the local Glue runtime exited with code {process.returncode} while starting (log {paths.log})"
            )
        if time.monotonic() - started > timeout:
            _kill_tree(process.pid)
            raise RuntimeUnavailable(
                f"the local Glue runtime did not start within {timeout:.0f} s "
                f"({START_TIMEOUT_ENV} sets the limit; log {paths.log})"
            )
        time.sleep(0.1)
    _echo_new_lines(paths.log, shown, echo)
    seconds = time.monotonic() - started
    from energy_datalake.files import write_json

    write_json(paths.startup, {"seconds": round(seconds, 1)})
    echo(f"local Glue runtime ready in {seconds:.1f} s (pid {process.pid})")
    return ready


def _seconds(variable: str, default: float) -> float:
    value = os.environ.get(variable)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(f"{variable} must be a positive number of seconds, not {value!r}")
    return seconds


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        process = psutil.Process(pid)
        processes = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for each in processes:
        with contextlib.suppress(psutil.Error):
            each.kill()
    psutil.wait_procs(processes, timeout=STOP_TIMEOUT)


def _echo_new_lines(log: Path, shown: int, echo) -> int:
    """Echo the complete lines the log gained past byte ``shown``; return the new offset."""
    try:
        with open(log, "rb") as handle:
            handle.seek(shown)
            data = handle.read()
    except FileNotFoundError:
        return shown
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.decode("utf-8", "replace").splitlines():
        echo(line)
    return shown + len(complete)


def _run_on(paths: Paths, runtime: dict, script: Path, argv, environment: dict, echo) -> int:
    request = {"op": "run", "script": str(script), "argv": list(argv), "environment": environment}
    lost = (
        f"the local Glue runtime (pid {runtime['pid']}) died during the job (its log: {paths.log}); "
        "the next job starts a new one"
    )
    try:
        with _connect(paths, STATUS_TIMEOUT) as connection:
            connection.settimeout(None)
            _send(connection, request)
            for raw in connection.makefile("rb"):
                message = json.loads(raw)
                if "line" in message:
                    echo(message["line"])
                elif "exit" in message:
                    return message["exit"]
                else:
                    raise RuntimeUnavailable(f"the local Glue runtime refused the job: {message['refused']}")
    except (OSError, ValueError) as error:
        stop(paths.folder.parent)
        raise RuntimeLost(f"{lost} ({error})") from error
    # The connection closed without the job's exit code: the runtime is gone or going; make sure of it.
    stop(paths.folder.parent)
    raise RuntimeLost(lost)


def _connect(paths: Paths, timeout: float) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(timeout)
    try:
        connection.connect(str(paths.socket))
    except OSError:
        connection.close()
        raise
    return connection


def _send(connection: socket.socket, message: dict) -> None:
    connection.sendall(json.dumps(message).encode() + b"\n")


def _recorded_process(paths: Paths):
    """The runtime's process as its state file records it, if it still runs (not a reused pid)."""
    import psutil

    state = _read_json(paths.state)
    if "pid" not in state:
        return None
    try:
        process = psutil.Process(state["pid"])
        if process.create_time() != state["create_time"] or process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return process


def _forget(paths: Paths, pid: int | None) -> None:
    """Remove the state file (if it names ``pid``, or a process that is gone) and a socket nobody serves."""
    state = _read_json(paths.state)
    if state and (state.get("pid") == pid or _recorded_process(paths) is None):
        paths.state.unlink(missing_ok=True)
        if not paths.state.exists():
            paths.socket.unlink(missing_ok=True)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


# --- the runtime's side ----------------------------------------------------------------------------------


@dataclass
class _Job:
    connection: socket.socket
    request: dict
    done: threading.Event = field(default_factory=threading.Event)


class _Stopped(Exception):
    """SIGTERM while no job runs: shut down cleanly."""


class Server:
    def __init__(
        self, home: Path, code: str, settings: str, java_options: str, owner: str, idle_seconds: float
    ):
        self.paths = Paths.of(home)
        self.code = code
        self.settings = settings
        self.java_options = java_options
        self.owner = _owner_process(owner)
        self.idle_seconds = idle_seconds
        self.jobs = 0
        self.started = time.time()
        self.last_job_ended = time.monotonic()
        self.current: _Job | None = None
        self.requests: queue.Queue[_Job] = queue.Queue()
        self.output_lock = threading.Lock()
        self.drained = threading.Event()
        self.socket_inode: int | None = None
        self.spark = None

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self._capture_output()
        listener = None
        try:
            started = time.monotonic()
            self.spark = self._start_spark()
            self._log(f"Spark {self.spark.version} up in {time.monotonic() - started:.1f} s")
            listener = self._listen()
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
            self._loop()
        except _Stopped:
            self._log("stopped")
        finally:
            if listener is not None:
                listener.close()
            self._shutdown()

    def _capture_output(self) -> None:
        """Route file descriptors 1 and 2 (this process's and, inherited, the JVM's and the Python workers')
        through a pipe, so a job's output reaches its caller and anything between jobs the log."""
        self.log_file = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        read_end, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        threading.Thread(target=self._forward_output, args=(read_end,), daemon=True).start()

    def _start_spark(self):
        # Python put the working directory first on sys.path (python -m); a script's run puts its own folder.
        if sys.path and Path(sys.path[0] or ".").resolve() == Path.cwd():
            sys.path.pop(0)
        from glue_jobs import runtime

        # The session every job's session derives from: the one runtime.start_job builds off Glue, with the
        # JVM options of a spark-submit'ed job (they apply: this process starts the JVM).
        builder = runtime.local_session_builder("glue-runtime")
        builder = builder.config("spark.driver.extraJavaOptions", self.java_options)
        # spark-submit turns the console progress bar on for a PySpark-started JVM (it counts as a shell), and
        # off for a script: its carriage returns would garble the jobs' lines.
        return builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()

    def _listen(self) -> socket.socket:
        import psutil

        from energy_datalake.files import write_json

        path = self.paths.socket
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(8)
        self.socket_inode = path.stat().st_ino
        write_json(
            self.paths.state,
            {
                "pid": os.getpid(),
                "create_time": psutil.Process().create_time(),
                "socket": str(path),
                "code": self.code,
                "settings": self.settings,
            },
        )
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(STATUS_TIMEOUT)
            request = json.loads(connection.makefile("rb").readline() or b"{}")
            connection.settimeout(None)
        except (OSError, ValueError):
            connection.close()
            return
        if request.get("op") == "run":
            if self.current is not None or not self.requests.empty():
                self._reply(connection, {"refused": "another job is running"})
                connection.close()
                return
            self.requests.put(_Job(connection, request))
            return
        self._reply(
            connection,
            {
                "pid": os.getpid(),
                "code": self.code,
                "settings": self.settings,
                "jobs": self.jobs,
                "uptime": time.time() - self.started,
                "busy": self.current is not None,
            },
        )
        connection.close()

    def _loop(self) -> None:
        while True:
            try:
                job = self.requests.get(timeout=1.0)
            except queue.Empty:
                if self.owner is not None and not _alive(self.owner):
                    self._log(f"the process that owned this runtime (pid {self.owner.pid}) is gone: stopping")
                    return
                idle = time.monotonic() - self.last_job_ended
                if self.owner is None and idle > self.idle_seconds:
                    self._log(f"no job for {idle:.0f} s: stopping")
                    return
                continue
            healthy = self._run(job)
            if not healthy:
                return

    def _run(self, job: _Job) -> bool:
        """Run one job; False when the runtime cannot serve another."""
        self.current = job
        threading.Thread(target=self._watch_caller, args=(job,), daemon=True).start()
        session = None

        def host(app_name: str):
            nonlocal session
            if session is None:
                session = self._job_session(app_name)
            return session

        code = self._execute(job.request, host)
        healthy = True
        try:
            if session is not None:
                self._reset(session)
            if self.spark.sparkContext._jsc.sc().isStopped():
                raise RuntimeError("the job stopped the SparkContext")
        except Exception as error:  # noqa: BLE001 - whatever broke, the next job gets a new runtime
            print(f"the local Glue runtime cannot serve another job ({error}): it stops", file=sys.stderr)
            healthy = False
        self._drain_output()
        self.jobs += 1
        job.done.set()
        with self.output_lock:
            self.current = None
            self._reply(job.connection, {"exit": code})
        # Shut down first: close() alone would not wake the watcher blocked in recv().
        with contextlib.suppress(OSError):
            job.connection.shutdown(socket.SHUT_RDWR)
        job.connection.close()
        self.last_job_ended = time.monotonic()
        return healthy

    def _execute(self, request: dict, host) -> int:
        """The script as ``python script argv...`` runs it, in a fresh namespace; its exit code."""
        script = request["script"]
        saved = list(sys.argv), list(sys.path), dict(os.environ), os.getcwd()
        _forget_modules("glue_jobs")
        importlib.invalidate_caches()
        try:
            os.environ.clear()
            os.environ.update(request["environment"])
            job_runtime = importlib.import_module("glue_jobs.runtime")
            job_runtime.session_host = host
            sys.argv = [script, *request["argv"]]
            sys.path.insert(0, str(Path(script).parent))
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = _exit_code(exit_.code)
        except BaseException as error:  # noqa: BLE001 - the job's crash, reported as Python reports it
            _print_traceback(error, script)
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.argv, sys.path[:] = saved[0], saved[1]
            os.environ.clear()
            os.environ.update(saved[2])
            os.chdir(saved[3])
            _forget_modules("glue_jobs")
        return code

    def _job_session(self, app_name: str):
        """A session of the job's own on the shared context, active while the job runs."""
        from pyspark.sql import SparkSession

        session = self.spark.newSession()
        self._activate(SparkSession, session)
        session.sparkContext.setJobDescription(app_name)
        return session

    def _activate(self, session_class, session) -> None:
        # What SparkSession.builder.getOrCreate() and getActiveSession() hand out, on both sides of py4j.
        session_class._instantiatedSession = session
        session_class._activeSession = session
        jvm = session._jvm
        jvm.SparkSession.setDefaultSession(session._jsparkSession)
        jvm.SparkSession.setActiveSession(session._jsparkSession)

    def _reset(self, session) -> None:
        """Clear what a job can leave on the shared context for the next one."""
        from pyspark.sql import SparkSession

        context = self.spark.sparkContext
        session.catalog.clearCache()
        for rdd in list(context._jsc.getPersistentRDDs().values()):
            rdd.unpersist()
        session._jsparkSession.sessionState().catalog().globalTempViewManager().clear()
        context._jsc.sc().getLocalProperties().clear()
        self._activate(SparkSession, self.spark)
        gc.collect()

    def _watch_caller(self, job: _Job) -> None:
        """A caller that goes away mid-job (a killed task) leaves a job whose outcome nobody reads and whose
        state is unknown: end the runtime; the next job starts a new one."""
        try:
            while job.connection.recv(1024):
                pass
        except OSError:
            pass
        if not job.done.is_set():
            self._log("the caller went away during the job: stopping")
            self._exit_now(1)

    def _forward_output(self, read_end: int) -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                marker = line.find(_END_OF_OUTPUT)
                if marker >= 0:
                    if marker:
                        self._route(line[:marker])
                    self.drained.set()
                else:
                    self._route(line)

    def _route(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        with self.output_lock:
            if self.current is not None:
                with contextlib.suppress(OSError):
                    self._reply(self.current.connection, {"line": text})
            else:
                self.log_file.write(text + "\n")

    def _drain_output(self) -> None:
        """Wait until every line written before now reached the caller: a pipe keeps the writers' order."""
        self.drained.clear()
        os.write(1, _END_OF_OUTPUT + b"\n")
        self.drained.wait(timeout=STOP_TIMEOUT)

    def _reply(self, connection: socket.socket, message: dict) -> None:
        with contextlib.suppress(OSError):
            _send(connection, message)

    def _log(self, message: str) -> None:
        with self.output_lock:
            self.log_file.write(f"{time.strftime('%H:%M:%S')} glue-runtime: {message}\n")

    def _on_sigterm(self, signum, frame) -> None:
        if self.current is None:
            raise _Stopped()
        self._log("stopped during a job")
        self._exit_now(128 + signum)

    def _shutdown(self) -> None:
        self._forget()
        # A watchdog: a context that does not stop within the limit is killed with its JVM.
        timer = threading.Timer(STOP_TIMEOUT, self._exit_now, args=(1,))
        timer.daemon = True
        timer.start()
        if self.spark is not None:
            from pyspark import SparkContext

            jvm = SparkContext._gateway.proc if SparkContext._gateway else None
            self.spark.stop()
            if jvm is not None:
                # Its stdin closing ends the JVM (PythonGatewayServer); wait so that nothing outlives us.
                jvm.stdin.close()
                jvm.wait(timeout=STOP_TIMEOUT)

    def _exit_now(self, code: int) -> None:
        import psutil

        self._forget()
        children = psutil.Process().children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        os._exit(code)

    def _forget(self) -> None:
        if _read_json(self.paths.state).get("pid") == os.getpid():
            self.paths.state.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            if self.paths.socket.stat().st_ino == self.socket_inode:
                self.paths.socket.unlink()


def _owner_process(owner: str):
    import psutil

    if not owner:
        return None
    try:
        return psutil.Process(int(owner))
    except (ValueError, psutil.Error):
        # Its owner is already gone (an Airflow run that outlived its `datalake run`): an unowned runtime.
        return None


def _alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _forget_modules(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def _exit_code(code) -> int:
    """Python's own rule for SystemExit's argument."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_traceback(error: BaseException, script: str) -> None:
    # From the script's frame on, as `python script.py` prints it (runpy's and this module's frames are ours).
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    traceback.print_exception(type(error), error, tb or error.__traceback__, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="glue-runtime", description="The local Glue runtime's server")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--code", required=True)
    parser.add_argument("--settings", required=True)
    parser.add_argument("--java-options", default="")
    parser.add_argument("--owner", default="")
    parser.add_argument("--idle-seconds", type=float, default=DEFAULT_IDLE_SECONDS)
    args = parser.parse_args(argv)
    Server(args.home, args.code, args.settings, args.java_options, args.owner, args.idle_seconds).serve()


if __name__ == "__main__":
    main()
