"""The day's transactions: one SALE per client and delivery hour, hourly PURCHASES that cover them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from energy_datalake.generator.columns import Columns, amount_cents, concat, decimal_strings, round_half_away
from energy_datalake.generator.errors import broken_lines, inject_transaction_errors, transaction_error_count
from energy_datalake.generator.population import Client, Provider
from energy_datalake.generator.reference import (
    HOURLY_SHAPE,
    KWH_PER_KW,
    MADRID,
    NATIONAL_HOLIDAYS,
    PRICE_SHAPE,
    SALE_MARGIN,
    SEGMENT_CODES,
    SIX_PERIOD_SEASON,
    WEEKEND_FACTOR,
)
from glue_jobs.lib import contract

PRICE_MIN_CENTS = int(contract.PRICE_MIN_EUR_MWH * 100)
PRICE_MAX_CENTS = int(contract.PRICE_MAX_EUR_MWH * 100)


def delivery_hours(day: date) -> list[datetime]:
    """The Madrid delivery hours of a day: 23 on the spring DST day, 25 on the autumn one."""
    start = datetime(day.year, day.month, day.day, tzinfo=MADRID).astimezone(UTC)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=MADRID).astimezone(UTC)
    count = int((end - start).total_seconds()) // 3600
    return [(start + timedelta(hours=h)).astimezone(MADRID) for h in range(count)]


def _is_off_day(day: date) -> bool:
    return day.weekday() >= 5 or (day.month, day.day) in NATIONAL_HOLIDAYS


def period_2_0td(day: date, hour: int) -> int:
    """Period number (1..3) of a 2.0TD supply at a local clock hour."""
    if _is_off_day(day) or hour < 8:
        return 3
    return 1 if 10 <= hour < 14 or 18 <= hour < 22 else 2


def period_six(day: date, hour: int) -> int:
    """Period number (1..6) of a 3.0TD / 6.xTD supply: the season decides which periods peak and shoulder use."""
    if _is_off_day(day) or hour < 8:
        return 6
    peak, shoulder = SIX_PERIOD_SEASON[day.month]
    return peak if 9 <= hour < 14 or 18 <= hour < 22 else shoulder


def _market_prices(rng: np.random.Generator, day: date, hours: list[datetime]) -> np.ndarray:
    level = rng.uniform(45.0, 110.0)
    # Spring middays are when solar pushes the Iberian price to zero or below.
    solar_depth = 1.25 if day.month in (3, 4, 5) else 0.0
    prices = []
    for h in hours:
        shape = PRICE_SHAPE[h.hour]
        midday = solar_depth if 11 <= h.hour < 17 else 0.0
        prices.append(level * (shape - midday * (1.0 - shape)) + rng.normal(0.0, 3.0))
    return np.clip(np.array(prices), float(contract.PRICE_MIN_EUR_MWH), float(contract.PRICE_MAX_EUR_MWH))


@dataclass
class DayTransactions:
    """The day's transactions as text columns, plus raw lines appended after them (the broken rows)."""

    table: pa.Table
    extra_lines: list[str]
    errors: Counter


def _sales(
    rng: np.random.Generator, day: date, hours: list[datetime], clients: list[Client], market: np.ndarray
) -> Columns:
    n, h = len(clients), len(hours)
    contracts = [c.contract_on(day) for c in clients]
    segment = np.array([SEGMENT_CODES[c.segment] for c in clients], dtype=np.int8)
    two_period = np.array([k.tariff == "2.0TD" for k in contracts])
    power = np.array([k.power_kw for k in contracts])
    offset = np.array([c.price_offset for c in clients])

    shapes = np.array([HOURLY_SHAPE[s] for s in contract.SEGMENTS])
    local_hours = np.array([t.hour for t in hours])
    off = _is_off_day(day)
    day_factor = np.array([WEEKEND_FACTOR[s] if off else 1.0 for s in contract.SEGMENTS])
    scale = power * np.array([KWH_PER_KW[s] for s in contract.SEGMENTS])[segment] * day_factor[segment]
    periods = np.array(
        [[period_2_0td(day, t.hour) - 1 for t in hours], [period_six(day, t.hour) - 1 for t in hours]]
    )
    margins = np.array([SALE_MARGIN[s] for s in contract.SEGMENTS])

    hour = np.repeat(np.arange(h), n)
    client = np.tile(np.arange(n), h)
    period = periods[np.where(two_period, 0, 1)[client], hour]
    energy = shapes[segment[client], local_hours[hour]] * scale[client] * rng.lognormal(0.0, 0.25, n * h)
    energy_milli = round_half_away(energy * 1000)
    # Retail prices never go negative: a negative market hour is passed on as zero, plus the margin.
    price = np.maximum(market[hour], 0.0) + margins[segment[client], period] + offset[client]
    price_cents = np.clip(round_half_away(price * 100), PRICE_MIN_CENTS, PRICE_MAX_CENTS)
    return Columns(
        np.ones(n * h, bool),
        client,
        hour,
        period.astype(np.int8),
        energy_milli,
        price_cents,
        amount_cents(energy_milli, price_cents),
    )


def _purchases(
    rng: np.random.Generator,
    sales: Columns,
    hours: list[datetime],
    providers: list[Provider],
    first_provider_index: int,
    market: np.ndarray,
) -> Columns:
    """A few providers per hour whose energy covers the hour's sales (with a small surplus)."""
    sold = np.bincount(sales.hour, weights=sales.energy_milli, minlength=len(hours))
    active = [i for i, p in enumerate(providers) if p.active and i > 0]
    rows = []
    for h in range(len(hours)):
        others = (
            rng.choice(active, size=min(len(active), int(rng.integers(2, 6))), replace=False)
            if active
            else []
        )
        chosen = [0, *sorted(int(i) for i in others)]
        shares = np.ones(1)
        if len(chosen) > 1:
            market_share = rng.uniform(0.5, 0.7)
            shares = np.concatenate(
                [[market_share], rng.dirichlet(np.ones(len(chosen) - 1)) * (1 - market_share)]
            )
        total = sold[h] * rng.uniform(0.99, 1.04)
        for p, share in zip(chosen, shares, strict=True):
            rows.append(
                (
                    first_provider_index + p,
                    h,
                    max(int(total * share), 1),
                    int(round((market[h] + providers[p].price_spread) * 100)),
                )
            )
    counterparty, hour, energy, price = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    price = np.clip(price, PRICE_MIN_CENTS, PRICE_MAX_CENTS)
    return Columns(
        np.zeros(len(rows), bool),
        counterparty,
        hour,
        np.full(len(rows), 6, np.int8),
        energy,
        price,
        amount_cents(energy, price),
    )


def _text_table(day: date, cols: Columns, hours: list[datetime], counterparty_ids: list[str]) -> pa.Table:
    n = len(cols.is_sale)
    width = max(7, len(str(n)))
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width=width, padding="0")
    created = [_created_at(t) for t in hours]
    # from_pydict rather than pa.table(): the latter imports pandas to check its argument.
    return pa.Table.from_pydict(
        {
            "transaction_id": pc.binary_join_element_wise(f"T{day:%Y%m%d}-", numbers, ""),
            "transaction_type": pa.array(["PURCHASE", "SALE"]).take(pa.array(cols.is_sale.astype(np.int8))),
            "counterparty_id": pa.array(counterparty_ids).take(pa.array(cols.counterparty)),
            "delivery_start": pa.array([t.isoformat() for t in hours]).take(pa.array(cols.hour)),
            "tariff_period": pa.array([*contract.TARIFF_PERIODS, None], pa.string()).take(
                pa.array(cols.period)
            ),
            "energy_kwh": decimal_strings(cols.energy_milli, 3),
            "price_eur_mwh": decimal_strings(cols.price_cents, 2),
            "amount_eur": decimal_strings(cols.amount_cents, 2),
            "created_at": pa.array(created).take(pa.array(cols.hour)),
        }
    )


def _created_at(delivery: datetime) -> str:
    # Metering settles each hour a few minutes after it ends.
    # Arithmetic in UTC: on DST days wall-clock arithmetic would skip or repeat an hour.
    return (delivery.astimezone(UTC) + timedelta(hours=1, minutes=7)).astimezone(MADRID).isoformat()


def day_transactions(
    seed: int, day: date, clients: list[Client], providers: list[Provider], error_rate: float
) -> DayTransactions:
    rng = np.random.default_rng([seed, day.toordinal()])
    hours = delivery_hours(day)
    market = _market_prices(rng, day, hours)
    sales = _sales(rng, day, hours, clients, market)
    cols = concat(sales, _purchases(rng, sales, hours, providers, len(clients), market))
    counterparty_ids = [c.client_id for c in clients] + [p.provider_id for p in providers] + ["C9999999"]
    rows: dict[str, np.ndarray] = {}
    errors: Counter = Counter()
    if error_rate > 0:
        on_2_0td = np.array([c.contract_on(day).tariff == "2.0TD" for c in clients])
        two_period = np.flatnonzero(on_2_0td[sales.counterparty])
        count = transaction_error_count(len(cols.is_sale), error_rate)
        rows, errors = inject_transaction_errors(rng, cols, count, two_period, len(counterparty_ids) - 1)
    table = _text_table(day, cols, hours, counterparty_ids)
    removed, lines = broken_lines(table, rows)
    if removed:
        keep = np.ones(table.num_rows, bool)
        keep[removed] = False
        table = table.filter(pa.array(keep))
    return DayTransactions(table, lines, errors)
