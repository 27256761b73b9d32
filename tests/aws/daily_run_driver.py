"""The daily runs of the real DAG on the AWS target against moto's server, one scenario after another.

    python tests/aws/daily_run_driver.py RUN_DATE REPORT_DIR [SCENARIO ...]

The test (tests/aws/test_daily_run_on_aws.py) starts it once, with a fresh AIRFLOW_HOME, for every scenario:
one process pays once for the imports, moto's server, the DagBag and Airflow's in-process execution API.
Every AWS call of a run goes over HTTP to moto (sync boto3 from the operators and hooks, aiobotocore from the
deferrable triggers, which ``dag.test()`` runs inline), so botocore serialises each request from its service
model and parses each response with it. CloudFormation, which moto cannot run for our templates, answers
through botocore's Stubber, which checks the requests against the same model.

Each scenario starts from a fresh account: moto's state is reset and provisioned again, the scenario's own
injections are undone when it ends, the Stubber is primed anew, and ``dag.test()`` replaces the previous
scenario's DagRun of the same logical date with a new one. ``REPORT_DIR/SCENARIO.json`` lists every call of
the run in order, each task's state and try number, what the scenario injected, and the scenario's own
stdout and stderr (fd 1 and 2 point to a file of its own while it runs, whatever holds them); a scenario that
raises has its traceback there under ``error``, the others still run, and the exit code is 1.

Scenarios: ``happy`` (the exports arrive while the sensor waits), ``failed_check`` (the gate finds offending
rows), ``failed_job`` (raw-to-processed fails deterministically), ``throttled`` (Glue throttles the first
StartJobRun). Exports that never come are tested on the sensor itself (tests/aws/test_operators.py):
``dag.test()`` runs a trigger in line without the deferral's timeout, so it would wait forever.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import traceback
import urllib.request
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

    def restart(self) -> None:
        """A new scenario: its calls only, from here on."""
        with self.lock:
            self.calls = []

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

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def fresh_account(endpoint: str) -> None:
    """moto as a new account: every backend emptied (buckets, Glue, Athena's queued results)."""
    from moto.moto_api import state_manager

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    # A crawl and a job run end at the first look, as a short real one would after a few polls.
    state_manager.set_transition("glue::crawl", {"progression": "immediate"})
    state_manager.set_transition("glue::job_run", {"progression": "immediate"})


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


@contextlib.contextmanager
def fail_job(job_name: str, message: str):
    """moto's job runs always succeed: make this job's runs report Glue's FAILED state and error."""
    from moto.glue.models import FakeJobRun

    as_dict = FakeJobRun.as_dict

    def failed(self):
        out = as_dict(self)
        if self.job_name == job_name and out["JobRunState"] in ("RUNNING", "SUCCEEDED"):
            out.update(JobRunState="FAILED", ErrorMessage=message)
        return out

    FakeJobRun.as_dict = failed
    try:
        yield
    finally:
        FakeJobRun.as_dict = as_dict


@contextlib.contextmanager
def throttle_first_start(job_name: str):
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
    try:
        yield seen
    finally:
        GlueResponse.start_job_run = start


@contextlib.contextmanager
def put_markers_once_looked_for(s3, bucket: str, run_date: str, recorder: Recorder):
    """The exports arrive a second after the sensor first looks for them, so that it has to wait."""
    from energy_datalake.pipeline.operators.s3 import success_keys

    done = threading.Event()  # the scenario is over: a late put would land in the next one's account

    def looked_for() -> bool:
        with recorder.lock:
            return any(
                c["operation"] == "HeadObject" and "_SUCCESS" in c["params"]["Key"] for c in recorder.calls
            )

    def put():
        while not looked_for():
            if done.wait(0.1):
                return
        if done.wait(1.0):
            return
        for key in success_keys(bucket, run_date):
            s3.put_object(Bucket=bucket, Key=key.split(f"s3://{bucket}/", 1)[1], Body=b"")

    thread = threading.Thread(target=put, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        done.set()
        thread.join(timeout=30)


@contextlib.contextmanager
def stubbed_cloudformation(env, endpoint: str):
    """A Stubber primed with this scenario's first deploy; the hook's own get_conn back afterwards."""
    import cloudformation_stub
    from airflow.providers.amazon.aws.hooks.cloud_formation import CloudFormationHook

    own = CloudFormationHook.__dict__.get("get_conn")  # None: inherited from AwsGenericHook
    stub = cloudformation_stub.install(env, endpoint)
    try:
        yield stub
    finally:
        stub.stubber.deactivate()
        if own is None:
            del CloudFormationHook.get_conn
        else:
            CloudFormationHook.get_conn = own


@contextlib.contextmanager
def count_inline_triggers():
    """{task id: triggers run}: ``dag.test()`` runs each deferral's trigger in line, through this function."""
    import airflow.sdk.definitions.dag as dag_module

    counts: dict[str, int] = {}
    run_trigger = dag_module._run_inline_trigger

    def counted(trigger, task_sdk_ti):
        counts[task_sdk_ti.task_id] = counts.get(task_sdk_ti.task_id, 0) + 1
        return run_trigger(trigger, task_sdk_ti)

    dag_module._run_inline_trigger = counted
    try:
        yield counts
    finally:
        dag_module._run_inline_trigger = run_trigger


@contextlib.contextmanager
def output_to(path: Path):
    """fd 1 and 2 into ``path``: catches the task logs and prints whatever stream object writes them."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("wb") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags["energy_datalake_daily"]
    for task in dag.tasks:
        # A retry here would be a failure of the scenario: take it at once instead of after minutes.
        task.retry_delay = timedelta(seconds=1)
        task.retry_exponential_backoff = False
    return dag


def run_scenario(
    scenario: str, run_date: str, dag, env, aws: dict, endpoint: str, recorder: Recorder
) -> dict:
    import moto_account

    with contextlib.ExitStack() as scenario_only:
        fresh_account(endpoint)
        recorder.restart()
        moto_account.provision(env, aws)
        provisioned = len(recorder.calls)

        injected: dict = {"provisioning_calls": provisioned}
        offending = {"keys_unique": 3} if scenario == "failed_check" else {}
        injected["check_queries"] = queue_check_results(run_date, offending)
        if scenario == "failed_job":
            scenario_only.enter_context(
                fail_job("raw-to-processed", FAILED_JOB_ERROR.format(run_date=run_date))
            )
        throttle = (
            scenario_only.enter_context(throttle_first_start("raw-to-processed"))
            if scenario == "throttled"
            else None
        )
        scenario_only.enter_context(
            put_markers_once_looked_for(aws["s3"], env.lake_bucket, run_date, recorder)
        )
        stub = scenario_only.enter_context(stubbed_cloudformation(env, endpoint))
        deferred = scenario_only.enter_context(count_inline_triggers())
        started = time.monotonic()
        # The same logical date every time: dag.test() deletes the previous scenario's run and makes a new one.
        run = dag.test(
            logical_date=datetime.fromisoformat(run_date).replace(tzinfo=timezone.utc),  # noqa: UP017
            run_conf={"run_date": run_date},
        )
        tasks = {
            ti.task_id: {"state": str(ti.state), "try_number": ti.try_number}
            for ti in run.get_task_instances()
        }
        return {
            "scenario": scenario,
            "run_id": run.run_id,
            "run_state": str(run.state),
            "seconds": round(time.monotonic() - started, 1),
            "tasks": tasks,
            "calls": list(recorder.calls[provisioned:]),
            "cloudformation_pending": stub.pending(),
            "deferred": dict(deferred),
            "start_job_run_attempts": throttle["attempts"] if throttle else None,
            "injected": injected,
        }


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        raise SystemExit("usage: daily_run_driver.py RUN_DATE REPORT_DIR [SCENARIO ...]")
    run_date, report_dir, *scenarios = argv
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario {unknown[0]!r}: one of {', '.join(SCENARIOS)}")
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    recorder = install_recorder()
    server, endpoint = start_moto()
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"region_name": "eu-west-1", "endpoint_url": endpoint}}
    )

    import moto_account

    from energy_datalake import templates

    broken = []
    try:
        env = templates.load("dev")
        aws = moto_account.clients(endpoint)
        dag = load_dag()
        for scenario in scenarios or SCENARIOS:
            log = report_dir / f"{scenario}.log"
            with output_to(log):
                try:
                    report = run_scenario(scenario, run_date, dag, env, aws, endpoint, recorder)
                except Exception:
                    # This scenario's test fails with it; the next scenarios still run, on a fresh account.
                    traceback.print_exc()
                    report = {"scenario": scenario, "error": traceback.format_exc()}
                    broken.append(scenario)
            report["output"] = log.read_text(errors="replace")
            (report_dir / f"{scenario}.json").write_text(json.dumps(report, indent=1, default=str))
    finally:
        server.stop()
    if broken:
        print(f"scenarios that broke: {', '.join(broken)}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
