"""The Glue entry script started the way Glue (and the local target) start it: spark-submit + --arg value."""

from __future__ import annotations

import subprocess

import duckdb
import pytest
from test_raw_to_processed import (
    PARTITION,
    RUN_DATE,
    fixture_files,
    lay_out,
    sale_row,
    with_rows,
)

from energy_datalake.config import GLUE_JOBS_DIR
from energy_datalake.emulator.spark import spark_env, spark_submit
from glue_jobs.runtime import DETERMINISTIC_EXIT_CODE


def _submit(raw, processed, *extra: str) -> subprocess.CompletedProcess:
    command = [
        spark_submit(), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
        str(GLUE_JOBS_DIR / "raw_to_processed.py"), "--JOB_NAME", "raw-to-processed", "--run_date", RUN_DATE,
        "--raw_path", str(raw), "--processed_path", f"file://{processed}", *extra,
    ]  # fmt: skip
    return subprocess.run(command, env=spark_env(), capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_job_fails_past_the_threshold_after_writing_why(tmp_path):
    files = fixture_files()
    # One bad transaction in six: 16.67 % quarantined.
    files["transactions_20260329.csv"], _ = with_rows(
        files["transactions_20260329.csv"], [sale_row("T9", party="C9")]
    )
    lay_out(tmp_path / "raw", files)
    processed = tmp_path / "processed"

    # The run id Glue passes (the local runner never does, and without awsglue it does not mean Glue).
    failed = _submit(tmp_path / "raw", processed, "--JOB_RUN_ID", "jr_threshold")
    # No retry can change the data: the deterministic exit code, and one line saying why, no traceback.
    assert failed.returncode == DETERMINISTIC_EXIT_CODE, failed.stdout[-3000:] + failed.stderr[-3000:]
    # spark-submit merges the Python driver's stderr into its stdout.
    output = failed.stdout + failed.stderr
    assert (
        f"DeterministicJobFailure: raw-to-processed failed for {RUN_DATE}: "
        "transactions: 16.67% of rows quarantined (1 of 6) passes the threshold of 5.00%"
    ) in output.splitlines()
    assert "Traceback" not in output
    assert (
        "transactions: 1 files (0 quarantined whole), 6 rows read, 5 accepted, 1 quarantined" in failed.stdout
    )
    # Written before the failure, so the operator can see why; the manifest names the run.
    manifest = list((processed / "load_manifest" / PARTITION).glob("*.parquet"))
    assert manifest
    manifest_files = [str(m) for m in manifest]
    assert duckdb.sql(f"SELECT DISTINCT job_run_id FROM read_parquet({manifest_files})").fetchall() == [
        ("jr_threshold",)
    ]
    assert list((processed / "quarantine" / "entity=transactions" / PARTITION).glob("*.parquet"))

    passed = _submit(tmp_path / "raw", processed, "--quarantine_threshold", "0.2")
    assert passed.returncode == 0, passed.stderr[-3000:]
    assert list((processed / "transactions" / PARTITION).glob("*.parquet"))
