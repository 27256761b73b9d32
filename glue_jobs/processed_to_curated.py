"""Glue job ``processed-to-curated``: the run date's KPI tables (docs/architecture.md) from processed data.

    spark-submit glue_jobs/processed_to_curated.py --JOB_NAME processed-to-curated --run_date 2026-03-29 \\
        --processed_path s3://<lake>/processed --curated_path s3://<lake>/curated

Reads only the run date's partition of each processed entity (by path: no table scan), builds the tables
with ``glue_jobs.lib.kpis.build_all`` and replaces each table's run-date partition
(``<curated>/<table>/year=/month=/day=/``, Snappy Parquet); other dates are never touched.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from glue_jobs import runtime
from glue_jobs.lib import kpis
from glue_jobs.lib.contract import ENTITIES
from glue_jobs.lib.processed_writer import partition_uri, replace_partition

JOB_NAME = "processed-to-curated"
REQUIRED = ("JOB_NAME", "run_date", "processed_path", "curated_path")


@dataclass(frozen=True)
class Arguments:
    run_date: dt.date
    processed_path: str
    curated_path: str
    options: dict[str, str] = field(repr=False)


def arguments(argv: Sequence[str]) -> Arguments:
    options = runtime.resolve_options(argv, REQUIRED)
    return Arguments(
        run_date=runtime.run_date(options),
        processed_path=options["processed_path"],
        curated_path=options["curated_path"],
        options=options,
    )


def read_day(spark: SparkSession, processed_path: str, run_date: dt.date) -> dict[str, DataFrame]:
    """Each entity's run-date partition; a missing partition is an error naming its path."""
    return {
        entity: spark.read.parquet(partition_uri(processed_path, entity, run_date)) for entity in ENTITIES
    }


def run(spark: SparkSession, run_date: dt.date, processed_path: str, curated_path: str) -> dict[str, str]:
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


def main(argv: Sequence[str]) -> None:
    args = arguments(argv)
    job = runtime.start_job(args.options, JOB_NAME)
    try:
        written = run(job.spark, args.run_date, args.processed_path, args.curated_path)
        job.commit()
    finally:
        job.stop()
    for table, uri in written.items():
        print(f"{table}: {uri}")


if __name__ == "__main__":
    runtime.run_script(main, sys.argv)
