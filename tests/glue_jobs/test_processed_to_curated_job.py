"""The processed-to-curated entry script: reads the run date's partitions, writes the five KPI partitions."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal as D
from pathlib import Path

import pytest

from glue_jobs import processed_to_curated as job
from glue_jobs.lib.contract import CONTRACT
from glue_jobs.lib.kpis import TABLES

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 29)
OTHER_DAY = dt.date(2026, 3, 30)


def ddl(entity: str) -> str:
    """The processed schema (docs/architecture.md) as Spark DDL: enums are strings, + ``source_file``."""
    columns = [f"{c.name} {'string' if c.type == 'enum' else c.type}" for c in CONTRACT[entity].columns]
    return ", ".join([*columns, "source_file string"])


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def write_processed_day(
    spark, processed: Path, run_date: dt.date, sale_kwh: str, sale_eur: str, with_purchase: bool = True
) -> None:
    """One provider, one client, one purchase and one sale; partitions laid out as raw-to-processed does."""
    hour = utc(run_date.year, run_date.month, run_date.day, 10)
    purchase = ("T1", "PURCHASE", "PRV1", hour, None, D("100.000"), D("50.00"), D("5.00"), hour, "t.csv")
    sale = ("T2", "SALE", "C1", hour, "P1", D(sale_kwh), D("200.00"), D(sale_eur), hour, "t.csv")
    day = {
        "providers": [("PRV1", "OMIE", "A58818501", "MARKET", None, "ES", True, hour, "p.csv")],
        "clients": [
            (
                "C1", "12345678Z", "Ana", None, "ES0021000000000001XX", "2.0TD", D("4.600"), "28",
                "RESIDENTIAL", dt.date(2020, 1, 1), hour, "c.csv",
            )
        ],
        "transactions": [purchase, sale] if with_purchase else [sale],
    }  # fmt: skip
    for entity, rows in day.items():
        folder = processed / entity / day_folder(run_date)
        spark.createDataFrame(rows, ddl(entity)).coalesce(1).write.parquet(str(folder))


def day_folder(run_date: dt.date) -> Path:
    """Written out here rather than with the partition helper the job uses, so the test checks the layout."""
    return Path(f"year={run_date.year}", f"month={run_date.month:02d}", f"day={run_date.day:02d}")


def partition(curated: Path, table: str, run_date: dt.date) -> Path:
    return curated / table / day_folder(run_date)


def snapshot(curated: Path) -> dict[str, list[str]]:
    """{partition folder: content hashes of its data files}; file names carry a per-write id."""
    files: dict[str, list[str]] = {}
    for p in sorted(curated.rglob("*.parquet")):
        files.setdefault(str(p.parent.relative_to(curated)), []).append(
            hashlib.sha256(p.read_bytes()).hexdigest()
        )
    return {folder: sorted(hashes) for folder, hashes in files.items()}


def read_partition(spark, curated: Path, table: str, run_date: dt.date):
    return spark.read.parquet(str(partition(curated, table, run_date)))


@pytest.fixture
def zones(spark, tmp_path):
    processed, curated = tmp_path / "processed", tmp_path / "curated"
    write_processed_day(spark, processed, DAY, sale_kwh="10.000", sale_eur="2.00")
    write_processed_day(spark, processed, OTHER_DAY, sale_kwh="20.000", sale_eur="4.00")
    return processed, curated


@pytest.mark.slow
def test_rerunning_a_date_replaces_only_its_partitions(spark, zones):
    processed, curated = zones
    job.run(spark, OTHER_DAY, str(processed), str(curated))
    other_day_files = snapshot(curated)
    job.run(spark, DAY, str(processed), str(curated))
    first = snapshot(curated)

    job.run(spark, DAY, str(processed), str(curated))

    assert snapshot(curated) == first
    assert len(first) == 2 * len(TABLES)
    assert all(len(hashes) == 1 for hashes in first.values())
    assert {k: v for k, v in first.items() if "day=30" in k} == other_day_files
    [balance] = read_partition(spark, curated, "daily_energy_balance", DAY).collect()
    assert (balance.sold_kwh, balance.sales_revenue_eur, balance.transaction_count) == (
        D("10.000"),
        D("2.00"),
        2,
    )
    [other] = read_partition(spark, curated, "daily_energy_balance", OTHER_DAY).collect()
    assert other.sold_kwh == D("20.000")
    assert read_partition(spark, curated, "hourly_price_curve", DAY).count() == 23


def test_a_changed_day_is_replaced_not_appended(spark, zones, tmp_path):
    processed, curated = zones
    job.run(spark, DAY, str(processed), str(curated))
    corrected = tmp_path / "corrected"
    write_processed_day(spark, corrected, DAY, sale_kwh="30.000", sale_eur="6.00", with_purchase=False)

    job.run(spark, DAY, str(corrected), str(curated))

    sales = read_partition(spark, curated, "client_daily_consumption", DAY).collect()
    assert [(r.client_id, r.total_kwh) for r in sales] == [("C1", D("30.000"))]
    # The purchase is gone: the provider table's partition is emptied, not left as it was.
    purchases = read_partition(spark, curated, "daily_provider_purchases", DAY)
    assert purchases.count() == 0
    assert "share_of_purchases" in purchases.columns


def test_a_missing_processed_partition_is_an_error_naming_it(spark, zones):
    processed, curated = zones
    from pyspark.errors import AnalysisException

    with pytest.raises(
        AnalysisException, match=r"PATH_NOT_FOUND.*processed/providers/year=2026/month=03/day=31"
    ):
        job.run(spark, dt.date(2026, 3, 31), str(processed), str(curated))
    assert not curated.exists()


def test_a_malformed_run_date_is_refused_before_spark():
    from glue_jobs.runtime import DeterministicJobFailure

    argv = [
        "j.py",
        "--JOB_NAME",
        "p",
        "--run_date",
        "2026-13-01",
        "--processed_path",
        "/p",
        "--curated_path",
        "/c",
    ]
    with pytest.raises(DeterministicJobFailure, match="YYYY-MM-DD, not '2026-13-01'"):
        job.arguments(argv)


def test_the_entry_script_writes_the_five_tables(spark, run_glue_script, zones):
    processed, curated = zones
    result = run_glue_script(
        "processed_to_curated", "--JOB_NAME", "processed-to-curated", "--run_date", DAY.isoformat(),
        "--processed_path", str(processed), "--curated_path", str(curated),
    )  # fmt: skip
    assert result.code == 0, result.output[-3000:]

    for table in TABLES:
        folder = partition(curated, table, DAY)
        assert list(folder.glob("part-*.snappy.parquet")), f"{table} has no Snappy Parquet under {folder}"
        assert read_partition(spark, curated, table, DAY).columns[0] == "delivery_date"
    assert sorted(p.name for p in curated.iterdir() if not p.name.startswith("_")) == sorted(TABLES)
    assert not any("year=2026/month=03/day=30" in str(p) for p in curated.rglob("*"))
    [provider] = read_partition(spark, curated, "daily_provider_purchases", DAY).collect()
    assert (provider.provider_id, provider.share_of_purchases) == ("PRV1", D("1.000000"))
