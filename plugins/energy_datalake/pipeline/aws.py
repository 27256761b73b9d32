"""The AWS target: the Amazon provider's operators, sensors and hooks, and what they lack.

Every name (lake bucket, crawlers, Glue jobs, the quality gate's workgroup) comes from the templates of the
deployment environment, read when the DAG is parsed, so a changed ``ProjectName`` or a disabled warehouse
changes the DAG's arguments, never its graph. Waiting is deferrable wherever the provider offers it, so a long
wait holds no worker slot; a deterministic failure (quarantine threshold, failed check, exports that never
came) fails at once instead of being retried.
"""

from __future__ import annotations

from energy_datalake import config, exports, templates
from energy_datalake.pipeline import JOB_SCRIPTS, RUN_DATE, outlets

AWS_CONN_ID = "aws_default"
# A day's export normally lands within hours; the same settings as the local target's sensor.
EXPORT_TIMEOUT_SECONDS = exports.timeout_seconds()
EXPORT_POKE_SECONDS = exports.poke_seconds(default=300)
CRAWLER_POLL_SECONDS = 15
JOB_POLL_SECONDS = 30


def environment() -> templates.Environment:
    return templates.load(config.environment())


def lake_bucket() -> str:
    return environment().lake_bucket


def crawlers_of(*databases: str) -> list[str]:
    """The templates' crawlers of ``databases``, in that order of databases."""
    declared = environment().crawlers
    names = [name for db in databases for name, c in sorted(declared.items()) if c.database == db]
    if not names:
        raise LookupError(f"the templates declare no crawler for {', '.join(databases)}")
    return names


def job_name(step: str) -> str | None:
    """The name of the templates' Glue job the step runs; None when the environment has none."""
    job = environment().job_running(JOB_SCRIPTS[step])
    return job.name if job else None


def quality_gate_workgroup() -> str:
    """The Athena workgroup the quality gate runs in (its principal is the orchestrator's role)."""
    from energy_datalake.checks import QUALITY_GATE_WORKGROUP

    names = [w.name for w in environment().workgroups.values() if w.principal == QUALITY_GATE_WORKGROUP]
    if len(names) != 1:
        raise LookupError(f"expected one workgroup of principal {QUALITY_GATE_WORKGROUP!r}, found {names}")
    return names[0]


def deploy_stacks():
    from energy_datalake.pipeline.operators.cloudformation import CloudFormationDeployStacksOperator

    return CloudFormationDeployStacksOperator(
        task_id="deploy_stacks",
        environment=config.environment(),
        allow_replacement="{{ params.allow_replacement | default(false) }}",
        aws_conn_id=AWS_CONN_ID,
    )


def wait_for_exports():
    from energy_datalake.pipeline.operators.s3 import ExportsSensor

    return ExportsSensor(
        task_id="wait_for_exports",
        bucket=lake_bucket(),
        run_date=RUN_DATE,
        deferrable=True,
        poke_interval=EXPORT_POKE_SECONDS,
        timeout=EXPORT_TIMEOUT_SECONDS,
        aws_conn_id=AWS_CONN_ID,
    )


def _crawlers(task_id: str, names: list[str]):
    from energy_datalake.pipeline.operators.glue import GlueCrawlersRunOperator

    return GlueCrawlersRunOperator(
        task_id=task_id,
        crawler_names=names,
        deferrable=True,
        poll_interval=CRAWLER_POLL_SECONDS,
        aws_conn_id=AWS_CONN_ID,
    )


def crawl_raw():
    return _crawlers("crawl_raw", crawlers_of("raw"))


def refresh_catalog():
    # One after the other: both add table versions and partitions to the catalog.
    return _crawlers("refresh_catalog", crawlers_of("processed", "curated"))


def _glue_job(step: str):
    from energy_datalake.pipeline.operators.glue import GlueJobRunOperator

    name = job_name(step)
    if name is None:
        raise LookupError(f"the templates declare no Glue job running {JOB_SCRIPTS[step]}.py")
    return GlueJobRunOperator(
        task_id=step,
        job_name=name,
        script_args={"--run_date": RUN_DATE},
        wait_for_completion=True,
        deferrable=True,
        verbose=True,
        # A cancelled task (Ctrl-C on `airflow dags test`, a cleared run) stops its Glue run too.
        stop_job_run_on_kill=True,
        waiter_delay=JOB_POLL_SECONDS,
        aws_conn_id=AWS_CONN_ID,
        outlets=outlets(step),
    )


def raw_to_processed():
    return _glue_job("raw_to_processed")


def processed_to_curated():
    return _glue_job("processed_to_curated")


def athena_checks():
    from airflow.sdk import task

    workgroup = quality_gate_workgroup()

    @task(task_id="athena_checks")
    def check(run_date: str) -> list[dict]:
        from dataclasses import asdict

        from airflow.providers.amazon.aws.hooks.athena import AthenaHook

        from energy_datalake.aws.athena import run_queries
        from energy_datalake.checks import CheckFailed, query_error, rendered_checks, results_of
        from energy_datalake.compat import AirflowFailException

        client = AthenaHook(aws_conn_id=AWS_CONN_ID).get_conn()
        outcomes = run_queries(client, rendered_checks(run_date), workgroup, raise_errors=False)
        results = []
        for query, outcome in outcomes.items():
            if isinstance(outcome, Exception):
                results.append(query_error(query, outcome))
            else:
                results += results_of(query, outcome.rows, outcome.bytes_scanned)
        for result in results:
            print(result)
        failed = [r for r in results if not r.passed]
        if failed:
            # The checks read immutable partitions: a retry would fail the same way.
            raise AirflowFailException(str(CheckFailed(run_date, failed)))
        return [asdict(r) for r in results]

    return check(run_date=RUN_DATE)


def load_redshift():
    if job_name("load_redshift") is not None:
        return _glue_job("load_redshift")
    from airflow.sdk import task

    reason = f"the warehouse is disabled (WarehouseEnabled=false in the {config.environment()} parameters)"

    @task(task_id="load_redshift", outlets=outlets("load_redshift"))
    def skip() -> None:
        from energy_datalake.compat import AirflowSkipException

        raise AirflowSkipException(f"{reason}: nothing to load")

    return skip()
