"""Start a Glue script the way Glue starts it: ``<script> --JOB_NAME <name> --arg value ...`` on Spark.

The job's definition (name, script, default arguments) comes from the templates; the run adds its own
arguments, which win over the defaults as they do on Glue. S3 URIs become the local folders that stand for
them. The folder holding ``glue_jobs/`` goes on ``PYTHONPATH``, as ``--extra-py-files`` puts ``glue_jobs.zip``
on Glue's, so a script always imports the ``glue_jobs`` it sits in. The script's output streams line by line
into the caller's log (the Airflow task log).

By default the script runs on the warm local Glue runtime (``glue_runtime``: one JVM and SparkSession for
every job, as Glue's warm pools hide start-up); ``DATALAKE_GLUE_RUNTIME=submit`` runs each job under its
own ``spark-submit`` instead. Either way a DeterministicJobFailure is GlueJobDeterministicFailure and any
other failure GlueJobFailed, with the output's last lines.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from energy_datalake import config
from energy_datalake.emulator import glue_runtime, spark
from glue_jobs.runtime import DETERMINISTIC_EXIT_CODE, DeterministicJobFailure

TAIL_LINES = 40
RUNTIME_ENV = "DATALAKE_GLUE_RUNTIME"
RUNTIMES = ("warm", "submit")
_DETERMINISTIC_PREFIX = f"{DeterministicJobFailure.__name__}: "

# Spark logs every stage at INFO; the task log should show the job's own output and Spark's warnings.
LOG4J2_PROPERTIES = """\
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
"""


# A local job lives a minute on a couple of cores: the C2 JIT compiler and the parallel GC's threads compete
# with Spark's task threads and never pay back. C1 only and the serial GC made raw-to-processed about a third
# faster on a 2-core machine (64.7 s -> 41.1 s on the default sample).
DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class GlueJobFailed(RuntimeError):
    """The script exited non-zero; the message carries the last lines of its output."""


class GlueJobDeterministicFailure(GlueJobFailed):
    """The script raised a DeterministicJobFailure (exit code ``DETERMINISTIC_EXIT_CODE``): running it again
    on the same inputs gives the same failure, so the task should fail without retries."""


def find_job(name: str, env: str | None = None):
    """The Glue job ``name`` as the templates declare it (what StartJobRun finds by JobName on AWS)."""
    from energy_datalake import templates

    jobs = templates.load(env).jobs
    if name not in jobs:
        raise LookupError(f"no Glue job {name!r} in the templates (known: {', '.join(sorted(jobs))})")
    return jobs[name]


def local_arguments(arguments: Mapping[str, str]) -> dict[str, str]:
    """Job arguments with every ``s3://`` value replaced by its local folder."""
    return {
        name: str(config.local_path(value)) if value.startswith("s3://") else value
        for name, value in arguments.items()
    }


def script_path(job) -> Path:
    return config.GLUE_JOBS_DIR / f"{job.script}.py"


def script_arguments(job, run_arguments: Mapping[str, str]) -> list[str]:
    """What Glue passes the script: ``--JOB_NAME``, then the defaults and the run's arguments, locally."""
    arguments = ["--JOB_NAME", job.name]
    for name, value in local_arguments({**job.default_arguments, **run_arguments}).items():
        arguments += [name, value]
    return arguments


def job_command(job, run_arguments: Mapping[str, str]) -> list[str]:
    return [
        spark.spark_submit(),
        "--master",
        spark_master(),
        "--driver-memory",
        driver_memory(),
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.driver.extraJavaOptions={DRIVER_JAVA_OPTIONS}",
        str(script_path(job)),
        *script_arguments(job, run_arguments),
    ]


def spark_master() -> str:
    return os.environ.get("DATALAKE_SPARK_MASTER", f"local[{os.cpu_count() or 2}]")


def driver_memory() -> str:
    """A quarter of the machine's memory, between 1 and 2 GiB: Airflow, DuckDB and PostgreSQL need room too."""
    if "DATALAKE_SPARK_DRIVER_MEMORY" in os.environ:
        return os.environ["DATALAKE_SPARK_DRIVER_MEMORY"]
    total_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return f"{min(2048, max(1024, total_mib // 4))}m"


def job_environment() -> dict[str, str]:
    env = spark.spark_env()
    conf_dir = config.home() / "spark-conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    properties = conf_dir / "log4j2.properties"
    if not properties.exists() or properties.read_text() != LOG4J2_PROPERTIES:
        properties.write_text(LOG4J2_PROPERTIES)
    env["SPARK_CONF_DIR"] = str(conf_dir)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(config.GLUE_JOBS_DIR.parent), env.get("PYTHONPATH", "")) if p
    )
    # runtime.start_job builds its session from these, so they must agree with spark-submit's flags.
    env["DATALAKE_SPARK_MASTER"] = spark_master()
    env["DATALAKE_SPARK_DRIVER_MEMORY"] = driver_memory()
    env["PYTHONUNBUFFERED"] = "1"
    return env


def runtime_kind() -> str:
    """``warm`` (the default: the local Glue runtime) or ``submit`` (a spark-submit per job)."""
    value = os.environ.get(RUNTIME_ENV, "warm")
    if value not in RUNTIMES:
        raise ValueError(f"{RUNTIME_ENV} must be one of {', '.join(RUNTIMES)}, not {value!r}")
    return value


def runtime_settings() -> glue_runtime.Settings:
    # The JVM options of a spark-submit'ed job; the huge-method one of LOCAL_CONF takes effect here too, as
    # the runtime's own process starts the JVM.
    from glue_jobs.runtime import LOCAL_CONF

    return glue_runtime.Settings(
        home=config.home(),
        code_dir=config.GLUE_JOBS_DIR,
        environment=job_environment(),
        java_options=f"{DRIVER_JAVA_OPTIONS} {LOCAL_CONF['spark.driver.extraJavaOptions']}",
    )


def warm_up_runtime(environ: Mapping[str, str], echo: Callable[[str], None]) -> threading.Thread | None:
    """Start the local Glue runtime in the background for a run whose jobs' processes get ``environ`` (the
    Airflow environment): its start then overlaps Airflow's own, and the first job finds it ready. None
    when the jobs run under spark-submit. A runtime that fails to start here is started again by the job."""
    saved = dict(os.environ)
    try:
        # The settings the job's process will compute (it fingerprints them): from its environment.
        os.environ.clear()
        os.environ.update(environ)
        if runtime_kind() != "warm":
            return None
        settings = runtime_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)

    def start() -> None:
        try:
            glue_runtime.warm_up(settings, lambda line: None)
        except glue_runtime.RuntimeUnavailable as unavailable:
            echo(
                f"the local Glue runtime did not start in the background ({unavailable}); the first job retries"
            )

    thread = threading.Thread(target=start, name="glue-runtime-warm-up", daemon=True)
    thread.start()
    return thread


def run_job(
    name: str,
    run_arguments: Mapping[str, str],
    *,
    echo: Callable[[str], None] | None = None,
    env: str | None = None,
) -> list[str]:
    """Run the Glue job ``name``: its script on the local Glue runtime, or under spark-submit
    (``DATALAKE_GLUE_RUNTIME=submit``); return the command. Raises GlueJobFailed."""
    job = find_job(name, env)
    what = f"glue job {job.name} ({job.script}.py)"
    echo = echo or print
    if runtime_kind() == "submit":
        command = job_command(job, run_arguments)
        echo(f"glue job {job.name}: {' '.join(command)}")
        stream(command, what, echo, job_environment())
        return command
    command = [str(script_path(job)), *script_arguments(job, run_arguments)]
    echo(f"glue job {job.name}: {' '.join(command)} (on the local Glue runtime)")
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def echo_and_keep(line: str) -> None:
        tail.append(line)
        echo(line)

    try:
        code = glue_runtime.run(Path(command[0]), command[1:], runtime_settings(), echo_and_keep)
    except glue_runtime.RuntimeUnavailable as unavailable:
        # A crash, not the job's verdict: a retry gets a new runtime.
        raise GlueJobFailed(f"{what}: {unavailable}; last lines:\n" + "\n".join(tail)) from unavailable
    raise_for_exit(code, tail, what)
    return command


def stream(
    command: list[str], what: str, echo: Callable[[str], None], env: dict[str, str] | None = None
) -> None:
    """Run ``command``, echoing its output line by line; on failure raise with the output's last lines
    (GlueJobDeterministicFailure for the exit code ``DETERMINISTIC_EXIT_CODE``)."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=config.home()
    ) as process:
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            echo(line)
    raise_for_exit(process.returncode, tail, what)


def raise_for_exit(code: int, tail: Sequence[str], what: str) -> None:
    """GlueJobDeterministicFailure for ``DETERMINISTIC_EXIT_CODE``, GlueJobFailed for any other non-zero."""
    if code == DETERMINISTIC_EXIT_CODE:
        # runtime.run_script printed the reason as one line: lead with it.
        reason = next((line for line in reversed(tail) if line.startswith(_DETERMINISTIC_PREFIX)), "")
        raise GlueJobDeterministicFailure(
            f"{what} failed in a way no retry can fix (exit code {code}): {reason}; "
            "last lines:\n" + "\n".join(tail)
        )
    if code != 0:
        raise GlueJobFailed(f"{what} exited with code {code}; last lines:\n" + "\n".join(tail))
