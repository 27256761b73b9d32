"""Glue scripts started the way Glue starts them: the template's default arguments, then the run's; under
spark-submit here, on the warm local Glue runtime in test_glue_runtime.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from energy_datalake import config
from energy_datalake.emulator import glue_etl
from glue_jobs.runtime import DETERMINISTIC_EXIT_CODE


def _arguments(command: list[str]) -> dict[str, str]:
    script_at = next(i for i, part in enumerate(command) if part.endswith(".py"))
    pairs = command[script_at + 1 :]
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def test_command_is_spark_submit_with_the_templates_defaults_and_the_runs_arguments(datalake_home):
    job = glue_etl.find_job("raw-to-processed")
    command = glue_etl.job_command(job, {"--run_date": "2026-03-29", "--quarantine_threshold": "0.5"})

    assert command[0].endswith("/pyspark/bin/spark-submit")
    assert command[command.index("--master") + 1].startswith("local[")
    assert str(config.GLUE_JOBS_DIR / "raw_to_processed.py") in command
    assert f"spark.driver.extraJavaOptions={glue_etl.DRIVER_JAVA_OPTIONS}" in command
    arguments = _arguments(command)
    assert arguments["--JOB_NAME"] == job.name == "raw-to-processed"
    assert arguments["--run_date"] == "2026-03-29"
    # The run's arguments win over the template's defaults, as on Glue.
    assert arguments["--quarantine_threshold"] == "0.5"
    assert arguments["--raw_path"] == str(datalake_home / "s3" / "energy-trading-datalake-dev" / "raw")
    assert not any(value.startswith("s3://") for value in arguments.values())
    # Glue's own arguments travel too (the scripts ignore them); never --JOB_RUN_ID, which means "on Glue".
    assert "--job-bookmark-option" in arguments
    assert "--JOB_RUN_ID" not in arguments


def test_every_step_runs_a_job_of_the_templates_found_by_its_name_and_its_script_exists():
    from energy_datalake import templates
    from energy_datalake.pipeline import JOB_SCRIPTS

    declared = templates.load()
    for step, script in JOB_SCRIPTS.items():
        job = declared.job_running(script)
        assert job is not None and job.script == script, step
        assert glue_etl.find_job(job.name) == job
        assert (config.GLUE_JOBS_DIR / f"{job.script}.py").is_file()
    with pytest.raises(LookupError, match="no Glue job 'no-such-job' in the templates"):
        glue_etl.find_job("no-such-job")


def test_output_streams_line_by_line_and_a_failure_carries_the_last_lines(datalake_home):
    lines: list[str] = []
    script = "import sys\nfor i in range(100): print('line', i)\nsys.exit(1)"
    with pytest.raises(glue_etl.GlueJobFailed, match="exited with code 1") as failure:
        glue_etl.stream([sys.executable, "-c", script], "job x", lines.append)
    assert lines == [f"line {i}" for i in range(100)]
    message = str(failure.value)
    assert "line 99" in message and "line 50" not in message
    # A crash may pass on a retry.
    assert not isinstance(failure.value, glue_etl.GlueJobDeterministicFailure)


def test_a_deterministic_failure_of_the_script_is_its_own_error_leading_with_the_reason(datalake_home):
    # What glue_jobs.runtime.run_script does off Glue with a DeterministicJobFailure.
    script = (
        "import sys\nprint('transactions: 6 rows read')\n"
        "print('DeterministicJobFailure: raw-to-processed failed for 2026-03-29: too many', file=sys.stderr)\n"
        f"sys.exit({DETERMINISTIC_EXIT_CODE})"
    )
    with pytest.raises(glue_etl.GlueJobDeterministicFailure) as failure:
        glue_etl.stream([sys.executable, "-c", script], "glue job raw-to-processed", [].append)
    assert isinstance(failure.value, glue_etl.GlueJobFailed)
    first_line = str(failure.value).splitlines()[0]
    assert first_line.startswith("glue job raw-to-processed failed in a way no retry can fix (exit code 3): ")
    assert "DeterministicJobFailure: raw-to-processed failed for 2026-03-29: too many" in first_line
    assert "transactions: 6 rows read" in str(failure.value)


def test_a_script_imports_the_glue_jobs_package_it_sits_in(datalake_home, tmp_path, monkeypatch):
    # As --extra-py-files does on Glue: the package beside the scripts, not whichever one is installed.
    copy = tmp_path / "checkout" / "glue_jobs"
    copy.mkdir(parents=True)
    shutil.copy(config.GLUE_JOBS_DIR / "__init__.py", copy / "__init__.py")
    monkeypatch.setattr(config, "GLUE_JOBS_DIR", copy)
    done = subprocess.run(
        [sys.executable, "-c", "import glue_jobs; print(glue_jobs.__file__)"],
        env=glue_etl.job_environment(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == str(copy / "__init__.py")


def test_the_runtime_is_warm_unless_submit_is_asked_for_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.delenv(glue_etl.RUNTIME_ENV, raising=False)
    assert glue_etl.runtime_kind() == "warm"
    monkeypatch.setenv(glue_etl.RUNTIME_ENV, "submit")
    assert glue_etl.runtime_kind() == "submit"
    monkeypatch.setenv(glue_etl.RUNTIME_ENV, "lukewarm")
    with pytest.raises(ValueError, match="DATALAKE_GLUE_RUNTIME must be one of warm, submit, not 'lukewarm'"):
        glue_etl.run_job("raw-to-processed", {"--run_date": "2026-03-29"})


def test_the_warm_runtime_gets_what_spark_submit_gets(datalake_home):
    job = glue_etl.find_job("raw-to-processed")
    command = glue_etl.job_command(job, {"--run_date": "2026-03-29"})
    script_at = command.index(str(glue_etl.script_path(job)))
    # The same script and arguments; the JVM options of spark-submit's driver, and the huge-method one.
    assert command[script_at + 1 :] == glue_etl.script_arguments(job, {"--run_date": "2026-03-29"})
    settings = glue_etl.runtime_settings()
    assert settings.java_options.startswith(glue_etl.DRIVER_JAVA_OPTIONS)
    assert "-XX:-DontCompileHugeMethods" in settings.java_options
    assert settings.environment == glue_etl.job_environment()
    assert (settings.home, settings.code_dir) == (datalake_home, config.GLUE_JOBS_DIR)


def test_driver_memory_fits_the_machine(monkeypatch):
    monkeypatch.delenv("DATALAKE_SPARK_DRIVER_MEMORY", raising=False)
    megabytes = int(glue_etl.driver_memory().removesuffix("m"))
    assert 1024 <= megabytes <= 2048
    monkeypatch.setenv("DATALAKE_SPARK_DRIVER_MEMORY", "1g")
    assert glue_etl.driver_memory() == "1g"


@pytest.mark.slow
def test_a_glue_script_runs_under_spark_submit(datalake_home, tmp_path, monkeypatch):
    # A stand-in for glue_jobs/raw_to_processed.py that reads its arguments and starts its session like the
    # real scripts (glue_jobs.runtime, copied beside it as the package it imports): proves the runner's
    # command and environment, not the job's logic.
    scripts = tmp_path / "glue_jobs"
    scripts.mkdir()
    for module in ("__init__.py", "runtime.py"):
        shutil.copy(config.GLUE_JOBS_DIR / module, scripts / module)
    (scripts / "raw_to_processed.py").write_text(
        textwrap.dedent(
            """
            import sys

            from glue_jobs.runtime import resolve_options, start_job

            args = resolve_options(sys.argv, ["JOB_NAME", "run_date", "raw_path"])
            job = start_job(args, "probe")
            print("job", args["JOB_NAME"], "date", args["run_date"], "raw", args["raw_path"])
            print("count", job.spark.range(3).count(), "master", job.spark.sparkContext.master)
            job.stop()
            """
        )
    )
    monkeypatch.setattr(config, "GLUE_JOBS_DIR", scripts)
    monkeypatch.setenv(glue_etl.RUNTIME_ENV, "submit")
    monkeypatch.setenv("DATALAKE_SPARK_MASTER", "local[1]")
    monkeypatch.setenv("DATALAKE_SPARK_DRIVER_MEMORY", "1g")
    lines: list[str] = []
    glue_etl.run_job("raw-to-processed", {"--run_date": "2026-03-29"}, echo=lines.append)
    raw = datalake_home / "s3" / "energy-trading-datalake-dev" / "raw"
    assert f"job raw-to-processed date 2026-03-29 raw {raw}" in lines
    assert "count 3 master local[1]" in lines
    # Spark's INFO chatter stays out of the task log.
    assert not any(" INFO " in line for line in lines)
