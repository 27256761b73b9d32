"""The local target: every step on the embedded engines, with real work in each.

Only Airflow objects are built here at parse time; the engines (cfn-lint, Spark, DuckDB, PostgreSQL) are
imported inside the task callables, so parsing the DAG stays fast.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import BaseSensorOperator, task

from energy_datalake import config, exports
from energy_datalake.compat import AirflowFailException, AirflowSensorTimeout
from energy_datalake.pipeline import JOB_SCRIPTS, RUN_DATE, outlets

# Tests shorten both to see the timeout quickly.
EXPORT_TIMEOUT_SECONDS = exports.timeout_seconds()
EXPORT_POKE_SECONDS = exports.poke_seconds(default=60)


def deploy_stacks():
    @task(task_id="deploy_stacks")
    def deploy() -> dict:
        from energy_datalake.emulator.cloudformation import deploy_stacks as deploy_locally

        return deploy_locally().summary()

    return deploy()


class ExportsSensor(BaseSensorOperator):
    """Waits for the ``_SUCCESS`` marker of every entity's export of the run date in the local raw zone.

    A scheduled run whose exports are not there when it starts is skipped at once (its later tasks too),
    with the reason; a run someone triggered waits, up to ``$DATALAKE_EXPORT_TIMEOUT_SECONDS``."""

    template_fields = ("run_date",)

    def __init__(self, *, run_date: str, **kwargs):
        super().__init__(**kwargs)
        self.run_date = run_date

    def missing(self) -> list[str]:
        return [
            str(marker) for marker in exports.missing_locally(exports.business_date(self.run_date)).values()
        ]

    def poke(self, context) -> bool:
        missing = self.missing()
        if missing:
            self.log.info("waiting for %d export(s): %s", len(missing), ", ".join(missing))
        return not missing

    def execute(self, context):
        run = context.get("dag_run")
        try:
            missing = self.missing()
        except exports.NoBusinessDate as error:
            from energy_datalake.compat import AirflowFailException

            raise AirflowFailException(str(error)) from None
        if missing and run is not None and getattr(run.run_type, "value", run.run_type) == "scheduled":
            # On one machine nothing delivers exports by itself: a scheduled run that waited would hold the
            # DAG's only run slot for hours while the runs a person triggers queue behind it.
            from energy_datalake.compat import AirflowSkipException

            raise AirflowSkipException(
                f"scheduled run of {self.run_date} skipped: no exports of that date in the local raw zone "
                f"(missing: {', '.join(missing)}); make them with `datalake generate --date {self.run_date}` "
                "and trigger the DAG with run_date"
            )
        try:
            return super().execute(context)
        except AirflowSensorTimeout as timeout:
            raise AirflowSensorTimeout(
                f"exports of {self.run_date} not complete after {self.timeout:.0f} s; "
                f"missing: {', '.join(self.missing())}"
            ) from timeout


def wait_for_exports():
    return ExportsSensor(
        task_id="wait_for_exports",
        run_date=RUN_DATE,
        mode="reschedule",
        poke_interval=EXPORT_POKE_SECONDS,
        timeout=EXPORT_TIMEOUT_SECONDS,
    )


def crawl_raw():
    @task(task_id="crawl_raw")
    def crawl() -> list[str]:
        from energy_datalake import templates
        from energy_datalake.emulator.glue_crawler import run_crawler

        names = sorted(n for n, c in templates.load().crawlers.items() if c.database == "raw")
        if not names:
            raise LookupError("the templates declare no crawler for the raw database")
        return [_report(run_crawler(name)) for name in names]

    return crawl()


def refresh_catalog():
    @task(task_id="refresh_catalog")
    def refresh() -> list[str]:
        from energy_datalake.emulator.glue_crawler import refresh_catalog as crawl_processed_and_curated

        return [_report(summary) for summary in crawl_processed_and_curated()]

    return refresh()


def _report(summary) -> str:
    print(summary)
    return summary.crawler


def _glue_job(step: str):
    @task(task_id=step, outlets=outlets(step))
    def run(run_date: str) -> None:
        _run_glue_job(_job_name(step), {"--run_date": run_date})

    return run(run_date=RUN_DATE)


def _job_name(step: str) -> str | None:
    """The templates' Glue job the step runs (as on AWS); None when the environment has none."""
    from energy_datalake import templates

    job = templates.load().job_running(JOB_SCRIPTS[step])
    return job.name if job else None


def _run_glue_job(name: str | None, arguments: dict[str, str]) -> None:
    from energy_datalake.emulator.glue_etl import GlueJobDeterministicFailure, run_job

    if name is None:
        raise LookupError("the templates declare no Glue job for this step")
    try:
        run_job(name, arguments)
    except GlueJobDeterministicFailure as failure:
        # The quarantine threshold or a bad argument: the same inputs would fail the same way again.
        raise AirflowFailException(str(failure)) from failure


def raw_to_processed():
    return _glue_job("raw_to_processed")


def processed_to_curated():
    return _glue_job("processed_to_curated")


def athena_checks():
    @task(task_id="athena_checks")
    def check(run_date: str) -> int:
        from energy_datalake.checks import CheckFailed

        try:
            results = run_checks(run_date)
        except CheckFailed as failure:
            # The checks read immutable partitions: a retry would fail the same way, so fail at once.
            raise AirflowFailException(str(failure)) from failure
        for result in results:
            print(result)
        return len(results)

    return check(run_date=RUN_DATE)


def run_checks(run_date: str, env: str | None = None, engine=None, directory: Path | None = None) -> list:
    """The quality gate on the local Athena engine as ``quality-gate``; the results written; raise if any failed."""
    from energy_datalake import checks
    from energy_datalake.emulator.athena import (
        AccessDenied,
        BytesScannedCutoffExceeded,
        QueryEngine,
        QueryError,
    )

    engine = engine or QueryEngine(checks.QUALITY_GATE_WORKGROUP, env)
    results = []
    for query, sql in checks.rendered_checks(run_date, directory or checks.CHECKS_DIR).items():
        try:
            outcome = engine.execute(sql)
        except (QueryError, AccessDenied, BytesScannedCutoffExceeded) as error:
            results.append(checks.query_error(query, error))
            continue
        results += checks.results_of(query, outcome.rows, outcome.bytes_scanned)
    checks.write_results(run_date, results)
    failed = [r for r in results if not r.passed]
    if failed:
        raise checks.CheckFailed(run_date, failed)
    return results


def load_redshift():
    @task(task_id="load_redshift")
    def load(run_date: str, run_id: str | None = None) -> None:
        # run_id: Airflow's, from the task's context, so that load_audit tells one run's load from a re-run's
        # (on AWS, Glue's own job run id does that).
        from energy_datalake.compat import AirflowSkipException
        from energy_datalake.emulator import redshift

        name = _job_name("load_redshift")
        if name is None:
            # The same outcome as on AWS, where the etl stack then declares no curated-to-redshift job.
            raise AirflowSkipException(
                f"the warehouse is disabled (WarehouseEnabled=false in the {config.environment()} parameters): "
                "nothing to load"
            )
        # The embedded server keeps running for the next runs; `datalake run` stops it at the end.
        _run_glue_job(
            name, {"--run_date": run_date, "--run_id": run_id or "", "--warehouse_url": redshift.start()}
        )

    return load(run_date=RUN_DATE)
