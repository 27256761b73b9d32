"""Each entry script's ``arguments(argv)`` off Glue, as the local target starts it: the templates' default
arguments and the run's, resolved to a run date, the zones' paths and the defaults, before any Spark.

Glue's own parser is in test_entry_scripts_on_glue.py and the parser's pieces in test_runtime.py; here the
scripts' own resolution, on the arguments ``glue_etl.script_arguments`` builds from the templates.
"""

from __future__ import annotations

import datetime as dt
import re
import sys

import pytest

from energy_datalake import templates
from energy_datalake.emulator import glue_etl
from glue_jobs import curated_to_redshift, processed_to_curated, raw_to_processed, runtime

RUN_DATE = "2026-03-29"
LAKE_BUCKET = "energy-trading-datalake-dev"


@pytest.fixture(autouse=True)
def without_awsglue(monkeypatch):
    # As on the local target: the Glue library is not importable, so the scripts' fallback parser runs.
    monkeypatch.setitem(sys.modules, "awsglue", None)


def job_of(script: str):
    [job] = [j for j in templates.load().jobs.values() if j.script == script]
    return job


def local_argv(script: str, run_arguments: dict[str, str]) -> list[str]:
    """What the local runner starts ``glue_jobs/<script>.py`` with (glue_etl.run_job)."""
    return [f"{script}.py", *glue_etl.script_arguments(job_of(script), run_arguments)]


def test_raw_to_processed_reads_the_local_zones_and_the_templates_threshold(datalake_home):
    # Catches the local run reading s3:// paths (nothing there), another zone, or a threshold that is not
    # the templates' (a run that quarantines 6 % would pass or fail by another rule than on AWS).
    lake = datalake_home / "s3" / LAKE_BUCKET
    args = raw_to_processed.arguments(local_argv("raw_to_processed", {"--run_date": RUN_DATE}))
    assert args.run_date == dt.date(2026, 3, 29)
    assert (args.raw_path, args.processed_path) == (str(lake / "raw"), str(lake / "processed"))
    assert args.quarantine_threshold == float(
        job_of("raw_to_processed").default_arguments["--quarantine_threshold"]
    )
    # No Glue run id locally: the load manifest records none rather than an empty string.
    assert args.job_run_id is None


def test_raw_to_processed_defaults_apply_only_when_the_argument_is_absent():
    # Catches a default that overrides what the run gives (a backfill with a looser threshold ignored), or
    # a missing default (a job without the argument failing).
    base = ["j.py", "--JOB_NAME", "r", "--run_date", RUN_DATE, "--raw_path", "/r", "--processed_path", "/p"]
    assert raw_to_processed.arguments(base).quarantine_threshold == 0.05
    given = raw_to_processed.arguments([*base, "--quarantine_threshold", "0.2", "--JOB_RUN_ID", "jr_9"])
    assert (given.quarantine_threshold, given.job_run_id) == (0.2, "jr_9")


@pytest.mark.parametrize("value", ["5%", "1.5", "-0.01"])
def test_a_bad_quarantine_threshold_is_a_deterministic_error_naming_it(value):
    # Catches a threshold read unchecked: "5%" would crash as a traceback, 1.5 would never fail a run.
    argv = ["j.py", "--JOB_NAME", "r", "--run_date", RUN_DATE, "--raw_path", "/r", "--processed_path", "/p"]
    with pytest.raises(
        runtime.DeterministicJobFailure,
        match=re.escape(f"--quarantine_threshold must be a number between 0 and 1, not {value!r}"),
    ):
        raw_to_processed.arguments([*argv, "--quarantine_threshold", value])


def test_processed_to_curated_reads_processed_and_writes_curated(datalake_home):
    # Catches the two paths swapped or a default path lost: the KPIs would be written into processed.
    lake = datalake_home / "s3" / LAKE_BUCKET
    args = processed_to_curated.arguments(local_argv("processed_to_curated", {"--run_date": RUN_DATE}))
    assert (args.run_date, args.processed_path, args.curated_path) == (
        dt.date(2026, 3, 29),
        str(lake / "processed"),
        str(lake / "curated"),
    )


def test_curated_to_redshift_locally_loads_into_the_warehouse_url_with_a_stable_run_id(datalake_home):
    # Catches the embedded warehouse's URL lost among the templates' Glue connection arguments (no Redshift
    # here), or a run id that changes between reruns of a date (the load audit would count a rerun twice).
    lake = datalake_home / "s3" / LAKE_BUCKET
    run = {"--run_date": RUN_DATE, "--warehouse_url": "postgresql://localhost:5439/energy"}
    args = curated_to_redshift.arguments(local_argv("curated_to_redshift", run))
    assert args.warehouse_url == "postgresql://localhost:5439/energy"
    assert (args.curated_path, args.processed_path) == (str(lake / "curated"), str(lake / "processed"))
    assert args.run_id == f"{job_of('curated_to_redshift').name}:{RUN_DATE}"
    assert curated_to_redshift.arguments(local_argv("curated_to_redshift", run)).run_id == args.run_id


# curated_to_redshift's required arguments but the warehouse's.
CURATED_TO_REDSHIFT_ARGV = (
    "j.py",
    "--JOB_NAME",
    "c",
    "--run_date",
    RUN_DATE,
    "--curated_path",
    "/c",
    "--processed_path",
    "/p",
)


def test_curated_to_redshift_run_id_is_the_given_one_then_glues_then_the_date():
    # Catches the precedence inverted: a named backfill run, or Glue's run id, lost in the load audit.
    argv = list(CURATED_TO_REDSHIFT_ARGV)
    argv += ["--warehouse_url", "postgresql://w"]
    assert curated_to_redshift.arguments([*argv, "--JOB_RUN_ID", "jr_1", "--run_id", "bf-7"]).run_id == "bf-7"
    assert curated_to_redshift.arguments([*argv, "--JOB_RUN_ID", "jr_1"]).run_id == "jr_1"
    assert curated_to_redshift.arguments(argv).run_id == "c:2026-03-29"


@pytest.mark.parametrize("missing", ["--connection_name", "--redshift_tmp_dir", "--database"])
def test_curated_to_redshift_needs_the_whole_glue_connection(missing):
    # Catches a load that starts with part of the Glue connection and fails late, inside Spark, on AWS.
    connection = {
        "--connection_name": "conn",
        "--redshift_tmp_dir": "s3://t/redshift/",
        "--database": "energy",
    }
    argv = list(CURATED_TO_REDSHIFT_ARGV)
    whole = curated_to_redshift.arguments([*argv, *(x for pair in connection.items() for x in pair)])
    assert (whole.connection_name, whole.redshift_tmp_dir, whole.database, whole.warehouse_url) == (
        "conn",
        "s3://t/redshift/",
        "energy",
        "",
    )
    partial = [x for name, value in connection.items() if name != missing for x in (name, value)]
    with pytest.raises(runtime.DeterministicJobFailure, match="give --warehouse_url, or --connection_name"):
        curated_to_redshift.arguments([*argv, *partial])


@pytest.mark.parametrize(
    ("module", "script"),
    [
        (raw_to_processed, "raw_to_processed"),
        (processed_to_curated, "processed_to_curated"),
        (curated_to_redshift, "curated_to_redshift"),
    ],
)
def test_the_templates_give_every_job_all_it_requires_but_the_run_date(module, script):
    # Catches a template that drops a path the script requires (the job would fail on every run, on AWS
    # first): only --run_date is left to the DAG.
    given = {"JOB_NAME", *(name.removeprefix("--") for name in job_of(script).default_arguments)}
    assert set(module.REQUIRED) - given == {"run_date"}


@pytest.mark.parametrize("value", ["2026-03-29T00:00:00", "{{ params.run_date or ds }}", "None"])
def test_a_run_date_the_dag_did_not_render_to_a_date_is_refused_before_spark(value, datalake_home):
    # Catches a job that would run on an unrendered template, a timestamp or "None" (what Airflow passes when
    # rendering went wrong), writing a partition named after it.
    with pytest.raises(
        runtime.DeterministicJobFailure,
        match=re.escape(f"--run_date must be a date YYYY-MM-DD, not {value!r}"),
    ):
        processed_to_curated.arguments(local_argv("processed_to_curated", {"--run_date": value}))
