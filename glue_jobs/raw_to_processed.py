"""Glue job raw-to-processed: validate the run date's raw exports, quarantine, deduplicate, publish Parquet.

    spark-submit glue_jobs/raw_to_processed.py --JOB_NAME raw-to-processed --run_date 2026-03-29 \\
        --raw_path s3://bucket/raw/ --processed_path s3://bucket/processed/ [--quarantine_threshold 0.05]

Locally the paths are folders (or file:// URIs). When an entity's quarantined share passes the threshold the
job fails with a DeterministicJobFailure (no retry can change the data), after the quarantine and the load
manifest are written, so the operator can see why. The manifest records Glue's ``JOB_RUN_ID``.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from glue_jobs import runtime
from glue_jobs.lib.raw_processing import process_run_date

JOB_NAME = "raw-to-processed"
REQUIRED = ("JOB_NAME", "run_date", "raw_path", "processed_path")
# JOB_RUN_ID: given by Glue to every run, absent locally.
OPTIONAL = {"quarantine_threshold": "0.05", "JOB_RUN_ID": ""}


@dataclass(frozen=True)
class Arguments:
    run_date: dt.date
    raw_path: str
    processed_path: str
    quarantine_threshold: float
    job_run_id: str | None
    options: dict[str, str] = field(repr=False)


def arguments(argv: Sequence[str]) -> Arguments:
    options = runtime.resolve_options(argv, REQUIRED, OPTIONAL)
    return Arguments(
        run_date=runtime.run_date(options),
        raw_path=options["raw_path"],
        processed_path=options["processed_path"],
        quarantine_threshold=runtime.fraction(options, "quarantine_threshold"),
        job_run_id=options["JOB_RUN_ID"] or None,
        options=options,
    )


def main(argv: Sequence[str]) -> None:
    args = arguments(argv)
    job = runtime.start_job(args.options, JOB_NAME)
    try:
        report = process_run_date(
            job.spark, args.raw_path, args.processed_path, args.run_date, args.job_run_id
        )
        for entity in report.entities.values():
            print(entity.summary())
        failures = report.failures(args.quarantine_threshold)
        if failures:
            raise runtime.DeterministicJobFailure(
                f"{JOB_NAME} failed for {args.run_date}: {'; '.join(failures)}"
            )
        job.commit()
    finally:
        job.stop()


if __name__ == "__main__":
    runtime.run_script(main, sys.argv)
