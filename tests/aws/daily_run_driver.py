"""One daily run of the real DAG on the AWS target against moto's server, in a process of its own.

    python tests/aws/daily_run_driver.py SCENARIO RUN_DATE REPORT.json

The test (tests/aws/test_daily_run_on_aws.py) starts it with a fresh AIRFLOW_HOME. Every AWS call of the run
goes over HTTP to moto (sync boto3 from the operators and hooks, aiobotocore from the deferrable triggers,
which ``dag.test()`` runs inline), so botocore serialises each request from its service model and parses each
response with it. CloudFormation, which moto cannot run for our templates, answers through botocore's Stubber,
which checks the requests against the same model. The report lists every call in order, each task's state and
try number, and what the scenario injected.

Scenarios: ``happy`` (the exports arrive while the sensor waits), ``failed_check`` (the gate finds offending
rows), ``failed_job`` (raw-to-processed fails deterministically), ``throttled`` (Glue throttles the first
StartJobRun). Exports that never come are tested on the sensor itself (tests/aws/test_operators.py):
``dag.test()`` runs a trigger in line without the deferral's timeout, so it would wait forever.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SCENARIOS = ("happy", "failed_check", "failed_job", "throttled")
FAILED_JOB_ERROR = (
    "DeterministicJobFailure: raw-to-processed failed for {run_date}: transactions: 7.5 % of the rows "
    "quarantined, above the 5.0 % threshold"
)


class Recorder:
    """Every API call the run makes, in order: service, operation, parameters as the caller gave them."""

    def __init__(self):
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, params, model, **kwargs):
        with self.lock:
            self.calls.append(
                {
                    "service": model.service_model.service_name,
                    "operation": model.name,
                    "params": json.loads(json.dumps(params, default=str)),
                }
            )


def install_recorder() -> Recorder:
    # Before any session exists: every botocore and aiobotocore session copies the built-in handlers.
    import botocore.handlers

    recorder = Recorder()
    botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", recorder))
    return recorder


def start_moto() -> tuple[object, str]:
    import logging

    from moto.moto_api import state_manager
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # A crawl and a job run end at the first look, as a short real one would after a few polls.
    state_manager.set_transition("glue::crawl", {"progression": "immediate"})
    state_manager.set_transition("glue::job_run", {"progression": "immediate"})
    return server, f"http://{host}:{port}"


def queue_check_results(run_date: str, offending: dict[str, int]) -> list[str]:
    """One result set per check query, in the order the gate reads them (moto hands them out in order)."""
    from moto.athena.models import QueryResults, athena_backends
    from moto_account import ACCOUNT, REGION

    from energy_datalake import checks

    backend = athena_backends[ACCOUNT][REGION]
    columns = [
        {"Name": "check_name", "Type": "varchar"},
        {"Name": "table_name", "Type": "varchar"},
        {"Name": "failures", "Type": "bigint"},
    ]
    queries = list(checks.rendered_checks(run_date))
    for query in queries:
        header = {"Data": [{"VarCharValue": c["Name"]} for c in columns]}
        row = {
            "Data": [
                {"VarCharValue": v} for v in (query, "processed.transactions", str(offending.get(query, 0)))
            ]
        }
        backend.query_results_queue.append(QueryResults(rows=[header, row], column_info=columns))
    return queries


def fail_job(job_name: str, message: str) -> None:
    """moto's job runs always succeed: make this job's runs report Glue's FAILED state and error."""
    from moto.glue.models import FakeJobRun

    as_dict = FakeJobRun.as_dict

    def failed(self):
        out = as_dict(self)
        if self.job_name == job_name and out["JobRunState"] in ("RUNNING", "SUCCEEDED"):
            out.update(JobRunState="FAILED", ErrorMessage=message)
        return out

    FakeJobRun.as_dict = failed


def throttle_first_start(job_name: str) -> dict:
    """Glue answers the first StartJobRun of ``job_name`` with ThrottlingException, over HTTP."""
    from moto.core.exceptions import JsonRESTError
    from moto.glue.responses import GlueResponse

    seen = {"attempts": 0}
    start = GlueResponse.start_job_run

    def throttled(self):
        if self._get_param("JobName") == job_name:
            seen["attempts"] += 1
            if seen["attempts"] == 1:
                raise JsonRESTError("ThrottlingException", "Rate exceeded")
        return start(self)

    GlueResponse.start_job_run = throttled
    return seen


def put_markers_once_looked_for(s3, bucket: str, run_date: str, recorder: Recorder) -> threading.Thread:
    """The exports arrive a second after the sensor first looks for them, so that it has to wait."""
    from energy_datalake.pipeline.operators.s3 import success_keys

    def looked_for() -> bool:
        with recorder.lock:
            return any(
                c["operation"] == "HeadObject" and "_SUCCESS" in c["params"]["Key"] for c in recorder.calls
            )

    def put():
        while not looked_for():
            time.sleep(0.1)
        time.sleep(1.0)
        for key in success_keys(bucket, run_date):
            s3.put_object(Bucket=bucket, Key=key.split(f"s3://{bucket}/", 1)[1], Body=b"")

    thread = threading.Thread(target=put, daemon=True)
    thread.start()
    return thread


def count_inline_triggers() -> dict[str, int]:
    """{task id: triggers run}: ``dag.test()`` runs each deferral's trigger in line, through this function."""
    import airflow.sdk.definitions.dag as dag_module

    counts: dict[str, int] = {}
    run_trigger = dag_module._run_inline_trigger

    def counted(trigger, task_sdk_ti):
        counts[task_sdk_ti.task_id] = counts.get(task_sdk_ti.task_id, 0) + 1
        return run_trigger(trigger, task_sdk_ti)

    dag_module._run_inline_trigger = counted
    return counts


def main(argv: list[str]) -> int:
    scenario, run_date, report_path = argv
    if scenario not in SCENARIOS:
        raise SystemExit(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
    recorder = install_recorder()
    server, endpoint = start_moto()
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"region_name": "eu-west-1", "endpoint_url": endpoint}}
    )

    import cloudformation_stub
    import moto_account

    from energy_datalake import templates

    env = templates.load("dev")
    aws = moto_account.clients(endpoint)
    moto_account.provision(env, aws)
    provisioned = len(recorder.calls)

    injected: dict = {"provisioning_calls": provisioned}
    offending = {"keys_unique": 3} if scenario == "failed_check" else {}
    injected["check_queries"] = queue_check_results(run_date, offending)
    if scenario == "failed_job":
        fail_job("raw-to-processed", FAILED_JOB_ERROR.format(run_date=run_date))
    throttle = throttle_first_start("raw-to-processed") if scenario == "throttled" else None
    put_markers_once_looked_for(aws["s3"], env.lake_bucket, run_date, recorder)
    stub = cloudformation_stub.install(env, endpoint)

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags["energy_datalake_daily"]
    for task in dag.tasks:
        # A retry here would be a failure of the scenario: take it at once instead of after minutes.
        task.retry_delay = timedelta(seconds=1)
        task.retry_exponential_backoff = False
    deferred = count_inline_triggers()
    started = time.monotonic()
    run = dag.test(
        logical_date=datetime.fromisoformat(run_date).replace(tzinfo=timezone.utc),  # noqa: UP017
        run_conf={"run_date": run_date},
    )
    tasks = {
        ti.task_id: {"state": str(ti.state), "try_number": ti.try_number} for ti in run.get_task_instances()
    }
    report = {
        "scenario": scenario,
        "run_state": str(run.state),
        "seconds": round(time.monotonic() - started, 1),
        "tasks": tasks,
        "calls": recorder.calls[provisioned:],
        "cloudformation_pending": stub.pending(),
        "deferred": deferred,
        "start_job_run_attempts": throttle["attempts"] if throttle else None,
        "injected": injected,
    }
    Path(report_path).write_text(json.dumps(report, indent=1, default=str))
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
