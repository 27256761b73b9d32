"""Glue job curated-to-redshift: the run date's curated KPIs and client/provider snapshots into the warehouse.

    spark-submit glue_jobs/curated_to_redshift.py --JOB_NAME curated-to-redshift --run_date 2026-03-29 \\
        --curated_path <lake>/curated --processed_path <lake>/processed \\
        (--warehouse_url postgresql://... | --connection_name C --redshift_tmp_dir s3://... --database D) \\
        [--run_id R]

Locally (``--warehouse_url``) the rows are COPYed into PostgreSQL with psycopg; on Glue they go through the
Glue JDBC connection to Redshift. Both run the same SQL (glue_jobs/lib/warehouse.py). The load's run id is
``--run_id``, else Glue's ``JOB_RUN_ID``, else ``<JOB_NAME>:<run date>``. The schema must exist (the admin
creates it, docs/deployment.md): a missing one is a DeterministicJobFailure.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from glue_jobs import runtime
from glue_jobs.lib import warehouse
from glue_jobs.lib.processed_writer import partition_uri
from glue_jobs.warehouse_writers import GlueRedshiftWriter, PostgresWriter

JOB_NAME = "curated-to-redshift"
REQUIRED = ("JOB_NAME", "run_date", "curated_path", "processed_path")
OPTIONAL = {
    "warehouse_url": "",
    "connection_name": "",
    "redshift_tmp_dir": "",
    "database": "",
    "run_id": "",
    "JOB_RUN_ID": "",
}
GLUE_CONNECTION = ("connection_name", "redshift_tmp_dir", "database")


@dataclass(frozen=True)
class Arguments:
    run_date: dt.date
    curated_path: str
    processed_path: str
    run_id: str
    # Either the local warehouse's URL or the Glue connection, never neither.
    warehouse_url: str
    connection_name: str
    redshift_tmp_dir: str
    database: str
    options: dict[str, str] = field(repr=False)


def arguments(argv: Sequence[str]) -> Arguments:
    options = runtime.resolve_options(argv, REQUIRED, OPTIONAL)
    run_date = runtime.run_date(options)
    if not options["warehouse_url"] and not all(options[name] for name in GLUE_CONNECTION):
        raise runtime.DeterministicJobFailure(
            "give --warehouse_url, or --connection_name, --redshift_tmp_dir and --database"
        )
    return Arguments(
        run_date=run_date,
        curated_path=options["curated_path"],
        processed_path=options["processed_path"],
        run_id=options["run_id"] or options["JOB_RUN_ID"] or f"{options['JOB_NAME']}:{run_date.isoformat()}",
        warehouse_url=options["warehouse_url"],
        connection_name=options["connection_name"],
        redshift_tmp_dir=options["redshift_tmp_dir"],
        database=options["database"],
        options=options,
    )


def main(argv: Sequence[str]) -> None:
    args = arguments(argv)
    run = warehouse.Run(run_id=args.run_id, run_date=args.run_date, loaded_at=dt.datetime.now(dt.UTC))
    job = runtime.start_job(args.options, JOB_NAME)
    try:
        if args.warehouse_url:
            writer = PostgresWriter(args.warehouse_url)
        else:
            writer = GlueRedshiftWriter(
                job.glue_context, args.connection_name, args.redshift_tmp_dir, args.database
            )
        spark = job.spark
        facts = {
            table: spark.read.parquet(partition_uri(args.curated_path, table, args.run_date))
            for table in warehouse.FACT_KEYS
        }
        clients = spark.read.parquet(partition_uri(args.processed_path, "clients", args.run_date))
        providers = spark.read.parquet(partition_uri(args.processed_path, "providers", args.run_date))
        try:
            results = warehouse.load_all(writer, run, facts, clients, providers)
        except warehouse.SchemaMissing as missing:
            raise runtime.DeterministicJobFailure(str(missing)) from missing
        job.commit()
    finally:
        job.stop()
    for result in results:
        if result is not None:
            print(result)
    if not args.warehouse_url:
        print(f"loaded {len(facts) + 2} tables for {args.run_date}; counts in {warehouse.SCHEMA}.load_audit")


if __name__ == "__main__":
    runtime.run_script(main, sys.argv)
