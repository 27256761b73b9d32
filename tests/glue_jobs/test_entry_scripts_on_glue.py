"""The three entry scripts read their arguments with Glue's own parser, given the argument list Glue passes.

``awsglue`` (AWSGlueDataplanePython, installed by ``make setup`` outside site-packages) comes from
``$AWSGLUE_LIB``. It imports py4j, and the fallback parser must stay testable without it, so each case runs
in a subprocess of the venv's Python with the library on its PYTHONPATH. No Spark starts: the scripts'
``arguments(argv)`` stops before ``start_job``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energy_datalake import templates

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ("raw_to_processed", "processed_to_curated", "curated_to_redshift")
RUN_DATE = "2026-03-29"
JOB_RUN_ID = "jr_4b1f0c2e9d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1"
JOB_ID = "j_9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7"

PROBE = r"""
import dataclasses, importlib, json, sys

import awsglue.utils

from glue_jobs import runtime

request = json.load(sys.stdin)
try:
    if "script" in request:
        module = importlib.import_module("glue_jobs." + request["script"])
        result = {"arguments": dataclasses.asdict(module.arguments(request["argv"]))}
    else:
        result = {"options": runtime.resolve_options(request["argv"], request["required"], request["optional"])}
except runtime.DeterministicJobFailure as failure:
    result = {"failure": str(failure)}
result["awsglue"] = awsglue.utils.__file__
result["reserved"] = sorted(runtime.glue_reserved_names())
json.dump(result, sys.stdout, default=str)
"""


@pytest.fixture(scope="module")
def glue_env():
    lib = Path(os.environ.get("AWSGLUE_LIB", REPO / ".venv" / "awsglue-dataplane"))
    if not (lib / "awsglue" / "utils.py").is_file():
        pytest.fail(f"Glue's Python library (awsglue) is not in {lib}: run make setup")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(lib), str(REPO)])}, lib


def job_of(script: str):
    jobs = templates.load("dev").jobs
    [name] = [n for n, job in jobs.items() if job.script_location.endswith(f"/{script}.py")]
    return jobs[name]


def glue_argv(script: str, run_arguments: dict[str, str]) -> list[str]:
    """What Glue puts in sys.argv: its own options, the job's DefaultArguments, then the run's arguments."""
    job = job_of(script)
    glue_own = [
        ("--JOB_ID", JOB_ID),
        ("--JOB_RUN_ID", JOB_RUN_ID),
        ("--JOB_NAME", job.name),
        ("--job-bookmark-option", "job-bookmark-disable"),
        ("--TempDir", "s3://aws-glue-assets-123456789012-eu-west-1/temporary/"),
        ("--enable-metrics", "true"),
        ("--enable-continuous-cloudwatch-log", "true"),
        ("--extra-py-files", job.default_arguments["--extra-py-files"]),
    ]
    argv = [f"/tmp/{script}.py"]
    for name, value in [*glue_own, *job.default_arguments.items(), *run_arguments.items()]:
        argv += [name, value]
    return argv


def probe(glue_env, request: dict) -> dict:
    env, lib = glue_env
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps(request),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    # The real parser answered, not the fallback.
    assert Path(result["awsglue"]).is_relative_to(lib)
    return result


def resolve(glue_env, script: str, run_arguments: dict[str, str]) -> dict:
    return probe(glue_env, {"script": script, "argv": glue_argv(script, run_arguments)})


def test_raw_to_processed_resolves_and_records_glues_run_id(glue_env):
    defaults = job_of("raw_to_processed").default_arguments
    args = resolve(glue_env, "raw_to_processed", {"--run_date": RUN_DATE})["arguments"]
    assert {k: v for k, v in args.items() if k != "options"} == {
        "run_date": RUN_DATE,
        "raw_path": defaults["--raw_path"],
        "processed_path": defaults["--processed_path"],
        "quarantine_threshold": float(defaults["--quarantine_threshold"]),
        # What process_run_date writes into the load manifest's job_run_id.
        "job_run_id": JOB_RUN_ID,
    }
    # Job.init gets Glue's own options too, as Glue returns them.
    options = args["options"]
    assert (options["JOB_NAME"], options["JOB_ID"], options["JOB_RUN_ID"]) == (
        "raw-to-processed",
        JOB_ID,
        JOB_RUN_ID,
    )
    assert options["TempDir"] == defaults["--TempDir"]
    assert options["job_bookmark_option"] == "job-bookmark-disable"


def test_processed_to_curated_resolves(glue_env):
    defaults = job_of("processed_to_curated").default_arguments
    args = resolve(glue_env, "processed_to_curated", {"--run_date": RUN_DATE})["arguments"]
    assert (args["run_date"], args["processed_path"], args["curated_path"]) == (
        RUN_DATE,
        defaults["--processed_path"],
        defaults["--curated_path"],
    )
    assert args["options"]["JOB_RUN_ID"] == JOB_RUN_ID


def test_curated_to_redshift_resolves_the_glue_connection_and_takes_glues_run_id(glue_env):
    defaults = job_of("curated_to_redshift").default_arguments
    args = resolve(glue_env, "curated_to_redshift", {"--run_date": RUN_DATE})["arguments"]
    assert {k: v for k, v in args.items() if k != "options"} == {
        "run_date": RUN_DATE,
        "curated_path": defaults["--curated_path"],
        "processed_path": defaults["--processed_path"],
        "run_id": JOB_RUN_ID,
        "warehouse_url": "",
        "connection_name": defaults["--connection_name"],
        "redshift_tmp_dir": defaults["--redshift_tmp_dir"],
        "database": defaults["--database"],
    }


def test_optional_arguments_of_the_run_win(glue_env):
    raw = resolve(glue_env, "raw_to_processed", {"--run_date": RUN_DATE, "--quarantine_threshold": "0.2"})
    assert raw["arguments"]["quarantine_threshold"] == 0.2
    load = resolve(glue_env, "curated_to_redshift", {"--run_date": RUN_DATE, "--run_id": "backfill-7"})
    assert load["arguments"]["run_id"] == "backfill-7"


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_missing_run_date_is_a_deterministic_error_naming_it(glue_env, script):
    result = resolve(glue_env, script, {})
    assert result == {**result, "failure": "missing required job arguments: --run_date"}


def test_a_value_glues_parser_refuses_is_a_deterministic_error(glue_env):
    result = resolve(
        glue_env, "processed_to_curated", {"--run_date": RUN_DATE, "--job-bookmark-option": "on"}
    )
    assert result["failure"].startswith(
        "bad job arguments: argument --job-bookmark-option: invalid choice: 'on'"
    )


def test_every_name_glue_registers_can_be_declared_and_comes_back(glue_env):
    # getResolvedOptions registers these itself: asking it for one is argparse's "conflicting option string".
    # Declared by a script anyway (required or optional), they are never asked for, and come back when given.
    argv = ["x", "--JOB_NAME", "j", "--JOB_ID", JOB_ID, "--JOB_RUN_ID", JOB_RUN_ID]
    argv += [
        "--SECURITY_CONFIGURATION",
        "sc",
        "--TempDir",
        "s3://t/",
        "--job-bookmark-option",
        "job-bookmark-pause",
    ]
    argv += ["--job-bookmark-from", "f", "--job-bookmark-to", "t"]
    result = probe(
        glue_env,
        {
            "argv": argv,
            "required": ["JOB_NAME", "JOB_RUN_ID", "TempDir"],
            "optional": {"JOB_ID": "", "SECURITY_CONFIGURATION": "", "job-bookmark-option": "", "x": "1"},
        },
    )
    assert {"JOB_ID", "JOB_RUN_ID", "SECURITY_CONFIGURATION", "TempDir", "job-bookmark-option"} <= set(
        result["reserved"]
    )
    options = result["options"]
    assert (options["JOB_RUN_ID"], options["JOB_ID"], options["SECURITY_CONFIGURATION"]) == (
        JOB_RUN_ID,
        JOB_ID,
        "sc",
    )
    assert (options["TempDir"], options["job-bookmark-option"], options["x"]) == (
        "s3://t/",
        "job-bookmark-pause",
        "1",
    )

    # All of them declared, none given: no conflict, and the optional ones keep their defaults.
    everything = dict.fromkeys(result["reserved"], "default")
    options = probe(
        glue_env, {"argv": ["x", "--JOB_NAME", "j"], "required": ["JOB_NAME"], "optional": everything}
    )["options"]
    assert options["JOB_RUN_ID"] == options["SECURITY_CONFIGURATION"] == "default"
    assert options["job_bookmark_option"] == "job-bookmark-disable"  # Glue's own default, under its own name


def test_on_glue_a_deterministic_failure_propagates_for_the_job_runs_error_message(glue_env):
    # Run as Glue runs it: the script file with Glue's arguments. It fails on the arguments, before Spark.
    env, _ = glue_env
    argv = glue_argv("raw_to_processed", {})[1:]
    done = subprocess.run(
        [sys.executable, str(REPO / "glue_jobs" / "raw_to_processed.py"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "glue_jobs.runtime.DeterministicJobFailure: missing required job arguments: --run_date"
    )
