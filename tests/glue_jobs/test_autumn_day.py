"""The 25-hour day (2026-10-25 in Europe/Madrid: clocks go back at 03:00+02:00, so 02:00 happens twice)
through raw-to-processed and processed-to-curated, on generated exports of a few clients.

One run of both jobs for the module (``autumn_day``); the exports break no rule (``error_rate=0``), so every
quarantined or deduplicated row is the jobs' mistake, never the generator's.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from energy_datalake.generator import generate
from glue_jobs import processed_to_curated
from glue_jobs.lib import contract
from glue_jobs.lib.raw_processing import process_run_date

DAY = dt.date(2026, 10, 25)
CLIENTS = 4
PROVIDERS = 3
# 00:00+02:00 of the 25th is 22:00Z of the 24th; the day's 25 hours follow each other in UTC.
HOURS_UTC = [dt.datetime(2026, 10, 24, 22, tzinfo=dt.UTC) + dt.timedelta(hours=i) for i in range(25)]
# The Madrid labels in hour order: summer time (+02:00) up to the first 02:00, winter time (+01:00) from the
# second 02:00 on.
LOCAL_HOURS = [f"{h:02d}:00+02:00" for h in range(3)] + [f"{h:02d}:00+01:00" for h in range(2, 24)]


@pytest.fixture(scope="module")
def autumn_day(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("autumn_day")
    raw, processed, curated = (str(root / zone) for zone in ("raw", "processed", "curated"))
    generated = generate(
        DAY.isoformat(),
        clients=CLIENTS,
        providers=PROVIDERS,
        seed=11,
        out=raw,
        error_rate=0.0,
        progress=None,
    )
    report = process_run_date(spark, raw, processed, DAY, "jr_autumn")
    processed_to_curated.run(spark, DAY, processed, curated)
    return {"root": root, "generated": generated, "report": report}


def _raw_client_ids(root: Path) -> set[str]:
    folder = root / "raw" / Path(contract.raw_key("clients", DAY)).parent
    ids = set()
    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as f:
            ids |= {row["client_id"] for row in csv.DictReader(f)}
    return ids


def _read(spark, root: Path, zone: str, table: str):
    return spark.read.parquet(str(root / zone / table / contract.partition_path(DAY)))


def _epoch(instant: dt.datetime) -> int:
    return int(instant.timestamp())


def test_every_row_of_the_day_is_accepted(autumn_day):
    # Catches a rule that misreads the second 02:00 (e.g. the export-date rule or the duplicate window
    # judging by wall clock): its rows would be quarantined or dropped as duplicates.
    report = autumn_day["report"]
    written = autumn_day["generated"]["rows"][DAY.isoformat()]
    for entity in contract.ENTITIES:
        files = report.entities[entity].files
        assert sum(f.rows_read for f in files) == written[entity], entity
        assert [(f.status, f.rows_quarantined, f.rows_duplicate) for f in files] == [
            ("accepted", 0, 0)
        ] * len(files), entity


def test_each_client_keeps_one_reading_for_each_of_the_25_hours(spark, autumn_day):
    # Catches readings of the repeated hour lost or merged on the way to processed (a wall-clock key, a
    # timestamp parsed without its offset): some client would have 24 readings, or two at one instant.
    clients = _raw_client_ids(autumn_day["root"])
    assert len(clients) >= CLIENTS
    sales = _read(spark, autumn_day["root"], "processed", "transactions").where("transaction_type = 'SALE'")
    readings = Counter(
        (r["counterparty_id"], r["start"])
        for r in sales.selectExpr("counterparty_id", "cast(delivery_start AS long) AS start").collect()
    )
    assert readings == Counter({(c, _epoch(h)): 1 for c in clients for h in HOURS_UTC})


def test_the_price_curve_has_the_25_hours_told_apart(spark, autumn_day):
    # Catches a curve built on local wall-clock hours: the two 02:00 would collapse into one row (24
    # points), or one of them would carry both hours' energy and the other none.
    root = autumn_day["root"]
    curve = (
        _read(spark, root, "curated", "hourly_price_curve")
        .selectExpr(
            "cast(delivery_start AS long) AS start", "local_hour", "hour_index", "sold_kwh", "purchased_kwh"
        )
        .orderBy("hour_index")
        .collect()
    )
    assert [(r["hour_index"], r["start"], r["local_hour"]) for r in curve] == [
        (i + 1, _epoch(h), label) for i, (h, label) in enumerate(zip(HOURS_UTC, LOCAL_HOURS, strict=True))
    ]
    transactions = _read(spark, root, "processed", "transactions").selectExpr(
        "cast(delivery_start AS long) AS start", "transaction_type", "energy_kwh"
    )
    per_hour: dict[tuple[int, str], Decimal] = Counter()
    for r in transactions.collect():
        per_hour[r["start"], r["transaction_type"]] += r["energy_kwh"]
    for r in curve:
        # Every hour of the generated day has sales and purchases, so no hour may be empty.
        assert r["sold_kwh"] == per_hour[r["start"], "SALE"] > 0, r
        assert r["purchased_kwh"] == per_hour[r["start"], "PURCHASE"] > 0, r


def test_each_clients_consumption_counts_both_02_hours(spark, autumn_day):
    # Catches a day total built from 24 hours: the client's total would miss one of the two 02:00 readings.
    root = autumn_day["root"]
    sales = _read(spark, root, "processed", "transactions").where("transaction_type = 'SALE'")
    expected: dict[str, Decimal] = Counter()
    for r in sales.select("counterparty_id", "energy_kwh").collect():
        expected[r["counterparty_id"]] += r["energy_kwh"]
    consumption = _read(spark, root, "curated", "client_daily_consumption").select("client_id", "total_kwh")
    assert {r["client_id"]: r["total_kwh"] for r in consumption.collect()} == expected
