"""The day's transactions as numeric columns in exact integer units, and their fixed-point text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def round_half_away(values: np.ndarray) -> np.ndarray:
    return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64)


def amount_cents(energy_milli: np.ndarray, price_cents: np.ndarray) -> np.ndarray:
    """amount_eur in cents = energy_kwh / 1000 × price, rounded half away from zero, in exact integers."""
    product = energy_milli.astype(np.int64) * price_cents.astype(np.int64)  # units of 1e-8 €
    return np.sign(product) * ((np.abs(product) + 500_000) // 1_000_000)


def decimal_strings(units: np.ndarray, scale: int) -> pa.Array:
    """Fixed-point text of integers counted in 10^-scale units (e.g. 1500, 3 → '1.500'), built in Arrow."""
    magnitude = np.abs(units)
    whole = pc.cast(pa.array(magnitude // 10**scale), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(magnitude % 10**scale), pa.string()), width=scale, padding="0")
    text = pc.binary_join_element_wise(whole, fraction, ".")
    if not (units < 0).any():
        return text
    return pc.if_else(pa.array(units < 0), pc.binary_join_element_wise("-", text, ""), text)


@dataclass
class Columns:
    """Numeric columns of the day's transactions, before they become text."""

    is_sale: np.ndarray
    counterparty: np.ndarray  # index into the counterparty id list
    hour: np.ndarray
    period: np.ndarray  # 0..5 for P1..P6, 6 for empty
    energy_milli: np.ndarray
    price_cents: np.ndarray
    amount_cents: np.ndarray


def concat(a: Columns, b: Columns) -> Columns:
    return Columns(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in Columns.__dataclass_fields__))
