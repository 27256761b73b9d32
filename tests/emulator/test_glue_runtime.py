"""The warm local Glue runtime: one JVM and SparkSession for many jobs, each job as if it ran alone.

The jobs are probes in a private copy of the ``glue_jobs`` package (its real ``runtime.py``, so
``start_job``, ``run_script`` and ``session_host`` are the ones that ship) standing in for the templates'
scripts: they prove the runtime, not the jobs' logic. One runtime serves the module where a test does not
need its own; the tests that end one check that its JVM ends with it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from energy_datalake import config
from energy_datalake.emulator import glue_etl, glue_runtime

RUN_DATE = "2026-03-29"

# The templates' raw-to-processed job runs this in place of the real script; --probe says what it does.
PROBE = """
import os
import sys
import time

from glue_jobs import runtime


def main(argv):
    args = runtime.resolve_options(argv, ["JOB_NAME", "run_date"], {"probe": "count", "seconds": "0"})
    job = runtime.start_job(args, "probe")
    spark = job.spark
    try:
        probe = args["probe"]
        print("probe", probe, "pid", os.getpid(), "app", spark.sparkContext.applicationId)
        if probe == "count":
            print("count", spark.range(7).count())
            spark._jvm.org.apache.logging.log4j.LogManager.getLogger("probe").warn("from the JVM")
            print("after the JVM line")
        elif probe == "deterministic":
            raise runtime.DeterministicJobFailure("transactions: 16.67% quarantined\\nclients: 9.00% quarantined")
        elif probe == "crash":
            raise OSError("disk full")
        elif probe == "die":
            print("dying", flush=True)
            time.sleep(1)
            os.kill(os.getpid(), 9)
        elif probe == "sleep":
            print("slept from", time.time(), flush=True)
            time.sleep(float(args["seconds"]))
            print("slept until", time.time(), flush=True)
        elif probe == "leave-state":
            spark.conf.set("spark.sql.shuffle.partitions", "3")
            spark.range(5).createOrReplaceTempView("left_view")
            spark.range(5).createOrReplaceGlobalTempView("left_global_view")
            spark.range(1000).cache().count()
            spark.sparkContext.parallelize(range(10)).persist().count()
            spark.sparkContext.setLocalProperty("left.property", "x")
            os.environ["LEFT_VARIABLE"] = "x"
            runtime.LEFT_ATTRIBUTE = "x"
            sys.path.append("/left/path")
            os.chdir("/")
        elif probe == "find-state":
            jsession = spark._jsparkSession
            print("partitions", spark.conf.get("spark.sql.shuffle.partitions"))
            print("time zone", spark.conf.get("spark.sql.session.timeZone"))
            print("views", sorted(t.name for t in spark.catalog.listTables()))
            print("global views", sorted(t.name for t in spark.catalog.listTables("global_temp")))
            print("cache empty", jsession.sharedState().cacheManager().isEmpty())
            print("persisted rdds", len(spark.sparkContext._jsc.getPersistentRDDs()))
            print("property", spark.sparkContext.getLocalProperty("left.property"))
            print("variable", os.environ.get("LEFT_VARIABLE"))
            print("attribute", getattr(runtime, "LEFT_ATTRIBUTE", None))
            print("path", "/left/path" in sys.path)
            print("cwd", os.getcwd())
            print("job variable", os.environ.get("PROBE_VARIABLE"))
        job.commit()
    finally:
        job.stop()


if __name__ == "__main__":
    runtime.run_script(main, sys.argv)
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A home and a private glue_jobs whose raw_to_processed.py is the probe; the module's runtime stopped
    at the end."""
    root = tmp_path_factory.mktemp("runtime")
    code = root / "code" / "glue_jobs"
    code.mkdir(parents=True)
    for module in ("__init__.py", "runtime.py"):
        shutil.copy(config.GLUE_JOBS_DIR / module, code / module)
    (code / "raw_to_processed.py").write_text(PROBE)
    home = root / "home"
    home.mkdir()
    patch = pytest.MonkeyPatch()
    patch.setenv("DATALAKE_HOME", str(home))
    patch.setenv("DATALAKE_SPARK_MASTER", "local[1]")
    patch.setenv("DATALAKE_SPARK_DRIVER_MEMORY", "1g")
    patch.delenv(glue_runtime.OWNER_ENV, raising=False)
    patch.delenv(glue_runtime.IDLE_SECONDS_ENV, raising=False)
    patch.delenv(glue_etl.RUNTIME_ENV, raising=False)
    patch.setattr(config, "GLUE_JOBS_DIR", code)
    yield home
    glue_runtime.stop(home)
    patch.undo()


def run_probe(probe: str, **arguments: str) -> list[str]:
    lines: list[str] = []
    run_arguments = {"--run_date": RUN_DATE, "--probe": probe}
    run_arguments.update({f"--{name}": value for name, value in arguments.items()})
    glue_etl.run_job("raw-to-processed", run_arguments, echo=lines.append)
    return lines


def value_of(lines: list[str], name: str) -> str:
    [value] = [line.removeprefix(name + " ") for line in lines if line.startswith(name + " ")]
    return value


def runtime_processes(home: Path) -> list[psutil.Process]:
    """The runtime's process and its descendants (the JVM, the Python workers)."""
    process = psutil.Process(glue_runtime.status(home)["pid"])
    return [process, *process.children(recursive=True)]


def assert_all_end(processes: list[psutil.Process], timeout: float = 30) -> None:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    assert not alive, [p.cmdline()[:2] for p in alive]


def test_a_deep_home_gets_a_short_socket_path_of_its_own(tmp_path):
    deep = tmp_path / ("d" * 120)
    short = glue_runtime.Paths.of(deep).socket
    assert len(str(short)) <= glue_runtime.MAX_SOCKET_PATH
    assert short != glue_runtime.Paths.of(tmp_path / ("e" * 120)).socket
    assert glue_runtime.Paths.of(tmp_path).socket == tmp_path / "glue-runtime" / "server.sock"


def test_the_fingerprints_follow_the_code_and_the_session_settings(tmp_path):
    code = tmp_path / "glue_jobs"
    code.mkdir()
    (code / "runtime.py").write_text("A = 1\n")
    settings = glue_runtime.Settings(tmp_path, code, {"PYTHONPATH": str(tmp_path), "TERM": "x"}, "-Xss4m")
    first = (settings.code_fingerprint(), settings.settings_fingerprint())
    # A variable that does not shape the JVM or the session (Airflow's per-task context) changes nothing.
    other_task = glue_runtime.Settings(tmp_path, code, {"PYTHONPATH": str(tmp_path), "TERM": "y"}, "-Xss4m")
    assert (other_task.code_fingerprint(), other_task.settings_fingerprint()) == first
    more_memory = glue_runtime.Settings(
        tmp_path, code, {"PYTHONPATH": str(tmp_path), "DATALAKE_SPARK_DRIVER_MEMORY": "3g"}, "-Xss4m"
    )
    assert more_memory.settings_fingerprint() != first[1]
    (code / "lib").mkdir()
    (code / "lib" / "kpis.py").write_text("B = 2\n")
    assert settings.code_fingerprint() != first[0]


def test_a_bad_idle_time_is_refused_naming_it(datalake_home, monkeypatch, tmp_path):
    monkeypatch.setenv(glue_runtime.IDLE_SECONDS_ENV, "soon")
    settings = glue_runtime.Settings(datalake_home, tmp_path, {}, "")
    with pytest.raises(ValueError, match=f"{glue_runtime.IDLE_SECONDS_ENV} must be .* not 'soon'"):
        glue_runtime.run(tmp_path / "never_run.py", [], settings, [].append)


@pytest.mark.slow
def test_jobs_share_one_runtime_and_stream_their_output_line_by_line(lake):
    first = run_probe("count")
    second = run_probe("count")

    assert any(line.startswith("starting the local Glue runtime (Spark), ~") for line in first) or any(
        line.startswith("reusing the local Glue runtime") for line in first
    )
    pid = glue_runtime.status(lake)["pid"]
    assert f"reusing the local Glue runtime (pid {pid}, Spark up for" in second[1]
    # The same process and SparkContext ran both: no second JVM.
    assert value_of(first, "probe count pid").split()[0] == value_of(second, "probe count pid").split()[0]
    assert value_of(first, "probe count pid").split()[-1] == value_of(second, "probe count pid").split()[-1]
    # The script's lines and the JVM's log, in the order they were written; Spark's INFO stays out.
    at = second.index("count 7")
    assert second[at + 1].endswith(" WARN probe: from the JVM") and second[at + 2] == "after the JVM line"
    assert not any(" INFO " in line for line in first + second)


@pytest.mark.slow
def test_a_deterministic_failure_is_not_retried_a_crash_is_and_the_runtime_serves_on(lake):
    run_probe("count")
    pid = glue_runtime.status(lake)["pid"]

    with pytest.raises(glue_etl.GlueJobDeterministicFailure) as deterministic:
        run_probe("deterministic")
    assert str(deterministic.value).splitlines()[0] == (
        "glue job raw-to-processed (raw_to_processed.py) failed in a way no retry can fix (exit code 3): "
        "DeterministicJobFailure: transactions: 16.67% quarantined clients: 9.00% quarantined; last lines:"
    )

    with pytest.raises(glue_etl.GlueJobFailed) as crash:
        run_probe("crash")
    assert not isinstance(crash.value, glue_etl.GlueJobDeterministicFailure)
    message = str(crash.value)
    assert message.startswith("glue job raw-to-processed (raw_to_processed.py) exited with code 1")
    # Python's own report, from the script's frame on.
    assert "Traceback (most recent call last):" in message and message.rstrip().endswith("OSError: disk full")
    assert "runpy" not in message

    lines = run_probe("count")
    assert "count 7" in lines
    assert glue_runtime.status(lake)["pid"] == pid


@pytest.mark.slow
def test_a_job_leaves_nothing_to_the_next(lake, monkeypatch):
    run_probe("leave-state")
    monkeypatch.setenv("PROBE_VARIABLE", "this run's")
    found = run_probe("find-state")

    assert value_of(found, "partitions") == os.environ.get("DATALAKE_SHUFFLE_PARTITIONS", "8")
    assert value_of(found, "time zone") == "UTC"
    assert value_of(found, "views") == "[]"
    assert value_of(found, "global views") == "[]"
    assert value_of(found, "cache empty") == "True"
    assert value_of(found, "persisted rdds") == "0"
    assert value_of(found, "property") == "None"
    assert value_of(found, "variable") == "None"
    # glue_jobs is imported afresh for every job.
    assert value_of(found, "attribute") == "None"
    assert value_of(found, "path") == "False"
    assert value_of(found, "cwd") == str(lake)
    # Each job sees the caller's environment of its own run, as under spark-submit.
    assert value_of(found, "job variable") == "this run's"


@pytest.mark.slow
def test_callers_take_turns(lake):
    run_probe("count")
    outputs: dict[str, list[str]] = {}

    def sleep(name: str) -> None:
        outputs[name] = run_probe("sleep", seconds="2")

    threads = [threading.Thread(target=sleep, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
        time.sleep(0.5)
    for thread in threads:
        thread.join(timeout=120)
    spans = sorted(
        (float(value_of(lines, "slept from")), float(value_of(lines, "slept until")))
        for lines in outputs.values()
    )
    assert len(spans) == 2 and spans[0][1] <= spans[1][0]
    assert (
        "waiting for the local Glue runtime: it is starting, or another job is running on it" in outputs["b"]
    )


@pytest.mark.slow
def test_changed_glue_jobs_code_gets_a_new_runtime(lake):
    run_probe("count")
    old = runtime_processes(lake)
    # The module's private copy of glue_jobs: the change can stay.
    (config.GLUE_JOBS_DIR / "added_module.py").write_text("CHANGED = True\n")
    lines = run_probe("count")
    assert (
        f"glue_jobs changed since the local Glue runtime (pid {old[0].pid}) started: restarting it" in lines
    )
    assert any(line.startswith("starting the local Glue runtime (Spark), ~") for line in lines)
    assert glue_runtime.status(lake)["pid"] != old[0].pid
    assert_all_end(old)


@pytest.mark.slow
def test_a_runtime_that_dies_mid_job_fails_the_task_clearly_and_the_next_job_starts_a_new_one(lake):
    run_probe("count")
    old = runtime_processes(lake)
    with pytest.raises(glue_etl.GlueJobFailed) as died:
        run_probe("die")
    assert not isinstance(died.value, glue_etl.GlueJobDeterministicFailure)
    assert str(died.value).startswith(
        f"glue job raw-to-processed (raw_to_processed.py): the local Glue runtime (pid {old[0].pid}) died "
        "during the job"
    )
    assert "dying" in str(died.value)
    assert_all_end(old)

    lines = run_probe("count")
    assert any(line.startswith("starting the local Glue runtime (Spark), ~") for line in lines)
    assert "count 7" in lines, lines


@pytest.mark.slow
def test_a_caller_that_goes_away_mid_job_ends_the_runtime(lake):
    run_probe("count")
    old = runtime_processes(lake)
    # A task killed while its job runs: a separate process, the same home and code.
    caller = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                from pathlib import Path
                from energy_datalake import config
                from energy_datalake.emulator import glue_etl
                config.GLUE_JOBS_DIR = Path({str(config.GLUE_JOBS_DIR)!r})
                glue_etl.run_job("raw-to-processed", {{"--run_date": "{RUN_DATE}", "--probe": "sleep",
                                 "--seconds": "60"}}, echo=lambda line: print(line, flush=True))
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in caller.stdout:
        if line.startswith("slept from"):
            break
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    assert_all_end(old)
    assert glue_runtime.status(lake) is None


@pytest.mark.slow
def test_stop_ends_the_runtime_and_its_jvm(lake):
    run_probe("count")
    processes = runtime_processes(lake)
    assert any(p.name() == "java" for p in processes)

    assert glue_runtime.stop(lake) is True
    assert_all_end(processes, timeout=0)
    runtime_dir = lake / "glue-runtime"
    assert not (runtime_dir / "server.json").exists() and not (runtime_dir / "server.sock").exists()
    assert glue_runtime.stop(lake) is False


@pytest.mark.slow
def test_an_unowned_runtime_ends_after_its_idle_time(lake, monkeypatch):
    glue_runtime.stop(lake)
    monkeypatch.setenv(glue_runtime.IDLE_SECONDS_ENV, "2")
    run_probe("count")
    processes = runtime_processes(lake)
    assert_all_end(processes, timeout=60)
    assert re.search(r"no job for \d+ s: stopping", (lake / "glue-runtime" / "server.log").read_text())


@pytest.mark.slow
def test_a_runtime_warmed_up_in_the_background_serves_the_first_job_and_ends_with_its_owner(
    lake, monkeypatch
):
    """`datalake run` starts the runtime as the run starts, from the environment it gives Airflow (which
    names it the owner); the first job then reuses it instead of starting one, no idle time ends it while
    its owner lives, and it ends when the owner is gone."""
    glue_runtime.stop(lake)
    monkeypatch.setenv(glue_runtime.IDLE_SECONDS_ENV, "1")
    owner = subprocess.Popen(["sleep", "600"])
    try:
        environ = {**os.environ, glue_runtime.OWNER_ENV: str(owner.pid)}
        told: list[str] = []
        glue_etl.warm_up_runtime(environ, told.append).join(timeout=300)
        assert told == []
        state = glue_runtime.status(lake)
        assert state is not None and state["jobs"] == 0
        lines = run_probe("count")
        assert lines[1].startswith(f"reusing the local Glue runtime (pid {state['pid']}, ")
        processes = runtime_processes(lake)
        time.sleep(4)
        # Owned: the idle time of 1 s does not apply while its owner lives.
        assert all(p.is_running() for p in processes)
    finally:
        owner.kill()
        owner.wait()
    assert_all_end(processes, timeout=60)
    assert f"(pid {owner.pid}) is gone: stopping" in (lake / "glue-runtime" / "server.log").read_text()


def test_no_background_runtime_when_the_jobs_run_under_spark_submit(datalake_home):
    environ = {**os.environ, glue_etl.RUNTIME_ENV: "submit"}
    assert glue_etl.warm_up_runtime(environ, [].append) is None
    assert glue_runtime.status(datalake_home) is None
