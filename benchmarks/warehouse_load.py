"""Throughput of the warehouse load of ``client_daily_consumption`` into the local warehouse (PostgreSQL).

    .venv/bin/python benchmarks/warehouse_load.py [--clients 50000] [--repeat 5] [--work /tmp/...]

Inputs, built once per ``--clients`` under ``--work`` and reused by the next run of the same size, with the
project's own code paths: one day of exports (``energy_datalake.generator``), raw-to-processed
(``glue_jobs.lib.raw_processing.process_run_date``), then the day's curated partition
(``glue_jobs.processed_to_curated.run``, every KPI table). The warehouse is the embedded PostgreSQL of
``energy_datalake.emulator.redshift``, in ``--work``, with the admin's schema (``Warehouse.ensure_schema``).

Each repetition, in a fresh database, loads the table as ``curated_to_redshift`` does (``warehouse.load_all``
for this one table): a first load into the empty table, then a re-run of the same date with another run id.
Two spans of each load are timed separately:

- **load** (the throughput figure): ``warehouse.load_table(PostgresWriter(url), run, table, rows, key)``, i.e.
  the writer's look-up of the existing columns, the Spark job that reads the curated partition and hands the
  rows to the driver, the COPY into the staging table, the plan's SQL (audit, DELETEs, MERGE) and the commit;
- **key check**: ``warehouse.fact_rows(table, spark.read.parquet(<partition>))`` before it, the Spark job
  that refuses a null or repeated key (glue_jobs/lib/warehouse.py), reported beside the load.

Beside the wall time, the CPU seconds the load span took in Spark's JVM, this Python process and the
warehouse server, and rows per CPU second: on a shared machine the wall time depends on the other tenants,
the CPU time much less; with a free core per process the load takes about that long.

Not timed: the Spark and PostgreSQL start-up, building the inputs, the check of the table afterwards. One
untimed load into a database of its own first warms the JVM's JIT and the page cache.

Prints rows, seconds and rows/s per load and the re-run's audit counts (0 inserted, 0 updated expected),
checks that the re-run left the table identical (a digest of its COPY text), and writes the best and median
figures to ``benchmarks/results/warehouse_load.json``. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from common import Figure, positive, session, write_results

RUN_DATE = dt.date(2026, 3, 29)
TABLE = "client_daily_consumption"
GOAL_ROWS_PER_S = 100_000


@dataclass(frozen=True)
class Load:
    key_check_s: float
    load_s: float
    # CPU seconds of the load span, by process: Spark's JVM, this Python process, the warehouse server.
    cpu_s: dict[str, float]
    result: object  # warehouse.LoadResult

    @property
    def rows_per_s(self) -> float:
        return self.result.rows_staged / self.load_s

    @property
    def rows_per_cpu_s(self) -> float:
        return self.result.rows_staged / sum(self.cpu_s.values())


class CpuClock:
    """CPU seconds used so far by the JVM, this process and the warehouse server (with its exited backends,
    which the postmaster has reaped). On a shared machine the wall time depends on the other tenants; the
    CPU time much less so."""

    def __init__(self, pgdata: Path):
        import psutil

        self.psutil = psutil
        self.driver = psutil.Process()
        [self.jvm] = [p for p in self.driver.children(recursive=True) if p.name() == "java"]
        self.pgdata = pgdata

    def read(self) -> dict[str, float]:
        postmaster = self.psutil.Process(int((self.pgdata / "postmaster.pid").read_text().split()[0]))
        children = self._without_client_backends(postmaster)
        server = sum(postmaster.cpu_times()[:4])
        for child in children:
            with contextlib.suppress(self.psutil.NoSuchProcess):
                server += sum(child.cpu_times()[:2])
        return {
            "jvm": sum(self.jvm.cpu_times()[:2]),
            "driver": sum(self.driver.cpu_times()[:2]),
            "warehouse": server,
        }

    def _without_client_backends(self, postmaster, timeout_s: float = 5.0) -> list:
        """The server's processes once every closed connection's backend has exited and been reaped, so
        that its CPU time is in the postmaster's children's times, counted once."""
        deadline = time.monotonic() + timeout_s
        while True:
            children = postmaster.children()
            titles = []
            for child in children:
                try:
                    titles.append(" ".join(child.cmdline()))
                except self.psutil.NoSuchProcess:  # a zombie, or gone: not reaped yet
                    titles.append("")
            # A backend's process title names its client ("[local]"); an exited, unreaped one has none.
            if all(title and "[local]" not in title for title in titles):
                return children
            if time.monotonic() > deadline:
                raise RuntimeError(f"warehouse backends still running after {timeout_s}s: {titles}")
            time.sleep(0.005)

    @staticmethod
    def spent(start: dict[str, float], end: dict[str, float]) -> dict[str, float]:
        return {name: end[name] - start[name] for name in start}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=positive, default=50_000, help="clients of the generated day")
    parser.add_argument("--repeat", type=positive, default=5, help="timed first-load + re-run pairs")
    parser.add_argument(
        "--work",
        default="/tmp/energy-datalake-bench-warehouse",
        help="scratch folder (the lake of each size is reused; the warehouse lives here too)",
    )
    return parser.parse_args()


def prepared_lake(spark, lake: Path, clients: int) -> str:
    """The day's curated zone under ``lake``: built once, reused while the client count is the same."""
    from energy_datalake.generator import generate
    from glue_jobs import processed_to_curated
    from glue_jobs.lib.raw_processing import process_run_date

    marker = lake / "built.json"
    curated = lake / "curated"
    if marker.exists() and json.loads(marker.read_text()) == {"clients": clients}:
        return str(curated)
    shutil.rmtree(lake, ignore_errors=True)
    print(f"building the lake of {clients:,} clients under {lake} (once) ...", flush=True)
    generate(RUN_DATE.isoformat(), days=1, clients=clients, seed=7, out=lake / "raw", progress=None)
    process_run_date(spark, str(lake / "raw"), str(lake / "processed"), RUN_DATE)
    processed_to_curated.run(spark, RUN_DATE, str(lake / "processed"), str(curated))
    marker.write_text(json.dumps({"clients": clients}))
    return str(curated)


def load(spark, clock: CpuClock, url: str, curated: str, run_id: str) -> Load:
    from glue_jobs.lib import warehouse
    from glue_jobs.lib.processed_writer import partition_uri
    from glue_jobs.warehouse_writers import PostgresWriter

    run = warehouse.Run(run_id=run_id, run_date=RUN_DATE, loaded_at=dt.datetime.now(dt.UTC))
    start = time.perf_counter()
    rows = warehouse.fact_rows(TABLE, spark.read.parquet(partition_uri(curated, TABLE, RUN_DATE)))
    checked, cpu_at_start = time.perf_counter(), clock.read()
    result = warehouse.load_table(PostgresWriter(url), run, TABLE, rows, warehouse.FACT_KEYS[TABLE])
    seconds = time.perf_counter() - checked
    return Load(checked - start, seconds, clock.spent(cpu_at_start, clock.read()), result)


def fingerprint(url: str) -> tuple[int, str]:
    """Rows and a digest of the table's whole contents, in key order, as the server renders them."""
    import psycopg

    digest = hashlib.sha256()
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy(
            f"COPY (SELECT * FROM energy.{TABLE} ORDER BY delivery_date, client_id) TO STDOUT"
        ) as copy:
            for block in copy:
                digest.update(block)
        rows = conn.execute(f"SELECT count(*) FROM energy.{TABLE}").fetchone()[0]
    return rows, digest.hexdigest()


def fresh_database(home: Path, name: str) -> str:
    import psycopg

    from energy_datalake.emulator.redshift import SUPERUSER, Warehouse

    server = Warehouse(home)
    server.start()
    with psycopg.connect(server.url(database=SUPERUSER), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    database = Warehouse(home, database=name)
    url = database.start()
    database.ensure_schema()
    return url


def figure(label: str, loads: list[Load], detail: dict) -> Figure:
    best = max(loads, key=lambda one: one.rows_per_s)
    return Figure(
        f"{TABLE} {label}, rows/s (median of {len(loads)})",
        round(statistics.median(one.rows_per_s for one in loads)),
        "rows/s",
        f">= {GOAL_ROWS_PER_S:,} rows/s",
        {
            **detail,
            "rows": best.result.rows_staged,
            "best_load_s": round(best.load_s, 3),
            "median_load_s": round(statistics.median(one.load_s for one in loads), 3),
            "median_rows_per_s": round(statistics.median(one.rows_per_s for one in loads)),
            "load_s": [round(one.load_s, 3) for one in loads],
            "key_check_s": [round(one.key_check_s, 3) for one in loads],
            "median_cpu_s": {
                name: round(statistics.median(one.cpu_s[name] for one in loads), 3) for name in best.cpu_s
            },
            "median_rows_per_cpu_s": round(statistics.median(one.rows_per_cpu_s for one in loads)),
            "best_rows_per_s": round(best.rows_per_s),
        },
        target=GOAL_ROWS_PER_S,
    )


def main() -> None:
    args = parse_args()
    from energy_datalake.emulator.redshift import Warehouse

    work = Path(args.work)
    spark = session("bench-warehouse-load")
    curated = prepared_lake(spark, work / "lake" / str(args.clients), args.clients)
    home = work / "warehouse"
    firsts, reruns, identical, table_rows = [], [], [], []
    load_at_start = round(os.getloadavg()[0], 2)
    try:
        url = fresh_database(home, "bench_warmup")
        clock = CpuClock(Warehouse(home).pgdata)
        load(spark, clock, url, curated, "warm-up")
        for repetition in range(1, args.repeat + 1):
            url = fresh_database(home, f"bench_{repetition}")
            firsts.append(load(spark, clock, url, curated, f"bench-{repetition}-first"))
            after_first = fingerprint(url)
            reruns.append(load(spark, clock, url, curated, f"bench-{repetition}-rerun"))
            identical.append(fingerprint(url) == after_first)
            table_rows.append(after_first[0])
    finally:
        Warehouse(home).stop()
        spark.stop()
    load_at_end = round(os.getloadavg()[0], 2)

    lines = [
        f"{TABLE}, {args.clients:,} clients; load average (1 min) {load_at_start} at the start, "
        f"{load_at_end} at the end",
        f"{'':<18}{'rows':>9}{'key check s':>13}{'load s':>9}{'rows/s':>10}{'load cpu s':>12}"
        f"{'(jvm/py/pg)':>18}{'inserted':>10}{'updated':>9}{'deleted':>9}",
    ]
    for i, (first, rerun) in enumerate(zip(firsts, reruns, strict=True), 1):
        for label, one in ((f"#{i} first load", first), (f"#{i} re-run", rerun)):
            r = one.result
            lines.append(
                f"{label:<18}{r.rows_staged:>9,}{one.key_check_s:>13.3f}{one.load_s:>9.3f}"
                f"{one.rows_per_s:>10,.0f}{sum(one.cpu_s.values()):>12.3f}"
                f"{'/'.join(f'{v:.2f}' for v in one.cpu_s.values()):>18}"
                f"{r.rows_inserted:>10,}{r.rows_updated:>9,}{r.rows_deleted:>9,}"
            )
    for label, loads in (("first load", firsts), ("re-run", reruns)):
        lines.append(
            f"{label}: best {max(one.rows_per_s for one in loads):,.0f} rows/s, "
            f"median {statistics.median(one.rows_per_s for one in loads):,.0f} rows/s; "
            f"median {statistics.median(one.rows_per_cpu_s for one in loads):,.0f} rows per CPU second"
        )
    lines.append(f"re-runs left the table identical: {all(identical)} ({identical})")
    print("\n".join(lines), flush=True)

    detail = {
        "clients": args.clients,
        "repetitions": args.repeat,
        "timed": "warehouse.load_table with PostgresWriter (Spark read of the partition, COPY, SQL, commit); "
        "the key check (warehouse.fact_rows) apart",
        "load_average_1m": [load_at_start, load_at_end],
    }
    figures = [
        figure("first load", firsts, detail),
        figure("re-run of the same date", reruns, detail),
        Figure(
            f"{TABLE} re-run, rows inserted + updated (load_audit)",
            max(one.result.rows_inserted + one.result.rows_updated for one in reruns),
            "rows",
            "0, and the table identical",
            {
                "inserted": [one.result.rows_inserted for one in reruns],
                "updated": [one.result.rows_updated for one in reruns],
                "deleted": [one.result.rows_deleted for one in reruns],
                "table_identical_after_rerun": identical,
                "rows_in_table": table_rows,
            },
        ),
    ]
    print(f"wrote {write_results('warehouse_load', figures)}")


if __name__ == "__main__":
    main()
