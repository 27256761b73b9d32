"""The curated zone's tables and their natural keys (docs/architecture.md).

One list for the KPI job, the warehouse MERGE, the DAG's assets and the tests. Pure Python with no import
beyond the standard library: the DAG file reads it at parse time.
"""

from __future__ import annotations

CURATED_KEYS: dict[str, tuple[str, ...]] = {
    "daily_energy_balance": ("delivery_date",),
    "daily_sales_by_segment": ("delivery_date", "tariff", "province_code", "segment"),
    "daily_provider_purchases": ("delivery_date", "provider_id"),
    "client_daily_consumption": ("delivery_date", "client_id"),
    "hourly_price_curve": ("delivery_start",),
}

CURATED_TABLES = tuple(CURATED_KEYS)
