"""What the report reads, and the figures it derives: nothing here draws or writes.

One ``DayData`` per date: its curated partitions (pyarrow, the partition columns in the path only), its
quarantine (``status.quarantined_by_rule``), its checks' results (``checks.read_results``) and its DAG run
(``airflow_env.latest_run``). The hourly series puts the curve's rows in delivery order with Madrid labels
that keep the two 02:00 hours of the last Sunday of October apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from energy_datalake import airflow_env, config
from glue_jobs.lib.contract import BUSINESS_TIMEZONE, SEGMENTS, TARIFFS, partition_path

MADRID = ZoneInfo(BUSINESS_TIMEZONE)
TOP_PROVIDERS = 10
# The curated tables the page shows; client_daily_consumption is per client, too fine for a daily page.
REPORT_TABLES = (
    "daily_energy_balance",
    "daily_sales_by_segment",
    "daily_provider_purchases",
    "hourly_price_curve",
)


class NoReportData(ValueError):
    """No date of the range has anything in the lake: no curated table, quarantine or check results."""


# Reading the lake


@dataclass
class DayData:
    day: dt.date
    tables: dict[str, list[dict]]
    quarantine: dict[str, dict[str, int]]
    checks: dict | None
    run: airflow_env.DagRunState | None

    @property
    def has_data(self) -> bool:
        return any(self.tables.values()) or bool(self.quarantine) or self.checks is not None


def lake_root() -> Path:
    from energy_datalake import templates

    return config.s3_root() / templates.load().lake_bucket


def read_partition(table_folder: Path, day: dt.date) -> list[dict]:
    """The rows of one date's partition of a Parquet table (no rows when the partition does not exist)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = table_folder / partition_path(day)
    if not folder.is_dir():
        return []
    # Spark leaves _SUCCESS and .crc files beside the data; the partition columns are in the path only.
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(("_", ".")))
    if not files:
        return []
    return pa.concat_tables([pq.ParquetFile(p).read() for p in files], promote_options="default").to_pylist()


def read_day(lake: Path, day: dt.date) -> DayData:
    from energy_datalake.checks import read_results
    from energy_datalake.status import quarantined_by_rule

    return DayData(
        day=day,
        tables={name: read_partition(lake / "curated" / name, day) for name in REPORT_TABLES},
        quarantine=quarantined_by_rule(lake / "processed" / "quarantine", day),
        checks=read_results(day.isoformat()),
        run=airflow_env.latest_run(day),
    )


# Madrid hours


def hours_in_day(day: dt.date) -> int:
    """23, 24 or 25: the length of the Madrid day (in UTC, since aware datetimes of one zone subtract as
    wall clocks)."""
    start = dt.datetime.combine(day, dt.time(), MADRID).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), MADRID).astimezone(dt.UTC)
    return int((end - start).total_seconds() // 3600)


@dataclass(frozen=True)
class HourlySeries:
    """One point per delivery hour of ``hourly_price_curve``, in delivery order."""

    labels: list[str]  # "02:00 CEST": unique within a day, the 25-hour day included
    ticks: list[str]  # the chart's x labels: the zone under the first hour and around a change of offset
    purchase_price: list[float | None]
    sale_price: list[float | None]
    purchased_kwh: list[float]
    sold_kwh: list[float]


def utc_instant(value: dt.datetime) -> dt.datetime:
    # Spark writes UTC instants; a reader without the Parquet's UTC flag gets them naive.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def hourly_series(rows: list[dict], day: dt.date) -> HourlySeries:
    rows = sorted(rows, key=lambda r: utc_instant(r["delivery_start"]))
    local = [utc_instant(r["delivery_start"]).astimezone(MADRID) for r in rows]
    labels, ticks = [], []
    for i, hour in enumerate(local):
        zone = hour.tzname()
        # A trade outside the day keeps its row (kpis.hourly_price_curve); its label says which day.
        outside = "" if hour.date() == day else f" ({hour:%m-%d})"
        labels.append(f"{hour:%H:%M} {zone}{outside}")
        offsets = {h.utcoffset() for h in local[max(i - 1, 0) : i + 2]}
        show_zone = i == 0 or len(offsets) > 1
        ticks.append(f"{hour:%H:%M}{outside}" + (f"\n{zone}" if show_zone else ""))
    return HourlySeries(
        labels=labels,
        ticks=ticks,
        purchase_price=[_float(r["avg_purchase_price_eur_mwh"]) for r in rows],
        sale_price=[_float(r["avg_sale_price_eur_mwh"]) for r in rows],
        purchased_kwh=[_float(r["purchased_kwh"]) or 0.0 for r in rows],
        sold_kwh=[_float(r["sold_kwh"]) or 0.0 for r in rows],
    )


def _float(value) -> float | None:
    return None if value is None else float(value)


# Aggregates shown in tables


def sales_by_segment_and_tariff(rows: list[dict]) -> list[dict]:
    """``daily_sales_by_segment`` summed over provinces: one row per segment x tariff, the average price
    weighted by volume as in the KPI table. Clients add up because a client has one province."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        group = groups.setdefault(
            (row["segment"], row["tariff"]),
            {
                "segment": row["segment"],
                "tariff": row["tariff"],
                "clients": 0,
                "sold_kwh": Decimal(0),
                "revenue_eur": Decimal(0),
            },
        )
        group["clients"] += row["clients"] or 0
        group["sold_kwh"] += row["sold_kwh"] or 0
        group["revenue_eur"] += row["revenue_eur"] or 0
    for group in groups.values():
        kwh = group["sold_kwh"]
        group["avg_price_eur_mwh"] = (
            (group["revenue_eur"] * 1000 / kwh).quantize(Decimal("0.01")) if kwh else None
        )
    return sorted(groups.values(), key=lambda g: (order(SEGMENTS, g["segment"]), order(TARIFFS, g["tariff"])))


def top_providers(rows: list[dict], n: int = TOP_PROVIDERS) -> list[dict]:
    return sorted(rows, key=lambda r: (-(r["purchased_kwh"] or 0), str(r["provider_id"])))[:n]


def order(known: tuple[str, ...], value) -> tuple[int, str]:
    """A sort key: the contract's order (tariffs, segments), then values it does not know, by name."""
    return (known.index(value), "") if value in known else (len(known), str(value))


def checks_by_query(document: dict) -> list[tuple[str, int, list[dict]]]:
    """(query, bytes scanned, its results) per check query: the results of one query share its bytes."""
    queries: dict[str, tuple[int, list[dict]]] = {}
    for result in document["results"]:
        query = result.get("query") or result["name"]
        scanned, results = queries.setdefault(query, (result["bytes_scanned"], []))
        results.append(result)
    return [(query, scanned, results) for query, (scanned, results) in queries.items()]


def run_seconds(run: airflow_env.DagRunState) -> float | None:
    """Wall time from the first task's start to the last task's end, None when no task ended.

    From the tasks, not the run's own start: a run started by ``airflow dags test`` may carry its business
    date as start date, which would make a run of two minutes last months.
    """
    spans = []
    for task in run.tasks:
        if task.end_date is None or task.duration is None:
            continue
        try:
            end = dt.datetime.fromisoformat(str(task.end_date))
        except ValueError:
            continue
        spans.append((end - dt.timedelta(seconds=task.duration), end))
    if not spans:
        return None
    return (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()


# Figures as text


def number(value, places: int | None = None) -> str:
    """Thousands separators; a Decimal keeps its own places (the table's value exactly), a float gets
    ``places``; None is an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{places if places is not None else 1}f}"
    return f"{value:,}"


def percent(share) -> str:
    return "—" if share is None else f"{float(share) * 100:.2f} %"
