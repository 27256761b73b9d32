"""The Glue entry script started the way the local target starts it: the script as ``__main__`` with
``--arg value`` on the warm Glue runtime, which decides the exit code and passes on every line it prints."""

from __future__ import annotations

import duckdb
from test_raw_to_processed import (
    PARTITION,
    RUN_DATE,
    fixture_files,
    lay_out,
    sale_row,
    with_rows,
)

from glue_jobs.runtime import DETERMINISTIC_EXIT_CODE


def _run(run_glue_script, raw, processed, *extra: str):
    return run_glue_script(
        "raw_to_processed", "--JOB_NAME", "raw-to-processed", "--run_date", RUN_DATE,
        "--raw_path", str(raw), "--processed_path", f"file://{processed}", *extra,
    )  # fmt: skip


def test_the_job_fails_past_the_threshold_after_writing_why(run_glue_script, tmp_path):
    files = fixture_files()
    # One bad transaction in six: 16.67 % quarantined.
    files["transactions_20260329.csv"], _ = with_rows(
        files["transactions_20260329.csv"], [sale_row("T9", party="C9")]
    )
    lay_out(tmp_path / "raw", files)
    processed = tmp_path / "processed"

    # The run id Glue passes (the local runner never does, and without awsglue it does not mean Glue).
    failed = _run(run_glue_script, tmp_path / "raw", processed, "--JOB_RUN_ID", "jr_threshold")
    # No retry can change the data: the deterministic exit code, and one line saying why, no traceback.
    output = failed.output
    assert failed.code == DETERMINISTIC_EXIT_CODE, output[-3000:]
    assert (
        f"DeterministicJobFailure: raw-to-processed failed for {RUN_DATE}: "
        "transactions: 16.67% of rows quarantined (1 of 6) passes the threshold of 5.00%"
    ) in output.splitlines()
    assert "Traceback" not in output
    assert "transactions: 1 files (0 quarantined whole), 6 rows read, 5 accepted, 1 quarantined" in output
    # Written before the failure, so the operator can see why; the manifest names the run.
    manifest = list((processed / "load_manifest" / PARTITION).glob("*.parquet"))
    assert manifest
    manifest_files = [str(m) for m in manifest]
    assert duckdb.sql(f"SELECT DISTINCT job_run_id FROM read_parquet({manifest_files})").fetchall() == [
        ("jr_threshold",)
    ]
    assert list((processed / "quarantine" / "entity=transactions" / PARTITION).glob("*.parquet"))

    passed = _run(run_glue_script, tmp_path / "raw", processed, "--quarantine_threshold", "0.2")
    assert passed.code == 0, passed.output[-3000:]
    assert list((processed / "transactions" / PARTITION).glob("*.parquet"))
