"""The KPI tables on tiny hand-computed days (glue_jobs/lib/kpis.py).

Every expected figure is worked out by hand in the comments, never recomputed with the code under test.
The main example is 2026-10-25, the 25-hour day of Europe/Madrid: 00:00+02:00 is 22:00Z of the 24th,
02:00 happens twice (00:00Z as 02:00+02:00, 01:00Z as 02:00+01:00), and 23:00+01:00 is 22:00Z.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DecimalType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from glue_jobs.lib import kpis
from glue_jobs.lib.contract import CONTRACT

UTC = dt.UTC
AUTUMN_DAY = dt.date(2026, 10, 25)
SPRING_DAY = dt.date(2026, 3, 29)
SUMMER_DAY = dt.date(2026, 6, 15)


def processed_schema(entity: str) -> StructType:
    """The processed zone's schema of docs/architecture.md: contract types + ``source_file``."""

    def spark_type(type_: str):
        if type_.startswith("decimal("):
            precision, scale = type_[len("decimal(") : -1].split(",")
            return DecimalType(int(precision), int(scale))
        return {"boolean": BooleanType(), "timestamp": TimestampType(), "date": DateType()}.get(
            type_, StringType()
        )

    fields = [StructField(c.name, spark_type(c.type), True) for c in CONTRACT[entity].columns]
    return StructType([*fields, StructField("source_file", StringType(), True)])


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def transaction(tid, ttype, counterparty, start, period, kwh, price, amount):
    return (tid, ttype, counterparty, start, period, D(kwh), D(price), D(amount), start, "tx.csv")


def client(cid, tariff, province, segment):
    return (
        cid,
        "12345678Z",
        f"Name of {cid}",
        f"{cid.lower()}@example.com",
        "ES0021000000000001XX",
        tariff,
        D("5.750") if tariff == "2.0TD" else D("30.000"),
        province,
        segment,
        dt.date(2020, 1, 1),
        utc(2026, 1, 1),
        "clients.csv",
    )


def provider(pid, name, ptype):
    return (pid, name, "A58818501", ptype, None, "ES", True, utc(2026, 1, 1), "providers.csv")


@pytest.fixture(scope="module")
def clients(spark):
    rows = [
        client("C1", "2.0TD", "28", "RESIDENTIAL"),
        client("C2", "2.0TD", "28", "RESIDENTIAL"),
        client("C3", "3.0TD", "08", "SME"),
        client("C4", "6.1TD", "08", "INDUSTRIAL"),  # no sale that day
    ]
    return spark.createDataFrame(rows, processed_schema("clients"))


@pytest.fixture(scope="module")
def providers(spark):
    rows = [
        provider("PRV1", "Iberia Generacion SA", "GENERATOR"),
        provider("PRV2", "OMIE", "MARKET"),
        provider("PRV3", "Idle Trader SL", "TRADER"),  # nothing bought from it
    ]
    return spark.createDataFrame(rows, processed_schema("providers"))


@pytest.fixture(scope="module")
def autumn_transactions(spark):
    rows = [
        # Purchases: 2250 kWh for 190.00 EUR.
        transaction("T1", "PURCHASE", "PRV1", utc(2026, 10, 25, 0), None, "1000.000", "80.00", "80.00"),
        transaction("T2", "PURCHASE", "PRV2", utc(2026, 10, 25, 1), None, "750.000", "80.00", "60.00"),
        transaction("T3", "PURCHASE", "PRV1", utc(2026, 10, 25, 1), None, "500.000", "100.00", "50.00"),
        # Sales: 158 kWh for 22.91 EUR (0.38 + 0.23 + 0.80 + 11.00 + 10.50).
        transaction("T4", "SALE", "C1", utc(2026, 10, 25, 0), "P3", "2.500", "150.00", "0.38"),
        transaction("T5", "SALE", "C1", utc(2026, 10, 25, 1), "P3", "1.500", "150.00", "0.23"),
        transaction("T6", "SALE", "C2", utc(2026, 10, 25, 1), "P2", "4.000", "200.00", "0.80"),
        transaction("T7", "SALE", "C3", utc(2026, 10, 24, 22), "P6", "100.000", "110.00", "11.00"),
        transaction("T8", "SALE", "C3", utc(2026, 10, 25, 12), "P1", "50.000", "210.00", "10.50"),
    ]
    return spark.createDataFrame(rows, processed_schema("transactions"))


def rows(df, key_order=None):
    """Collected rows as dicts, sorted, so order never matters."""
    result = [r.asDict() for r in df.collect()]
    keys = key_order or sorted(result[0]) if result else []
    # (is None, value): nulls sort last and are never compared with values.
    return sorted(result, key=lambda r: tuple((r[k] is None, r[k]) for k in keys))


def test_daily_energy_balance(autumn_transactions):
    result = kpis.daily_energy_balance(autumn_transactions, AUTUMN_DAY)
    assert result.columns[0] == "delivery_date"
    assert rows(result) == [
        {
            "delivery_date": dt.date(2026, 10, 25),
            "purchased_kwh": D("2250.000"),
            "sold_kwh": D("158.000"),
            "balance_kwh": D("2092.000"),  # 2250 - 158
            "purchase_cost_eur": D("190.00"),
            "sales_revenue_eur": D("22.91"),
            "gross_margin_eur": D("-167.09"),  # 22.91 - 190.00
            "avg_purchase_price_eur_mwh": D("84.44"),  # 190 / 2250 * 1000 = 84.444...
            "avg_sale_price_eur_mwh": D("145.00"),  # 22.91 / 158 * 1000 = 145 exactly
            "active_clients": 3,  # C1, C2, C3
            "transaction_count": 8,
        }
    ]


def test_daily_sales_by_segment(autumn_transactions, clients):
    sales = kpis.sales_with_client(autumn_transactions, clients)
    result = kpis.daily_sales_by_segment(sales, AUTUMN_DAY)
    assert result.columns[:4] == ["delivery_date", "tariff", "province_code", "segment"]
    assert rows(result, ["tariff"]) == [
        {
            "delivery_date": dt.date(2026, 10, 25),
            "tariff": "2.0TD",
            "province_code": "28",
            "segment": "RESIDENTIAL",
            "clients": 2,  # C1 (twice) and C2
            "sold_kwh": D("8.000"),  # 2.5 + 1.5 + 4
            "revenue_eur": D("1.41"),  # 0.38 + 0.23 + 0.80
            "avg_price_eur_mwh": D("176.25"),  # 1.41 / 8 * 1000
        },
        {
            "delivery_date": dt.date(2026, 10, 25),
            "tariff": "3.0TD",
            "province_code": "08",
            "segment": "SME",
            "clients": 1,
            "sold_kwh": D("150.000"),  # 100 + 50
            "revenue_eur": D("21.50"),  # 11.00 + 10.50
            "avg_price_eur_mwh": D("143.33"),  # 21.5 / 150 * 1000 = 143.333...
        },
    ]


def test_daily_provider_purchases(autumn_transactions, providers):
    result = kpis.daily_provider_purchases(autumn_transactions, providers, AUTUMN_DAY)
    assert result.columns[:2] == ["delivery_date", "provider_id"]
    assert rows(result, ["provider_id"]) == [
        {
            "delivery_date": dt.date(2026, 10, 25),
            "provider_id": "PRV1",
            "legal_name": "Iberia Generacion SA",
            "provider_type": "GENERATOR",
            "purchased_kwh": D("1500.000"),  # 1000 + 500
            "cost_eur": D("130.00"),  # 80 + 50
            "avg_price_eur_mwh": D("86.67"),  # 130 / 1500 * 1000 = 86.666...
            "share_of_purchases": D("0.666667"),  # 1500 / 2250
        },
        {
            "delivery_date": dt.date(2026, 10, 25),
            "provider_id": "PRV2",
            "legal_name": "OMIE",
            "provider_type": "MARKET",
            "purchased_kwh": D("750.000"),
            "cost_eur": D("60.00"),
            "avg_price_eur_mwh": D("80.00"),
            "share_of_purchases": D("0.333333"),  # 750 / 2250
        },
    ]


def test_client_daily_consumption_has_periods_and_no_personal_data(autumn_transactions, clients):
    sales = kpis.sales_with_client(autumn_transactions, clients)
    result = kpis.client_daily_consumption(sales, AUTUMN_DAY)
    assert result.columns == [
        "delivery_date",
        "client_id",
        "tariff",
        "p1_kwh",
        "p2_kwh",
        "p3_kwh",
        "p4_kwh",
        "p5_kwh",
        "p6_kwh",
        "total_kwh",
        "revenue_eur",
    ]
    assert rows(result, ["client_id"]) == [
        # C1: two P3 sales, 2.5 + 1.5 kWh, 0.38 + 0.23 EUR.
        consumption("C1", "2.0TD", total="4.000", revenue="0.61", p3_kwh="4.000"),
        consumption("C2", "2.0TD", total="4.000", revenue="0.80", p2_kwh="4.000"),
        # C3: 50 kWh in P1 and 100 kWh in P6, 10.50 + 11.00 EUR. C4 sold nothing: no row.
        consumption("C3", "3.0TD", total="150.000", revenue="21.50", p1_kwh="50.000", p6_kwh="100.000"),
    ]


def consumption(client_id, tariff, total, revenue, **periods):
    """An expected client_daily_consumption row of the autumn day; periods not given are 0 kWh."""
    kwh = {f"p{n}_kwh": D(periods.get(f"p{n}_kwh", "0.000")) for n in range(1, 7)}
    return {
        "delivery_date": dt.date(2026, 10, 25),
        "client_id": client_id,
        "tariff": tariff,
        **kwh,
        "total_kwh": D(total),
        "revenue_eur": D(revenue),
    }


def curve_rows(df):
    """Hourly rows keyed by epoch seconds: Python datetimes from collect() are in the local zone."""
    return rows(df.withColumn("delivery_start", F.col("delivery_start").cast("long")), ["hour_index"])


def epoch(*args: int) -> int:
    return int(utc(*args).timestamp())


def empty_hour(hour_index, start, label, day):
    return {
        "delivery_date": day,
        "delivery_start": start,
        "local_hour": label,
        "hour_index": hour_index,
        "purchased_kwh": D("0.000"),
        "sold_kwh": D("0.000"),
        "avg_purchase_price_eur_mwh": None,
        "avg_sale_price_eur_mwh": None,
    }


def test_hourly_price_curve_on_the_25_hour_day(autumn_transactions):
    result = curve_rows(kpis.hourly_price_curve(autumn_transactions, AUTUMN_DAY))
    day = dt.date(2026, 10, 25)
    # Local labels written out: 00:00 and 01:00 in summer time, 02:00 twice, then 03:00..23:00 in winter.
    labels = ["00:00+02:00", "01:00+02:00", "02:00+02:00", "02:00+01:00"]
    labels += [f"{h:02d}:00+01:00" for h in range(3, 24)]
    first_hour = epoch(2026, 10, 24, 22)
    expected = [empty_hour(i + 1, first_hour + 3600 * i, label, day) for i, label in enumerate(labels)]
    # Hour 1 (22:00Z): T7 sold 100 kWh for 11.00 -> 110.00 EUR/MWh.
    expected[0].update(sold_kwh=D("100.000"), avg_sale_price_eur_mwh=D("110.00"))
    # Hour 3 (00:00Z, the first 02:00): T1 bought 1000 kWh for 80.00; T4 sold 2.5 kWh for 0.38 -> 152.00.
    expected[2].update(
        purchased_kwh=D("1000.000"),
        sold_kwh=D("2.500"),
        avg_purchase_price_eur_mwh=D("80.00"),
        avg_sale_price_eur_mwh=D("152.00"),
    )
    # Hour 4 (01:00Z, the second 02:00): T2 + T3 bought 1250 kWh for 110.00 -> 88.00;
    # T5 + T6 sold 5.5 kWh for 1.03 -> 187.2727... -> 187.27.
    expected[3].update(
        purchased_kwh=D("1250.000"),
        sold_kwh=D("5.500"),
        avg_purchase_price_eur_mwh=D("88.00"),
        avg_sale_price_eur_mwh=D("187.27"),
    )
    # Hour 15 (12:00Z = 13:00+01:00): T8 sold 50 kWh for 10.50 -> 210.00.
    expected[14].update(sold_kwh=D("50.000"), avg_sale_price_eur_mwh=D("210.00"))

    assert len(result) == 25
    assert result[3]["delivery_start"] == epoch(2026, 10, 25, 1)
    assert result[24]["delivery_start"] == epoch(2026, 10, 25, 22)
    assert result == expected


def test_hourly_price_curve_on_the_23_hour_day(spark):
    sales = spark.createDataFrame(
        [
            # 00:00Z is 01:00+01:00 (hour 2); 01:00Z is already 03:00+02:00 (hour 3).
            transaction("S1", "SALE", "C1", utc(2026, 3, 29, 0), "P3", "2.000", "100.00", "0.20"),
            transaction("S2", "SALE", "C1", utc(2026, 3, 29, 1), "P3", "3.000", "120.00", "0.36"),
        ],
        processed_schema("transactions"),
    )
    result = curve_rows(kpis.hourly_price_curve(sales, SPRING_DAY))
    day = dt.date(2026, 3, 29)
    labels = ["00:00+01:00", "01:00+01:00"] + [f"{h:02d}:00+02:00" for h in range(3, 24)]
    first_hour = epoch(2026, 3, 28, 23)
    expected = [empty_hour(i + 1, first_hour + 3600 * i, label, day) for i, label in enumerate(labels)]
    expected[1].update(sold_kwh=D("2.000"), avg_sale_price_eur_mwh=D("100.00"))
    expected[2].update(sold_kwh=D("3.000"), avg_sale_price_eur_mwh=D("120.00"))

    assert len(result) == 23
    assert result[-1]["delivery_start"] == epoch(2026, 3, 29, 21)  # 23:00+02:00
    assert result == expected


def test_a_day_without_purchases_has_null_purchase_prices(spark, clients, providers):
    sales_only = spark.createDataFrame(
        [transaction("S1", "SALE", "C3", utc(2026, 6, 15, 10), "P2", "40.000", "125.00", "5.00")],
        processed_schema("transactions"),
    )
    tables = kpis.build_all(sales_only, clients, providers, SUMMER_DAY)

    [balance] = rows(tables["daily_energy_balance"])
    assert balance["purchased_kwh"] == D("0.000")
    assert balance["purchase_cost_eur"] == D("0.00")
    assert balance["avg_purchase_price_eur_mwh"] is None
    assert balance["balance_kwh"] == D("-40.000")
    assert balance["gross_margin_eur"] == D("5.00")
    assert balance["avg_sale_price_eur_mwh"] == D("125.00")  # 5.00 / 40 * 1000
    assert tables["daily_provider_purchases"].count() == 0
    curve = rows(tables["hourly_price_curve"])
    assert len(curve) == 24
    assert all(hour["avg_purchase_price_eur_mwh"] is None for hour in curve)


def test_a_day_of_zero_kwh_purchases_has_null_prices_and_shares(spark, providers):
    zero_kwh = spark.createDataFrame(
        [transaction("T1", "PURCHASE", "PRV1", utc(2026, 6, 15, 10), None, "0.000", "90.00", "0.00")],
        processed_schema("transactions"),
    )
    [balance] = rows(kpis.daily_energy_balance(zero_kwh, SUMMER_DAY))
    assert balance["avg_purchase_price_eur_mwh"] is None
    assert balance["transaction_count"] == 1
    [purchase] = rows(kpis.daily_provider_purchases(zero_kwh, providers, SUMMER_DAY))
    assert purchase["avg_price_eur_mwh"] is None
    assert purchase["share_of_purchases"] is None


def test_a_day_without_any_transaction_still_has_its_balance_row(spark):
    nothing = spark.createDataFrame([], processed_schema("transactions"))
    assert rows(kpis.daily_energy_balance(nothing, SUMMER_DAY)) == [
        {
            "delivery_date": dt.date(2026, 6, 15),
            "purchased_kwh": D("0.000"),
            "sold_kwh": D("0.000"),
            "balance_kwh": D("0.000"),
            "purchase_cost_eur": D("0.00"),
            "sales_revenue_eur": D("0.00"),
            "gross_margin_eur": D("0.00"),
            "avg_purchase_price_eur_mwh": None,
            "avg_sale_price_eur_mwh": None,
            "active_clients": 0,
            "transaction_count": 0,
        }
    ]


def test_a_sale_of_an_unknown_client_is_kept_with_null_attributes(spark, clients):
    orphan = spark.createDataFrame(
        [transaction("S1", "SALE", "C9", utc(2026, 6, 15, 10), "P1", "10.000", "100.00", "1.00")],
        processed_schema("transactions"),
    )
    sales = kpis.sales_with_client(orphan, clients)
    [segment] = rows(kpis.daily_sales_by_segment(sales, SUMMER_DAY))
    assert (segment["tariff"], segment["sold_kwh"], segment["revenue_eur"]) == (None, D("10.000"), D("1.00"))


def test_build_all_returns_the_five_tables_typed(autumn_transactions, clients, providers):
    tables = kpis.build_all(autumn_transactions, clients, providers, AUTUMN_DAY)
    assert tuple(tables) == kpis.TABLES
    for df in tables.values():
        assert df.schema["delivery_date"].dataType == DateType()
    balance = tables["daily_energy_balance"].schema
    assert balance["purchased_kwh"].dataType == DecimalType(18, 3)
    assert balance["gross_margin_eur"].dataType == DecimalType(18, 2)
    assert balance["avg_sale_price_eur_mwh"].dataType == DecimalType(12, 2)
    assert tables["daily_provider_purchases"].schema["share_of_purchases"].dataType == DecimalType(7, 6)
    curve = tables["hourly_price_curve"].schema
    assert curve["delivery_start"].dataType == TimestampType()


def test_a_trade_outside_the_day_stays_in_the_hourly_curve(spark):
    # 23:00Z of the 25th is already 00:00+01:00 of the 26th: raw-to-processed should have refused it, and
    # if one slips through it is kept (no hour label) so the curve still reconciles with the processed sums.
    late = spark.createDataFrame(
        [transaction("S1", "SALE", "C1", utc(2026, 10, 25, 23), "P3", "7.000", "100.00", "0.70")],
        processed_schema("transactions"),
    )
    curve = curve_rows(kpis.hourly_price_curve(late, AUTUMN_DAY))
    assert len(curve) == 26
    [outside] = [hour for hour in curve if hour["hour_index"] is None]
    assert (outside["delivery_start"], outside["sold_kwh"]) == (epoch(2026, 10, 25, 23), D("7.000"))
