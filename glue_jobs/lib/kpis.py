"""The curated KPI tables of docs/architecture.md, from one day of the processed zone.

Pure PySpark: DataFrames with the processed schema in (docs/architecture.md), DataFrames out; no I/O, no
Python UDFs. ``build_all`` is the entry point; each table also has its own function so tests can build
tiny inputs for one KPI.

Every table starts with ``delivery_date`` (date): the Europe/Madrid business date, i.e. the run date.
Types: energy ``decimal(18,3)`` kWh; money ``decimal(18,2)`` EUR; prices ``decimal(12,2)`` EUR/MWh, rounded
half-up to the cent; counts ``bigint``. Every average price is volume-weighted,
``sum(amount_eur) / sum(energy_kwh) * 1000``, and null when its kWh sum is 0 (never a division error).

``daily_energy_balance`` — one row per day (also on a day without transactions), key ``delivery_date``:
    purchased_kwh, sold_kwh         energy bought from providers / sold to clients
    balance_kwh                     purchased_kwh - sold_kwh
    purchase_cost_eur               sum of the purchases' amount_eur
    sales_revenue_eur               sum of the sales' amount_eur
    gross_margin_eur                sales_revenue_eur - purchase_cost_eur
    avg_purchase_price_eur_mwh      volume-weighted purchase price
    avg_sale_price_eur_mwh          volume-weighted sale price
    active_clients                  distinct clients with at least one sale that day
    transaction_count               purchases + sales of the day

``daily_sales_by_segment`` — key ``delivery_date, tariff, province_code, segment`` (the client's row in the
day's clients snapshot):
    clients                         distinct clients with a sale
    sold_kwh, revenue_eur           energy and amount of their sales
    avg_price_eur_mwh               volume-weighted sale price

``daily_provider_purchases`` — key ``delivery_date, provider_id`` (providers the retailer bought from):
    legal_name, provider_type       from the day's providers snapshot
    purchased_kwh, cost_eur         energy and amount bought from the provider
    avg_price_eur_mwh               volume-weighted purchase price
    share_of_purchases              purchased_kwh / the day's purchased kWh, ``decimal(7,6)`` in 0..1
                                    (null when the day's purchased kWh is 0)

``client_daily_consumption`` — key ``delivery_date, client_id`` (clients with a sale that day); no personal
data (tax_id, full_name, email never leave the processed zone):
    tariff                          the client's tariff in the day's snapshot
    p1_kwh .. p6_kwh                energy sold in each tariff period, 0 when none
    total_kwh                       p1_kwh + ... + p6_kwh
    revenue_eur                     amount of the client's sales

``hourly_price_curve`` — key ``delivery_start``; one row per hour of the Madrid day (23, 24 or 25 rows),
hours without trades included with 0 kWh and null prices:
    delivery_start                  UTC instant the delivery hour starts (timestamp)
    local_hour                      Madrid wall-clock label with its offset, e.g. ``02:00+02:00``, so the
                                    two 02:00 hours of the last Sunday of October stay distinct
    hour_index                      1 .. 23/24/25: position of the hour within the day (int)
    purchased_kwh, sold_kwh         energy bought / sold for that hour
    avg_purchase_price_eur_mwh      volume-weighted purchase price of the hour
    avg_sale_price_eur_mwh          volume-weighted sale price of the hour

A sale whose client (or purchase whose provider) is missing from the day's snapshot is still counted, with
null descriptive columns, so curated totals always reconcile with the processed sums; the quality gate
reports the null keys.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType, TimestampType

from glue_jobs.lib.contract import BUSINESS_TIMEZONE, TARIFF_PERIODS
from glue_jobs.lib.curated_tables import CURATED_TABLES

KWH = "decimal(18,3)"
EUR = "decimal(18,2)"
PRICE = "decimal(12,2)"
SHARE = "decimal(7,6)"

PURCHASE = "PURCHASE"
SALE = "SALE"

TABLES = CURATED_TABLES


def build_all(
    transactions: DataFrame, clients: DataFrame, providers: DataFrame, run_date: dt.date
) -> dict[str, DataFrame]:
    """The five KPI tables of one run date, by table name (the names of ``TABLES``)."""
    sales = sales_with_client(transactions, clients)
    return {
        "daily_energy_balance": daily_energy_balance(transactions, run_date),
        "daily_sales_by_segment": daily_sales_by_segment(sales, run_date),
        "daily_provider_purchases": daily_provider_purchases(transactions, providers, run_date),
        "client_daily_consumption": client_daily_consumption(sales, run_date),
        "hourly_price_curve": hourly_price_curve(transactions, run_date),
    }


def sales_with_client(transactions: DataFrame, clients: DataFrame) -> DataFrame:
    """The day's sales with the tariff, province and segment of their client's snapshot row."""
    client_attributes = clients.select(
        F.col("client_id"), F.col("tariff"), F.col("province_code"), F.col("segment")
    )
    return (
        transactions.where(F.col("transaction_type") == SALE)
        .withColumnRenamed("counterparty_id", "client_id")
        .join(client_attributes, "client_id", "left")
    )


def daily_energy_balance(transactions: DataFrame, run_date: dt.date) -> DataFrame:
    is_purchase = F.col("transaction_type") == PURCHASE
    is_sale = F.col("transaction_type") == SALE
    # A global aggregate: one row even when the day has no transactions at all.
    totals = transactions.agg(
        _sum_where(is_purchase, "energy_kwh", KWH).alias("purchased_kwh"),
        _sum_where(is_sale, "energy_kwh", KWH).alias("sold_kwh"),
        _sum_where(is_purchase, "amount_eur", EUR).alias("purchase_cost_eur"),
        _sum_where(is_sale, "amount_eur", EUR).alias("sales_revenue_eur"),
        F.count_distinct(F.when(is_sale, F.col("counterparty_id"))).alias("active_clients"),
        F.count(F.lit(1)).alias("transaction_count"),
    )
    return totals.select(
        _delivery_date(run_date),
        "purchased_kwh",
        "sold_kwh",
        (F.col("purchased_kwh") - F.col("sold_kwh")).cast(KWH).alias("balance_kwh"),
        "purchase_cost_eur",
        "sales_revenue_eur",
        (F.col("sales_revenue_eur") - F.col("purchase_cost_eur")).cast(EUR).alias("gross_margin_eur"),
        weighted_price("purchase_cost_eur", "purchased_kwh").alias("avg_purchase_price_eur_mwh"),
        weighted_price("sales_revenue_eur", "sold_kwh").alias("avg_sale_price_eur_mwh"),
        "active_clients",
        "transaction_count",
    )


def daily_sales_by_segment(sales: DataFrame, run_date: dt.date) -> DataFrame:
    """From ``sales_with_client``: one row per tariff x province_code x segment with sales."""
    return (
        sales.groupBy("tariff", "province_code", "segment")
        .agg(
            F.count_distinct("client_id").alias("clients"),
            F.sum("energy_kwh").cast(KWH).alias("sold_kwh"),
            F.sum("amount_eur").cast(EUR).alias("revenue_eur"),
        )
        .select(
            _delivery_date(run_date),
            "tariff",
            "province_code",
            "segment",
            "clients",
            "sold_kwh",
            "revenue_eur",
            weighted_price("revenue_eur", "sold_kwh").alias("avg_price_eur_mwh"),
        )
    )


def daily_provider_purchases(transactions: DataFrame, providers: DataFrame, run_date: dt.date) -> DataFrame:
    per_provider = (
        transactions.where(F.col("transaction_type") == PURCHASE)
        .groupBy(F.col("counterparty_id").alias("provider_id"))
        .agg(
            F.sum("energy_kwh").cast(KWH).alias("purchased_kwh"),
            F.sum("amount_eur").cast(EUR).alias("cost_eur"),
        )
    )
    provider_attributes = providers.select("provider_id", "legal_name", "provider_type")
    # One row per provider (a few dozen): a day-wide window over them is cheap.
    day_kwh = F.sum("purchased_kwh").over(Window.partitionBy("delivery_date"))
    share = F.when(day_kwh != 0, F.round(F.col("purchased_kwh") / day_kwh, 6)).cast(SHARE)
    return (
        per_provider.join(provider_attributes, "provider_id", "left")
        .withColumn("delivery_date", _delivery_date(run_date))
        .select(
            "delivery_date",
            "provider_id",
            "legal_name",
            "provider_type",
            "purchased_kwh",
            "cost_eur",
            weighted_price("cost_eur", "purchased_kwh").alias("avg_price_eur_mwh"),
            share.alias("share_of_purchases"),
        )
    )


def client_daily_consumption(sales: DataFrame, run_date: dt.date) -> DataFrame:
    """From ``sales_with_client``: one row per client with a sale; kWh per tariff period."""
    period_columns = [
        _sum_where(F.col("tariff_period") == period, "energy_kwh", KWH).alias(f"{period.lower()}_kwh")
        for period in TARIFF_PERIODS
    ]
    return (
        sales.groupBy("client_id", "tariff")
        .agg(
            *period_columns,
            F.sum("energy_kwh").cast(KWH).alias("total_kwh"),
            F.sum("amount_eur").cast(EUR).alias("revenue_eur"),
        )
        .select(
            _delivery_date(run_date),
            "client_id",
            "tariff",
            *[f"{period.lower()}_kwh" for period in TARIFF_PERIODS],
            "total_kwh",
            "revenue_eur",
        )
    )


def hourly_price_curve(transactions: DataFrame, run_date: dt.date) -> DataFrame:
    is_purchase = F.col("transaction_type") == PURCHASE
    is_sale = F.col("transaction_type") == SALE
    per_hour = transactions.groupBy(_hour_start("delivery_start").alias("delivery_start")).agg(
        _sum_where(is_purchase, "energy_kwh", KWH).alias("purchased_kwh"),
        _sum_where(is_sale, "energy_kwh", KWH).alias("sold_kwh"),
        _sum_where(is_purchase, "amount_eur", EUR).alias("purchase_cost_eur"),
        _sum_where(is_sale, "amount_eur", EUR).alias("sales_revenue_eur"),
    )
    hours = day_hours(transactions.sparkSession, run_date)
    # Full outer: every hour of the day appears, and a trade outside the day is never dropped.
    curve = hours.join(per_hour, "delivery_start", "full_outer")
    return curve.select(
        _delivery_date(run_date),
        "delivery_start",
        "local_hour",
        "hour_index",
        F.coalesce("purchased_kwh", F.lit(0)).cast(KWH).alias("purchased_kwh"),
        F.coalesce("sold_kwh", F.lit(0)).cast(KWH).alias("sold_kwh"),
        weighted_price("purchase_cost_eur", "purchased_kwh").alias("avg_purchase_price_eur_mwh"),
        weighted_price("sales_revenue_eur", "sold_kwh").alias("avg_sale_price_eur_mwh"),
    )


HOUR_SCHEMA = StructType(
    [
        StructField("delivery_start", TimestampType(), False),
        StructField("local_hour", StringType(), False),
        StructField("hour_index", IntegerType(), False),
    ]
)


def day_hours(spark, run_date: dt.date) -> DataFrame:
    """The delivery hours of one Madrid day: 23, 24 or 25 rows (``delivery_start, local_hour, hour_index``).

    Built on the driver from the time-zone database: it is at most 25 rows, and the labels then never
    depend on the Spark session's time zone.
    """
    zone = ZoneInfo(BUSINESS_TIMEZONE)
    start = dt.datetime.combine(run_date, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    rows = []
    instant = start
    while instant < end:
        local = instant.astimezone(zone)
        label = local.isoformat(timespec="minutes")[len("YYYY-MM-DDT") :]
        rows.append((instant, label, len(rows) + 1))
        instant += dt.timedelta(hours=1)
    return spark.createDataFrame(rows, HOUR_SCHEMA)


def weighted_price(amount: str, kwh: str) -> Column:
    """Volume-weighted EUR/MWh: sum of amounts / sum of kWh * 1000; null when the kWh sum is 0 or null."""
    return F.when(F.col(kwh) != 0, F.round(F.col(amount) * 1000 / F.col(kwh), 2)).cast(PRICE)


def _sum_where(condition: Column, column: str, type_: str) -> Column:
    # 0 rather than null when nothing matches: "no purchases" is 0 kWh, not unknown.
    return F.coalesce(F.sum(F.when(condition, F.col(column))), F.lit(0)).cast(type_)


def _hour_start(timestamp: str) -> Column:
    # Epoch arithmetic rather than date_trunc, which truncates in the session time zone.
    return F.timestamp_seconds(F.floor(F.col(timestamp).cast("long") / 3600) * 3600)


def _delivery_date(run_date: dt.date) -> Column:
    return F.lit(run_date).alias("delivery_date")
