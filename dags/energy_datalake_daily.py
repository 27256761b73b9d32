"""The daily pipeline of the energy data lake, step by step (the steps are explained in ``DOC`` below)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, Param, chain

from energy_datalake import pipeline
from energy_datalake.compat import CronDataIntervalTimetable

DOC = """
### Energy data lake, daily

For one business date **D** (the run's logical date, or the `run_date` param of a manual trigger;
never "today"):

1. `deploy_stacks`: deploy or update the CloudFormation stacks (a no-op when nothing changed). On AWS
   a change set that would replace or remove a bucket, the KMS key, a Glue database or the warehouse
   fails the run unless the `allow_replacement` param is set.
2. `wait_for_exports`: wait until the `_SUCCESS` marker of each export (providers, clients,
   transactions) for D sits in the raw zone; on timeout the error names what is missing.
3. `crawl_raw`: the raw crawler adds D's partitions to the catalog.
4. `raw_to_processed`: Glue job: validate against the contract, quarantine bad rows with their rule,
   deduplicate, write Parquet partitioned by year/month/day.
5. `processed_to_curated`: Glue job: the KPI tables.
6. `refresh_catalog`: the processed and curated crawlers.
7. `athena_checks`: the quality gate. A failing check fails the run here, naming the check, the table
   and the count, so nothing bad reaches the warehouse.
8. `load_redshift`: Glue job: stage D's rows and MERGE them into the warehouse (idempotent).

**Schedule.** The export of D is complete only after D ends, so runs use data intervals: the run whose
logical date is D covers [D, D+1) and starts at D+1 00:00 UTC, after the Spanish day D has ended
(Madrid is UTC+1/+2). Catch-up is off: past dates are backfilled on purpose, with
`datalake run --date D --to D2` or a manual trigger with `run_date`.

**Target.** `DATALAKE_TARGET=local` (default) runs every step on embedded engines (Spark, DuckDB,
PostgreSQL); `aws` uses the Amazon provider's operators. Both build this same graph.
"""

with DAG(
    dag_id="energy_datalake_daily",
    description="Raw exports to processed, curated, checked and loaded into the warehouse, one date a run",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    },
    params={
        "run_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Business date to process (YYYY-MM-DD); empty = the run's logical date",
        ),
        "allow_replacement": Param(
            False,
            type="boolean",
            description="AWS deploy: execute a change set that replaces or removes a data-bearing resource",
        ),
    },
    tags=["energy", "datalake", "daily"],
    doc_md=DOC,
) as dag:
    target = pipeline.load()
    chain(
        target.deploy_stacks(),
        target.wait_for_exports(),
        target.crawl_raw(),
        target.raw_to_processed(),
        target.processed_to_curated(),
        target.refresh_catalog(),
        target.athena_checks(),
        target.load_redshift(),
    )

if __name__ == "__main__":
    dag.test()
