"""Glue job ``processed-to-curated``: the run date's KPI tables (DESIGN.md §4) from the processed zone.

    spark-submit glue_jobs/processed_to_curated.py --JOB_NAME processed-to-curated --run_date 2026-03-29 \\
        --processed_path s3://<lake>/processed --curated_path s3://<lake>/curated

Reads only the run date's partition of each processed entity (by path: no table scan), builds the tables
with ``glue_jobs.lib.kpis.build_all`` and replaces each table's run-date partition
(``<curated>/<table>/year=/month=/day=/``, Snappy Parquet); other dates are never touched.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession

from glue_jobs.lib import kpis
from glue_jobs.lib.contract import ENTITIES
from glue_jobs.lib.processed_writer import partition_uri, replace_partition
from glue_jobs.runtime import main_args, start_job

JOB_NAME = "processed-to-curated"
ARGUMENTS = ("JOB_NAME", "run_date", "processed_path", "curated_path")


def read_day(spark: SparkSession, processed_path: str, run_date: str) -> dict[str, DataFrame]:
    """Each entity's run-date partition; a missing partition is an error naming its path."""
    return {
        entity: spark.read.parquet(partition_uri(processed_path, entity, run_date)) for entity in ENTITIES
    }


def run(spark: SparkSession, run_date: str, processed_path: str, curated_path: str) -> dict[str, str]:
    """Writes the five KPI tables of ``run_date``; returns {table: partition URI written}."""
    day = read_day(spark, processed_path, run_date)
    # Every table reads the day's transactions: read the files once.
    transactions = day["transactions"].cache()
    try:
        tables = kpis.build_all(transactions, day["clients"], day["providers"], run_date)
        # A day of a KPI table is at most one row per client: one file, not one per shuffle partition.
        return {
            name: replace_partition(df.coalesce(1), curated_path, name, run_date)
            for name, df in tables.items()
        }
    finally:
        transactions.unpersist()


def checked_run_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise SystemExit(f"--run_date must be a date YYYY-MM-DD, not {value!r}") from None


def main() -> None:
    args = main_args(ARGUMENTS)
    run_date = checked_run_date(args["run_date"])
    job = start_job(args, JOB_NAME)
    try:
        written = run(job.spark, run_date, args["processed_path"], args["curated_path"])
        job.commit()
    finally:
        job.stop()
    for table, uri in written.items():
        print(f"{table}: {uri}")


if __name__ == "__main__":
    main()
