"""Glue job raw-to-processed: validate the run date's raw exports, quarantine, deduplicate, publish Parquet.

    spark-submit glue_jobs/raw_to_processed.py --JOB_NAME raw-to-processed --run_date 2026-03-29 \\
        --raw_path s3://bucket/raw/ --processed_path s3://bucket/processed/ [--quarantine_threshold 0.05]

Locally the paths are folders (or file:// URIs). Exits non-zero when an entity's quarantined share passes
the threshold, after the quarantine and the load manifest are written, so the operator can see why.
"""

from __future__ import annotations

import sys
from pathlib import Path

# spark-submit runs this file as a script: make ``glue_jobs`` importable from the checkout (on Glue it
# comes with --extra-py-files).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from glue_jobs.lib.raw_processing import process_run_date  # noqa: E402
from glue_jobs.runtime import main_args, start_job  # noqa: E402

DEFAULT_THRESHOLD = "0.05"


def main() -> int:
    args = main_args(
        ["JOB_NAME", "run_date", "raw_path", "processed_path"],
        {"quarantine_threshold": DEFAULT_THRESHOLD, "JOB_RUN_ID": ""},
    )
    context = start_job(args, "raw-to-processed")
    try:
        report = process_run_date(
            context.spark,
            args["raw_path"],
            args["processed_path"],
            args["run_date"],
            args["JOB_RUN_ID"] or None,
        )
        for entity in report.entities.values():
            print(entity.summary())
        failures = report.failures(float(args["quarantine_threshold"]))
        if failures:
            print(
                "raw-to-processed failed for " + args["run_date"] + ":\n  " + "\n  ".join(failures),
                file=sys.stderr,
            )
            return 1
        context.commit()
        return 0
    finally:
        context.stop()


if __name__ == "__main__":
    sys.exit(main())
