"""The AWS target: the Amazon provider's operators, sensors and hooks, and our create-or-update stack.

Resource names follow the templates (``tests/dags`` holds the two together, so parsing the DAG reads no
template). Waiting is deferrable where the provider offers it, so a long wait holds no worker slot.
"""

from __future__ import annotations

from airflow.sdk import task

from energy_datalake import config
from energy_datalake.targets import ENTITIES, RUN_DATE, outlets

AWS_CONN_ID = "aws_default"
RAW_CRAWLER = "raw-data-crawler"
REFRESH_CRAWLERS = ("processed-data-crawler", "curated-data-crawler")
JOBS = {
    "raw_to_processed": "raw-to-processed",
    "processed_to_curated": "processed-to-curated",
    "load_redshift": "curated-to-redshift",
}
CHECKS_WORKGROUP = "primary"
EXPORT_TIMEOUT_SECONDS = 6 * 3600
EXPORT_POKE_SECONDS = 300

_PARTITION = "{% set d = params.run_date or ds %}year={{ d[:4] }}/month={{ d[5:7] }}/day={{ d[8:10] }}"


def lake_bucket() -> str:
    return f"energy-trading-datalake-{config.environment()}"


def deploy_stacks():
    from energy_datalake.operators.cloudformation import CloudFormationDeployStacksOperator

    return CloudFormationDeployStacksOperator(
        task_id="deploy_stacks", environment=config.environment(), aws_conn_id=AWS_CONN_ID
    )


def wait_for_exports():
    from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

    return S3KeySensor(
        task_id="wait_for_exports",
        bucket_key=[f"s3://{lake_bucket()}/raw/{entity}/{_PARTITION}/_SUCCESS" for entity in ENTITIES],
        deferrable=True,
        poke_interval=EXPORT_POKE_SECONDS,
        timeout=EXPORT_TIMEOUT_SECONDS,
        aws_conn_id=AWS_CONN_ID,
    )


def crawl_raw():
    from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerRunOperator

    return GlueCrawlerRunOperator(
        task_id="crawl_raw", crawler_name=RAW_CRAWLER, deferrable=True, aws_conn_id=AWS_CONN_ID
    )


def _glue_job(step: str):
    from airflow.providers.amazon.aws.operators.glue import GlueJobOperator

    return GlueJobOperator(
        task_id=step,
        job_name=JOBS[step],
        script_args={"--run_date": RUN_DATE},
        wait_for_completion=True,
        deferrable=True,
        verbose=True,
        aws_conn_id=AWS_CONN_ID,
        outlets=outlets(step),
    )


def raw_to_processed():
    return _glue_job("raw_to_processed")


def processed_to_curated():
    return _glue_job("processed_to_curated")


def refresh_catalog():
    @task(task_id="refresh_catalog")
    def refresh() -> list[str]:
        from airflow.providers.amazon.aws.hooks.glue_crawler import GlueCrawlerHook

        hook = GlueCrawlerHook(aws_conn_id=AWS_CONN_ID)
        # One after the other: both write table versions in the catalog, and Glue runs them in minutes.
        for name in REFRESH_CRAWLERS:
            hook.glue_client.start_crawler(Name=name)
            hook.wait_for_crawler_completion(crawler_name=name)
        return list(REFRESH_CRAWLERS)

    return refresh()


def athena_checks():
    @task(task_id="athena_checks")
    def check(run_date: str) -> int:
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook
        from airflow.sdk.exceptions import AirflowFailException

        from energy_datalake.local.checks import CheckFailed, CheckResult, rendered_checks

        hook = AthenaHook(aws_conn_id=AWS_CONN_ID)
        results = []
        for query, sql in rendered_checks(run_date).items():
            query_id = hook.run_query(sql, {"Database": "processed"}, {}, workgroup=CHECKS_WORKGROUP)
            if hook.poll_query_status(query_id) != "SUCCEEDED":
                raise RuntimeError(
                    f"Athena check {query} did not succeed: {hook.get_state_change_reason(query_id)}"
                )
            scanned = hook.get_query_info(query_id)["Statistics"].get("DataScannedInBytes", 0)
            rows = hook.get_query_results(query_id)["ResultSet"]["Rows"][1:]
            for row in rows:
                name, table, failures = (cell.get("VarCharValue") for cell in row["Data"])
                count = int(failures or 0)
                results.append(CheckResult(name, table, count, scanned, count == 0, query=query))
        failed = [r for r in results if not r.passed]
        if failed:
            raise AirflowFailException(str(CheckFailed(run_date, failed)))
        return len(results)

    return check(run_date=RUN_DATE)


def load_redshift():
    return _glue_job("load_redshift")
