"""Glue job curated-to-redshift: the run date's curated KPIs and client/provider snapshots into the warehouse.

    spark-submit glue_jobs/curated_to_redshift.py --JOB_NAME curated-to-redshift --run_date 2026-03-29 \
        --curated_path <lake>/curated --processed_path <lake>/processed \
        (--warehouse_url postgresql://... | --connection_name C --redshift_tmp_dir s3://... --database D) \
        [--run_id R]

Locally (``--warehouse_url``) the rows are COPYed into PostgreSQL with psycopg; on Glue they go through the
Glue JDBC connection to Redshift. Both run the same SQL (glue_jobs/lib/warehouse.py).
"""

from __future__ import annotations

import datetime as dt

from glue_jobs.lib import warehouse
from glue_jobs.lib.processed_writer import partition_uri
from glue_jobs.runtime import main_args, start_job

REQUIRED = ("JOB_NAME", "run_date", "curated_path", "processed_path")
OPTIONAL = {"warehouse_url": "", "connection_name": "", "redshift_tmp_dir": "", "database": "", "run_id": ""}


class GlueRedshiftWriter:
    """Redshift through the job's Glue connection: staging table filled by the connector, SQL in actions."""

    def __init__(self, glue_context, connection_name: str, redshift_tmp_dir: str, database: str):
        self.glue_context = glue_context
        self.connection_name = connection_name
        self.redshift_tmp_dir = redshift_tmp_dir
        self.database = database

    def staging_name(self, table: str) -> str:
        return f"{warehouse.SCHEMA}.stg_{table}"

    def existing_columns(self, table: str) -> set[str]:
        jdbc = self.glue_context.extract_jdbc_conf(self.connection_name)
        query = (
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = '{warehouse.SCHEMA}' AND table_name = '{table}'"
        )
        # extract_jdbc_conf's "url" stops before the database name ("fullUrl" carries the connection's).
        rows = (
            self.glue_context.spark_session.read.format("jdbc")
            .option("url", f"{jdbc['url']}/{self.database}")
            .option("user", jdbc["user"])
            .option("password", jdbc["password"])
            .option("query", query)
            .load()
            .collect()
        )
        return {r[0] for r in rows}

    def load(self, plan: warehouse.LoadPlan, rows) -> None:
        from awsglue.dynamicframe import DynamicFrame

        self.glue_context.write_dynamic_frame.from_jdbc_conf(
            frame=DynamicFrame.fromDF(rows, self.glue_context, plan.table),
            catalog_connection=self.connection_name,
            connection_options=warehouse.glue_connection_options(plan, self.database),
            redshift_tmp_dir=self.redshift_tmp_dir,
        )


def main() -> None:
    args = main_args(REQUIRED, OPTIONAL)
    run_date = dt.date.fromisoformat(args["run_date"])
    run = warehouse.Run(
        run_id=args["run_id"] or f"{args['JOB_NAME']}:{run_date.isoformat()}",
        run_date=run_date,
        loaded_at=dt.datetime.now(dt.UTC),
    )
    job = start_job(args, "curated-to-redshift")
    if args["warehouse_url"]:
        writer = warehouse.PostgresWriter(args["warehouse_url"])
    elif args["connection_name"] and args["redshift_tmp_dir"] and args["database"]:
        writer = GlueRedshiftWriter(
            job.glue_context, args["connection_name"], args["redshift_tmp_dir"], args["database"]
        )
    else:
        raise SystemExit("give --warehouse_url, or --connection_name, --redshift_tmp_dir and --database")

    spark = job.spark
    facts = {
        table: spark.read.parquet(partition_uri(args["curated_path"], table, run_date.isoformat()))
        for table in warehouse.FACT_KEYS
    }
    clients = spark.read.parquet(partition_uri(args["processed_path"], "clients", run_date.isoformat()))
    providers = spark.read.parquet(partition_uri(args["processed_path"], "providers", run_date.isoformat()))
    for result in warehouse.load_all(writer, run, facts, clients, providers):
        if result is not None:
            print(result)
    if not args["warehouse_url"]:
        print(f"loaded {len(facts) + 2} tables for {run_date}; counts in {warehouse.SCHEMA}.load_audit")
    job.commit()
    job.stop()


if __name__ == "__main__":
    main()
