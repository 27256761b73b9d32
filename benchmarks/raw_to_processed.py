"""Throughput of raw-to-processed against the floor (a plain Spark CSV→Parquet rewrite of the same files),
and how the three jobs grow from 1 M to 5 M transactions.

    .venv/bin/python benchmarks/raw_to_processed.py [--transactions 1000000 5000000] [--work /tmp/bench]

For each size it generates one day of exports (``energy_datalake.generator``, about 42 000 clients per
million transactions; kept under ``--work`` and reused by the next run of the same size), then, in ONE
Spark session configured like the local Glue runtime (the jobs and the floor started the same way: a
function call on a warm session, no JVM start in either), times:

- the floor, three times: the day's CSV files of every entity read with their header, every column a
  string, written as Parquet (the first run warms the JIT and the page cache and is not counted);
- raw-to-processed for the day (``process_run_date``: providers, clients, transactions), twice (the first
  run of a size warms the JIT for it and is not counted);
- processed-to-curated (``processed_to_curated.run``, the five KPI tables) and curated-to-redshift
  (``warehouse.load_all`` with the local ``PostgresWriter``, into a fresh database of the embedded
  PostgreSQL), once each.

Prints rows, seconds, rows/s and the ratio of the job's throughput to the floor's (median of the floor
runs), and writes ``benchmarks/results/raw_to_processed.json``: the ratio at each size (goal >= 0.67) and,
with two sizes, each job's cost at the larger size over the smaller one (goal <= 5.5 for 5 M / 1 M).
Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import time
from datetime import date
from pathlib import Path

from common import Figure, session, write_results

RUN_DATE = date(2026, 3, 29)
CLIENTS_PER_MILLION = 42_000
GOAL_RATIO = 0.67
GOAL_GROWTH = 5.5
JOBS = ("raw_to_processed", "processed_to_curated", "curated_to_redshift")


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
    """The plain rewrite of the day: each entity's CSV files read with their header, every column a string
    (multi-line where the contract lets a field hold a line break, as a correct plain read must), and
    written as Parquet."""
    from glue_jobs.lib.contract import CONTRACT, ENTITIES, partition_path

    def rewrite():
        for entity in ENTITIES:
            files = str(raw / entity / partition_path(RUN_DATE))
            reader = spark.read.option("header", "true").option("multiLine", CONTRACT[entity].multiline)
            reader.csv(files).write.mode("overwrite").parquet(str(out / entity))

    return timed(rewrite)


def job(spark, raw: Path, processed: Path):
    from glue_jobs.lib.raw_processing import process_run_date

    holder = {}
    seconds = timed(
        lambda: holder.setdefault("report", process_run_date(spark, str(raw), str(processed), RUN_DATE))
    )
    return seconds, holder["report"]


def curated(spark, processed: Path, out: Path) -> float:
    from glue_jobs import processed_to_curated

    return timed(lambda: processed_to_curated.run(spark, RUN_DATE, str(processed), str(out)))


def warehouse_load(spark, work: Path, processed: Path, curated_path: Path) -> float:
    """curated-to-redshift's load of the day (every table) into a fresh database: its main() without the
    argument parsing and the session start."""
    import psycopg

    from energy_datalake.emulator.redshift import SUPERUSER, Warehouse
    from glue_jobs.lib import warehouse
    from glue_jobs.lib.processed_writer import partition_uri
    from glue_jobs.warehouse_writers import PostgresWriter

    home = work.parent / "warehouse"
    server = Warehouse(home)
    server.start()
    name = f"bench_{work.name}"
    with psycopg.connect(server.url(database=SUPERUSER), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    database = Warehouse(home, database=name)
    url = database.start()
    database.ensure_schema()
    run = warehouse.Run(run_id=f"bench-{work.name}", run_date=RUN_DATE, loaded_at=dt.datetime.now(dt.UTC))

    def load():
        facts = {
            table: spark.read.parquet(partition_uri(str(curated_path), table, RUN_DATE))
            for table in warehouse.FACT_KEYS
        }
        clients = spark.read.parquet(partition_uri(str(processed), "clients", RUN_DATE))
        providers = spark.read.parquet(partition_uri(str(processed), "providers", RUN_DATE))
        warehouse.load_all(PostgresWriter(url), run, facts, clients, providers)

    return timed(load)


def main() -> None:
    args = parse_args()
    spark = session("bench-raw-to-processed")
    lines = [f"{'run':<34}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'vs floor':>10}"]
    figures, costs = [], {}
    try:
        for size in args.transactions:
            work = Path(args.work) / str(size)
            rows = prepared(work, size, args.error_rate)
            # Not counted: the first run of a JVM pays for its JIT and the first read for the page cache.
            floor(spark, work / "raw", work / "floor")
            job(spark, work / "raw", work / "processed")
            floors = [floor(spark, work / "raw", work / "floor")]
            seconds, report = job(spark, work / "raw", work / "processed")
            floors.append(floor(spark, work / "raw", work / "floor"))
            floor_s = statistics.median(floors)
            ratio = floor_s / seconds
            for i, f in enumerate(floors, 1):
                lines.append(
                    f"{f'floor #{i} (CSV→Parquet)':<34}{rows:>12,}{f:>10.1f}{rows / f:>12,.0f}{'':>10}"
                )
            lines.append(
                f"{'raw-to-processed (whole day)':<34}{rows:>12,}{seconds:>10.1f}{rows / seconds:>12,.0f}"
                f"{ratio:>10.2f}"
            )
            for entity in report.entities.values():
                lines.append("    " + entity.summary())
            curated_s = curated(spark, work / "processed", work / "curated")
            load_s = warehouse_load(spark, work, work / "processed", work / "curated")
            lines.append(f"{'processed-to-curated':<34}{'':>12}{curated_s:>10.1f}")
            lines.append(f"{'curated-to-redshift (all tables)':<34}{'':>12}{load_s:>10.1f}")
            print("\n".join(lines), flush=True)
            lines = []
            costs[size] = {
                "raw_to_processed": seconds,
                "processed_to_curated": curated_s,
                "curated_to_redshift": load_s,
            }
            figures.append(
                Figure(
                    f"raw-to-processed throughput / floor's (CSV→Parquet rewrite), {rows:,} transactions",
                    round(ratio, 3),
                    "ratio",
                    f">= {GOAL_RATIO}",
                    {
                        "rows": rows,
                        "job_s": round(seconds, 2),
                        "floor_s": [round(f, 2) for f in floors],
                        "started": "function calls on one warm local session (no JVM start in either)",
                    },
                    target=GOAL_RATIO,
                ),
            )
        if len(costs) >= 2:
            small, large = min(costs), max(costs)
            for name in JOBS:
                growth = costs[large][name] / costs[small][name]
                figures.append(
                    Figure(
                        f"{name}: cost at {large:,} / at {small:,} transactions",
                        round(growth, 2),
                        "ratio",
                        f"<= {GOAL_GROWTH} for 5 M / 1 M",
                        {"seconds": {str(size): round(c[name], 2) for size, c in costs.items()}},
                        target=GOAL_GROWTH,
                        better="lower",
                    )
                )
    finally:
        spark.stop()
        from energy_datalake.emulator.redshift import Warehouse

        Warehouse(Path(args.work) / "warehouse").stop()
    print(f"wrote {write_results('raw_to_processed', figures)}")


if __name__ == "__main__":
    main()
