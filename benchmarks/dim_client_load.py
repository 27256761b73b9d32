"""Time of the ``dim_client`` load (the canonical SCD2 of ``glue_jobs/lib/warehouse.plan_dim_client``) into
the local warehouse (PostgreSQL), in order, late and re-run.

    .venv/bin/python benchmarks/dim_client_load.py [--clients 50000] [--work /tmp/...]

The snapshots are built here with pyarrow (no Spark: the figure is the warehouse's work): ``--clients``
clients, of which 1 % change tariff on each following day. Into a fresh database of the embedded PostgreSQL,
with the admin's schema, through the loader's own code (``PostgresWriter.stage`` and the plan's statements,
in one transaction, then a commit), it times the loads of days 1, 2 and 4, then day 3 late, then a re-run of
day 3 (which must change nothing: its audit says 0 opened, closed or merged), and checks the history is
canonical afterwards (contiguous versions, one current per client, no two consecutive ones equal).

Writes ``benchmarks/results/dim_client_load.json``. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from decimal import Decimal
from pathlib import Path

from common import Figure, positive, write_results

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(4)]
TARIFFS = ("2.0TD", "3.0TD")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=positive, default=50_000)
    parser.add_argument("--work", default="/tmp/energy-datalake-bench-dim-client")
    return parser.parse_args()


def snapshot(clients: int, day_index: int):
    """The clients of day ``day_index``: client i switches tariff on each day d with i % 100 == d."""
    import pyarrow as pa

    from glue_jobs.lib import warehouse as wh

    ids = [f"C{i:08d}" for i in range(clients)]
    tariffs = [TARIFFS[sum(1 for d in range(1, day_index + 1) if i % 100 == d) % 2] for i in range(clients)]
    columns = {
        "client_id": pa.array(ids),
        "cups": pa.array([f"ES00210000{i:08d}XY" for i in range(clients)]),
        "tariff": pa.array(tariffs),
        "contracted_power_kw": pa.array([Decimal("4.600")] * clients, pa.decimal128(8, 3)),
        "province_code": pa.array(["28"] * clients),
        "segment": pa.array(["RESIDENTIAL"] * clients),
        "signup_date": pa.array([dt.date(2025, 1, 1)] * clients, pa.date32()),
    }
    names = [c.name for c in wh.dim_client_columns()]
    return pa.RecordBatch.from_arrays([columns[n] for n in names], names=names)


def load(url: str, day: dt.date, batch, run_id: str) -> tuple[float, tuple]:
    import psycopg

    from glue_jobs.lib import warehouse as wh
    from glue_jobs.warehouse_writers import PostgresWriter

    writer = PostgresWriter(url)
    run = wh.Run(run_id, day, dt.datetime.now(dt.UTC))
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        plan = wh.plan_dim_client(
            run, writer.staging_name(wh.DIM_CLIENT), writer.existing_columns(wh.LOAD_AUDIT)
        )
        writer.stage(conn, plan, [batch])
        for statement in plan.statements:
            conn.execute(statement)
        conn.commit()
    seconds = time.perf_counter() - start
    with psycopg.connect(url) as conn:
        audit = conn.execute(
            "SELECT rows_staged, rows_inserted, rows_updated, versions_opened, versions_closed, versions_merged "
            "FROM energy.load_audit WHERE run_id = %s",
            (run_id,),
        ).fetchone()
    return seconds, audit


def canonical_violations(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM (SELECT client_id, tariff, valid_to, is_current, "
            "LEAD(valid_from) OVER w AS next_from, LEAD(tariff) OVER w AS next_tariff "
            "FROM energy.dim_client WINDOW w AS (PARTITION BY client_id ORDER BY valid_from)) v "
            "WHERE (next_from IS NULL) <> is_current OR valid_to IS DISTINCT FROM next_from "
            "OR tariff = next_tariff"
        ).fetchone()[0]


def main() -> None:
    args = parse_args()
    from energy_datalake.emulator.redshift import Warehouse

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = Warehouse(work, database="dim_client_bench")
    url = server.start()
    server.ensure_schema()
    try:
        batches = {day: snapshot(args.clients, i) for i, day in enumerate(DAYS)}
        order = [(DAYS[0], "day 1"), (DAYS[1], "day 2"), (DAYS[3], "day 4"), (DAYS[2], "day 3, late")]
        order.append((DAYS[2], "day 3 again (re-run)"))
        timings = []
        for n, (day, label) in enumerate(order):
            seconds, audit = load(url, day, batches[day], f"bench-{n}")
            timings.append((label, seconds, audit))
            print(f"{label:<22} {seconds:6.2f} s  {args.clients / seconds:>10,.0f} clients/s  audit {audit}")
        violations = canonical_violations(url)
        print(f"history not canonical in {violations} places")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    figures = [
        Figure(
            measure=f"dim_client load, {label}, {args.clients:,} clients, clients/s",
            value=round(args.clients / seconds),
            unit="clients/s",
            detail={"seconds": round(seconds, 3), "audit": list(audit), "not_canonical": violations},
        )
        for label, seconds, audit in timings
    ]
    print(write_results("dim_client_load", figures))


if __name__ == "__main__":
    main()
