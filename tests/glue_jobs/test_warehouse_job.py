"""The curated-to-redshift entry script end to end on the warm Glue runtime (as the local target runs it)
against the embedded PostgreSQL: refused before the admin's set-up, then loaded twice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import psycopg

from glue_jobs.lib.warehouse import ensure_schema
from glue_jobs.runtime import DETERMINISTIC_EXIT_CODE

DAY = dt.date(2026, 3, 29)
TABLES = (
    "dim_client",
    "dim_provider",
    "daily_energy_balance",
    "daily_sales_by_segment",
    "daily_provider_purchases",
    "client_daily_consumption",
    "hourly_price_curve",
)


def write(frame, root: Path, table: str) -> None:
    frame.write.mode("overwrite").parquet(str(root / table / "year=2026" / "month=03" / "day=29"))


def tiny_lake(spark, lake: Path) -> None:
    curated, processed = lake / "curated", lake / "processed"
    write(
        spark.createDataFrame(
            [(DAY, Decimal("100.000"), Decimal("80.000"), 3)],
            "delivery_date date, purchased_kwh decimal(18,3), sold_kwh decimal(18,3), transaction_count bigint",
        ),
        curated,
        "daily_energy_balance",
    )
    write(
        spark.createDataFrame(
            [(DAY, "2.0TD", "28", "RESIDENTIAL", 1, Decimal("80.000"))],
            "delivery_date date, tariff string, province_code string, segment string, clients bigint, "
            "sold_kwh decimal(18,3)",
        ),
        curated,
        "daily_sales_by_segment",
    )
    write(
        spark.createDataFrame(
            [(DAY, "P01", Decimal("100.000"), Decimal("1.000000"))],
            "delivery_date date, provider_id string, purchased_kwh decimal(18,3), share_of_purchases decimal(7,6)",
        ),
        curated,
        "daily_provider_purchases",
    )
    write(
        spark.createDataFrame(
            [(DAY, "C01", "2.0TD", Decimal("80.000"))],
            "delivery_date date, client_id string, tariff string, total_kwh decimal(18,3)",
        ),
        curated,
        "client_daily_consumption",
    )
    write(
        spark.sql(
            "SELECT TIMESTAMP '2026-03-28 23:00:00' AS delivery_start, '00:00+01:00' AS local_hour, 1 AS hour_index "
            "UNION ALL SELECT TIMESTAMP '2026-03-29 00:00:00', '01:00+01:00', 2"
        ),
        curated,
        "hourly_price_curve",
    )
    write(
        spark.createDataFrame(
            [
                (
                    "C01",
                    "12345678Z",
                    "Nombre Apellido",
                    None,
                    "ES0021000000000000XY",
                    "2.0TD",
                    Decimal("4.600"),
                    "28",
                    "RESIDENTIAL",
                    dt.date(2025, 1, 1),
                    dt.datetime(2026, 3, 1, 10, 0),
                    "clients_20260329.csv",
                )
            ],
            "client_id string, tax_id string, full_name string, email string, cups string, tariff string, "
            "contracted_power_kw decimal(8,3), province_code string, segment string, signup_date date, "
            "updated_at timestamp, source_file string",
        ),
        processed,
        "clients",
    )
    write(
        spark.createDataFrame(
            [
                (
                    "P01",
                    "Solar SA",
                    "A58818501",
                    "GENERATOR",
                    "SOLAR",
                    "ES",
                    True,
                    dt.datetime(2026, 3, 1, 8, 0),
                    "providers_20260329.csv",
                )
            ],
            "provider_id string, legal_name string, tax_id string, provider_type string, technology string, "
            "country_code string, active boolean, updated_at timestamp, source_file string",
        ),
        processed,
        "providers",
    )


def load(run_glue_script, lake: Path, url: str, run_id: str):
    return run_glue_script(
        "curated_to_redshift", "--JOB_NAME", "curated-to-redshift", "--run_date", DAY.isoformat(),
        "--curated_path", str(lake / "curated"), "--processed_path", str(lake / "processed"),
        "--warehouse_url", url, "--run_id", run_id,
    )  # fmt: skip


def run_job(run_glue_script, lake: Path, url: str, run_id: str) -> str:
    done = load(run_glue_script, lake, url, run_id)
    assert done.code == 0, done.output[-3000:]
    return done.output


def warehouse_contents(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM energy.{t}").fetchall(), key=repr) for t in TABLES}


def test_the_job_loads_a_run_date_and_a_rerun_changes_nothing(spark, run_glue_script, bare_url, tmp_path):
    lake = tmp_path / "lake"
    tiny_lake(spark, lake)
    url = bare_url

    # Before the admin's set-up the job stops at once, naming the schema; no retry can change that.
    refused = load(run_glue_script, lake, url, "e2e-0")
    output = refused.output
    assert refused.code == DETERMINISTIC_EXIT_CODE, output[-3000:]
    [line] = [line for line in output.splitlines() if line.startswith("DeterministicJobFailure: ")]
    assert "warehouse schema 'energy' does not exist" in line and "docs/deployment.md" in line
    assert "Traceback" not in output

    with psycopg.connect(url) as conn:
        ensure_schema(conn)  # the local deploy step, standing for the admin
    first = run_job(run_glue_script, lake, url, "e2e-1")
    loaded = warehouse_contents(url)
    second = run_job(run_glue_script, lake, url, "e2e-2")

    expected_rows = {"dim_client": 1, "dim_provider": 1, "hourly_price_curve": 2}
    for table in TABLES:
        staged = expected_rows.get(table, 1)
        assert f"energy.{table}: staged {staged}, inserted {staged}, updated 0" in first
        assert f"energy.{table}: staged {staged}, inserted 0, updated 0" in second
        assert len(loaded[table]) == staged
    assert warehouse_contents(url) == loaded
    with psycopg.connect(url) as conn:
        audit = conn.execute(
            "SELECT run_id, count(*) FROM energy.load_audit GROUP BY run_id ORDER BY 1"
        ).fetchall()
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'energy' AND table_name = 'hourly_price_curve' ORDER BY ordinal_position"
        ).fetchall()
    assert audit == [("e2e-1", 7), ("e2e-2", 7)]
    assert [c[0] for c in columns] == ["delivery_start", "local_hour", "hour_index"]
