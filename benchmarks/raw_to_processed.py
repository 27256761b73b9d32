"""Throughput of raw-to-processed against the floor: a plain Spark CSV→Parquet rewrite of the same files.

    .venv/bin/python benchmarks/raw_to_processed.py [--transactions 1000000 5000000] [--work /tmp/bench]

For each size it generates one day of exports (``energy_datalake.generator``, about 42 000 clients per
million transactions; kept under ``--work`` and reused by the next run of the same size), then, in the
same Spark session (configured like the local Glue runtime), times the floor (read the day's transaction CSV files with a header, every column a string, write Parquet), the
whole raw-to-processed job for the day (providers, clients and transactions), and the floor again.
Prints rows, seconds, rows/s and the ratio of the job's throughput to the floor's (mean of the two floor
runs). Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from datetime import date
from pathlib import Path

RUN_DATE = date(2026, 3, 29)
CLIENTS_PER_MILLION = 42_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument(
        "--work", default="/tmp/energy-datalake-bench", help="scratch folder (generated days are reused)"
    )
    parser.add_argument("--error-rate", type=float, default=0.001)
    return parser.parse_args()


def session():
    from energy_datalake.emulator import spark as local_spark

    local_spark.configure_process()
    from pyspark.sql import SparkSession

    from glue_jobs.runtime import LOCAL_CONF, SPARK_CONF

    builder = SparkSession.builder.master("local[*]").appName("bench-raw-to-processed")
    for key, value in {**SPARK_CONF, **LOCAL_CONF, "spark.ui.showConsoleProgress": "false"}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def generate(raw: Path, transactions: int, error_rate: float) -> int:
    from energy_datalake.generator import generate as generate_day

    clients = max(1, round(transactions / 1_000_000 * CLIENTS_PER_MILLION))
    summary = generate_day(
        RUN_DATE.isoformat(), days=1, clients=clients, seed=7, out=raw, error_rate=error_rate, progress=None
    )
    return sum(per_day["transactions"] for per_day in summary["rows"].values())


def prepared(work: Path, transactions: int, error_rate: float) -> int:
    """The day's exports under ``work``: generated once, reused while size and error rate are the same."""
    marker = work / "generated.json"
    wanted = {"transactions": transactions, "error_rate": error_rate}
    if marker.exists() and json.loads(marker.read_text())["wanted"] == wanted:
        return json.loads(marker.read_text())["rows"]
    shutil.rmtree(work, ignore_errors=True)
    rows = generate(work / "raw", transactions, error_rate)
    marker.write_text(json.dumps({"wanted": wanted, "rows": rows}))
    return rows


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def floor(spark, raw: Path, out: Path) -> float:
    from glue_jobs.lib.contract import partition_path

    files = str(raw / "transactions" / partition_path(RUN_DATE))
    return timed(
        lambda: spark.read.option("header", "true").csv(files).write.mode("overwrite").parquet(str(out))
    )


def job(spark, raw: Path, processed: Path):
    from glue_jobs.lib.raw_processing import process_run_date

    holder = {}
    seconds = timed(
        lambda: holder.setdefault("report", process_run_date(spark, str(raw), str(processed), RUN_DATE))
    )
    return seconds, holder["report"]


def main() -> None:
    args = parse_args()
    spark = session()
    lines = [f"{'run':<34}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'vs floor':>10}"]
    for size in args.transactions:
        work = Path(args.work) / str(size)
        rows = prepared(work, size, args.error_rate)
        # Not counted: the first run of a JVM pays for its JIT and the first read for the page cache.
        floor(spark, work / "raw", work / "floor")
        floors = [floor(spark, work / "raw", work / "floor")]
        seconds, report = job(spark, work / "raw", work / "processed")
        floors.append(floor(spark, work / "raw", work / "floor"))
        floor_rate = rows / statistics.mean(floors)
        for i, f in enumerate(floors, 1):
            lines.append(f"{f'floor #{i} (CSV→Parquet)':<34}{rows:>12,}{f:>10.1f}{rows / f:>12,.0f}{'':>10}")
        lines.append(
            f"{'raw-to-processed (whole day)':<34}{rows:>12,}{seconds:>10.1f}{rows / seconds:>12,.0f}"
            f"{rows / seconds / floor_rate:>10.2f}"
        )
        for entity in report.entities.values():
            lines.append("    " + entity.summary())
        print("\n".join(lines), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
