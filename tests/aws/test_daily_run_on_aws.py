"""The daily DAG on the AWS target, end to end through real Airflow, against botocore's models.

One process (tests/aws/daily_run_driver.py), started once for the module with a fresh Airflow database, runs
each scenario's ``dag.test()`` in turn, each on a freshly reset and provisioned moto account with its own
injections, and writes one report per scenario; every AWS request goes over HTTP to moto's server,
CloudFormation through botocore's Stubber.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from energy_datalake import config
from energy_datalake.pipeline import STEPS

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("daily_run_driver.py")
# What the driver runs (it refuses a name it does not know).
SCENARIOS = ("happy", "failed_check", "failed_job", "throttled")
RUN_DATE = "2026-03-29"


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=_airflow_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return home / "airflow.db"


def _airflow_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "DATALAKE_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(config.DAGS_DIR),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "DATALAKE_TARGET": "aws",
            "DATALAKE_ENV": "dev",
            "DATALAKE_HOME": str(home / "datalake"),
            "DATALAKE_EXPORT_POKE_SECONDS": "1",
            "DATALAKE_EXPORT_TIMEOUT_SECONDS": "6",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    return env


@pytest.fixture(scope="module")
def daily_runs(migrated_database, tmp_path_factory) -> dict:
    """Every scenario's daily run, one after the other in one driver process: {"reports": dir, ...}."""
    work = tmp_path_factory.mktemp("daily-runs")
    home = work / "airflow"
    home.mkdir()
    shutil.copy(migrated_database, home / "airflow.db")
    reports = work / "reports"
    try:
        result = subprocess.run(
            [sys.executable, str(DRIVER), RUN_DATE, str(reports), *SCENARIOS],
            env=_airflow_env(home),
            capture_output=True,
            text=True,
            timeout=1200,
            cwd=work,
        )
    except subprocess.TimeoutExpired as hung:
        # The scenarios that finished keep their reports; the one that hung and those after it have none.
        output = "".join(
            o.decode(errors="replace") if isinstance(o, bytes) else o for o in (hung.stdout, hung.stderr) if o
        )
        return {
            "reports": reports,
            "returncode": None,
            "output": f"{output}\ntimed out after {hung.timeout} s",
        }
    return {"reports": reports, "returncode": result.returncode, "output": result.stdout + result.stderr}


def run_scenario(scenario: str, daily_runs: dict) -> dict:
    report_path = daily_runs["reports"] / f"{scenario}.json"
    driver = f"driver exit code {daily_runs['returncode']}:\n{daily_runs['output'][-5000:]}"
    assert report_path.exists(), driver
    report = json.loads(report_path.read_text())
    # A scenario that raised fails its own test with its traceback; the other scenarios still ran.
    assert "error" not in report, f"{report.get('error')}\n{report['output'][-5000:]}"
    # Catches a driver that hides a broken scenario behind exit code 0, or fails after writing every report.
    reports = {p.stem: json.loads(p.read_text()) for p in daily_runs["reports"].glob("*.json")}
    unfinished = (set(SCENARIOS) - reports.keys()) | {s for s, r in reports.items() if "error" in r}
    assert (daily_runs["returncode"] != 0) == bool(unfinished), driver
    return report


def calls(report: dict, service: str, operation: str) -> list[dict]:
    return [c for c in report["calls"] if (c["service"], c["operation"]) == (service, operation)]


def position(report: dict, predicate) -> list[int]:
    return [i for i, c in enumerate(report["calls"]) if predicate(c)]


def states(report: dict) -> dict[str, str]:
    return {task: info["state"] for task, info in report["tasks"].items()}


def test_a_first_daily_run_deploys_waits_crawls_runs_the_jobs_checks_and_loads(daily_runs):
    report = run_scenario("happy", daily_runs)

    assert report["run_state"] == "success", report["output"][-5000:]
    assert states(report) == dict.fromkeys(STEPS, "success")
    assert all(info["try_number"] == 1 for info in report["tasks"].values())
    assert report["cloudformation_pending"] == 0

    from energy_datalake import templates

    env = templates.load("dev")
    stack_names = [s.name for s in env.stacks]
    change_sets = calls(report, "cloudformation", "CreateChangeSet")
    assert [c["params"]["StackName"] for c in change_sets] == stack_names
    assert {c["params"]["RoleARN"] for c in change_sets} == {env.parameters["DeployRoleArn"]}

    # The Glue code: uploaded once, after the stack that creates its bucket, before the jobs' stack.
    uploads = position(
        report,
        lambda c: c["operation"] == "PutObject" and c["params"]["Bucket"] == env.buckets["glue_scripts"],
    )
    assert len(uploads) == 4
    storage, etl = (
        position(
            report,
            lambda c, n=n: c["operation"] == "CreateChangeSet" and c["params"]["StackName"].endswith(n),
        )[0]
        for n in ("-storage", "-etl")
    )
    assert storage < min(uploads) and max(uploads) < etl
    (etl_change_set,) = [c for c in change_sets if c["params"]["StackName"].endswith("-etl")]
    version = {p["ParameterKey"]: p["ParameterValue"] for p in etl_change_set["params"]["Parameters"]}[
        "GlueCodeVersion"
    ]
    assert {c["params"]["Key"] for c in (report["calls"][i] for i in uploads)} == {
        f"glue_jobs/{version}/{name}"
        for name in (
            "raw_to_processed.py",
            "processed_to_curated.py",
            "curated_to_redshift.py",
            "glue_jobs.zip",
        )
    }

    # Then: the sensor's keys, the raw crawler, the three jobs with the run date, the gate, the load.
    last_deploy = position(report, lambda c: c["service"] == "cloudformation")[-1]
    looks = position(report, lambda c: c["operation"] == "HeadObject" and "_SUCCESS" in c["params"]["Key"])
    markers = position(report, lambda c: c["operation"] == "PutObject" and "_SUCCESS" in c["params"]["Key"])
    crawls = [
        (i, report["calls"][i]["params"]["Name"])
        for i in position(report, lambda c: c["operation"] == "StartCrawler")
    ]
    runs = [
        (i, report["calls"][i]["params"]) for i in position(report, lambda c: c["operation"] == "StartJobRun")
    ]
    queries = [
        (i, report["calls"][i]["params"])
        for i in position(report, lambda c: c["operation"] == "StartQueryExecution")
    ]
    assert looks and last_deploy < looks[0] < markers[0]
    assert [name for _, name in crawls] == [
        "raw-data-crawler",
        "processed-data-crawler",
        "curated-data-crawler",
    ]
    assert [p["JobName"] for _, p in runs] == [
        "raw-to-processed",
        "processed-to-curated",
        "curated-to-redshift",
    ]
    assert all(p["Arguments"]["--run_date"] == RUN_DATE for _, p in runs)
    assert {p["WorkGroup"] for _, p in queries} == {"quality-gate"} and len(queries) == 7
    order = [
        markers[-1],
        crawls[0][0],
        runs[0][0],
        runs[1][0],
        crawls[1][0],
        crawls[2][0],
        queries[0][0],
        runs[2][0],
    ]
    assert order == sorted(order)
    assert max(i for i, _ in queries) < runs[2][0]
    # The sensor found no marker at first and waited in the provider's deferrable trigger (aiobotocore).
    assert report["deferred"]["wait_for_exports"] >= 1


def test_a_failed_check_stops_the_run_before_the_load(daily_runs):
    report = run_scenario("failed_check", daily_runs)

    assert report["run_state"] == "failed"
    assert states(report)["athena_checks"] == "failed"
    assert report["tasks"]["athena_checks"]["try_number"] == 1
    assert states(report)["load_redshift"] == "upstream_failed"
    assert "curated-to-redshift" not in [c["params"]["JobName"] for c in calls(report, "glue", "StartJobRun")]
    assert "keys_unique on processed.transactions: 3 offending" in report["output"]


def test_a_deterministic_glue_failure_names_the_job_and_its_error_and_is_not_retried(daily_runs):
    report = run_scenario("failed_job", daily_runs)

    assert states(report)["raw_to_processed"] == "failed"
    assert report["tasks"]["raw_to_processed"]["try_number"] == 1
    assert [c["params"]["JobName"] for c in calls(report, "glue", "StartJobRun")] == ["raw-to-processed"]
    assert "Glue job raw-to-processed run jr_" in report["output"]
    assert "above the 5.0 % threshold" in report["output"]


def test_a_throttled_glue_call_is_retried_by_botocore_and_the_run_succeeds(daily_runs):
    report = run_scenario("throttled", daily_runs)

    assert report["run_state"] == "success", report["output"][-5000:]
    assert report["start_job_run_attempts"] == 2
    assert report["tasks"]["raw_to_processed"]["try_number"] == 1
