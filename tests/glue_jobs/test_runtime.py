"""glue_jobs/runtime.py off Glue: the fallback argument parser, the run date, and deterministic failures.

Glue's own parser is exercised in test_entry_scripts_on_glue.py; here ``awsglue`` is made unimportable, so
the fallback is what runs even where the Glue library happens to be installed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from glue_jobs import runtime

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ("raw_to_processed", "processed_to_curated", "curated_to_redshift")


@pytest.fixture(autouse=True)
def without_awsglue(monkeypatch):
    # A None entry in sys.modules makes every ``import awsglue...`` raise ImportError.
    monkeypatch.setitem(sys.modules, "awsglue", None)


def test_the_fallback_reads_required_and_optional_names_and_ignores_the_rest():
    argv = [
        "job.py",
        "--JOB_NAME", "raw-to-processed",
        "--job-bookmark-option", "job-bookmark-disable",
        "--enable-metrics", "true",
        "--run_date=2026-03-29",
        "--raw_path", "/lake/raw",
        "--raw_path", "/lake/raw2",
    ]  # fmt: skip
    resolved = runtime.resolve_options(argv, ["JOB_NAME", "run_date", "raw_path"], {"threshold": "0.05"})
    # A repeated name: the later value wins, as the run's arguments win over the job's defaults.
    assert resolved == {
        "JOB_NAME": "raw-to-processed",
        "run_date": "2026-03-29",
        "raw_path": "/lake/raw2",
        "threshold": "0.05",
    }
    assert runtime.resolve_options([*argv, "--threshold", "0.2"], ["run_date"], {"threshold": "0.05"}) == {
        "run_date": "2026-03-29",
        "threshold": "0.2",
    }


def test_missing_required_names_are_one_deterministic_error_naming_them_all():
    with pytest.raises(runtime.DeterministicJobFailure) as failure:
        runtime.resolve_options(["job.py", "--JOB_NAME", "x"], ["JOB_NAME", "run_date", "raw_path"])
    assert str(failure.value) == "missing required job arguments: --run_date, --raw_path"


@pytest.mark.parametrize("value", ["2026-03-29", "2024-02-29"])
def test_the_run_date_is_a_date(value):
    assert runtime.run_date({"run_date": value}) == dt.date.fromisoformat(value)


@pytest.mark.parametrize("value", ["2026-13-01", "2025-02-29", "20260329", "2026-3-29", "yesterday", ""])
def test_a_bad_run_date_is_a_deterministic_error_naming_it(value):
    with pytest.raises(runtime.DeterministicJobFailure) as failure:
        runtime.run_date({"run_date": value})
    assert str(failure.value) == f"--run_date must be a date YYYY-MM-DD, not {value!r}"


@pytest.mark.parametrize("value", ["abc", "-0.1", "1.5", "nan", ""])
def test_a_share_outside_zero_to_one_is_a_deterministic_error_naming_it(value):
    assert runtime.fraction({"t": "0.25"}, "t") == 0.25
    expected = f"--t must be a number between 0 and 1, not {value!r}"
    with pytest.raises(runtime.DeterministicJobFailure, match=re.escape(expected)):
        runtime.fraction({"t": value}, "t")


def test_off_glue_a_deterministic_failure_is_one_line_and_its_own_exit_code(capsys):
    def main(argv):
        raise runtime.DeterministicJobFailure("transactions: 16.67% quarantined\nclients: 9.00% quarantined")

    with pytest.raises(SystemExit) as exit_:
        runtime.run_script(main, ["job.py", "--JOB_RUN_ID", "jr_1"])
    assert exit_.value.code == runtime.DETERMINISTIC_EXIT_CODE == 3
    captured = capsys.readouterr()
    assert captured.err == (
        "DeterministicJobFailure: transactions: 16.67% quarantined clients: 9.00% quarantined\n"
    )


def test_any_other_failure_stays_a_crash_with_its_traceback():
    def main(argv):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        runtime.run_script(main, ["job.py"])


def test_without_the_glue_library_a_run_id_does_not_mean_glue():
    assert not runtime.on_glue(["job.py", "--JOB_RUN_ID", "jr_1"])


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_with_missing_arguments_prints_one_line_and_exits_3_before_spark(script):
    # The run's own arguments missing, as when a DAG passes none: caught before a session is built.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(REPO / "glue_jobs" / f"{script}.py"), "--JOB_NAME", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == runtime.DETERMINISTIC_EXIT_CODE, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("DeterministicJobFailure: missing required job arguments: --run_date, ")
    assert done.stdout == ""


def test_a_script_with_a_bad_run_date_prints_one_line_naming_it():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = ["--JOB_NAME", "p", "--run_date", "2026-02-30", "--processed_path", "/p", "--curated_path", "/c"]
    done = subprocess.run(
        [sys.executable, str(REPO / "glue_jobs" / "processed_to_curated.py"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (
        runtime.DETERMINISTIC_EXIT_CODE,
        "DeterministicJobFailure: --run_date must be a date YYYY-MM-DD, not '2026-02-30'\n",
    )


def test_curated_to_redshift_needs_a_warehouse_before_it_starts():
    from glue_jobs import curated_to_redshift

    argv = [
        "j.py",
        "--JOB_NAME",
        "c",
        "--run_date",
        "2026-03-29",
        "--curated_path",
        "/c",
        "--processed_path",
        "/p",
    ]
    with pytest.raises(runtime.DeterministicJobFailure, match="give --warehouse_url, or --connection_name"):
        curated_to_redshift.arguments([*argv, "--connection_name", "conn"])
    local = curated_to_redshift.arguments([*argv, "--warehouse_url", "postgresql://w"])
    assert (local.warehouse_url, local.run_id) == ("postgresql://w", "c:2026-03-29")


def test_the_tests_spark_session_runs_with_the_jobs_sql_settings(spark):
    from glue_jobs.runtime import LOCAL_CONF, SPARK_CONF

    assert spark.conf.get("spark.sql.adaptive.enabled") == LOCAL_CONF["spark.sql.adaptive.enabled"] == "true"
    for key, value in SPARK_CONF.items():
        if key.startswith("spark.sql."):
            assert spark.conf.get(key) == value, key
