"""Rows that break named rules of the contract on purpose, and how many of each were written."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from energy_datalake.generator import identifiers as ids
from energy_datalake.generator.columns import Columns, amount_cents
from energy_datalake.generator.population import client_rows, make_client
from glue_jobs.lib import contract

# Broken rows stay under 1 %, far from the quarantine threshold (5 % by default) that would fail the run.
MAX_ERROR_RATE = 0.01

TRANSACTION_ERROR_RULES = (
    "transactions.counterparty_id.unknown",
    "transactions.amount_eur.consistency",
    "transactions.price_eur_mwh.range",
    "transactions.tariff_period.tariff",
    "transactions.row.field_count",
    contract.DUPLICATE_EXACT,
    contract.DUPLICATE_KEY,
)
CLIENT_ERROR_RULES = ("clients.cups.format", "clients.tax_id.format")


def transaction_error_count(rows: int, error_rate: float) -> int:
    """How many of ``rows`` transactions to break: every rule at least once, unless the day is too small
    for that to stay under 1 %."""
    return max(round(rows * error_rate), min(len(TRANSACTION_ERROR_RULES), rows // 100))


def inject_transaction_errors(
    rng: np.random.Generator, cols: Columns, count: int, two_period_sales: np.ndarray, unknown_index: int
) -> tuple[dict[str, np.ndarray], Counter]:
    """Break ``count`` rows, rules taken in turn; returns the rows chosen per rule (row-level rules applied)."""
    per_rule = {
        rule: count // len(TRANSACTION_ERROR_RULES) + (i < count % len(TRANSACTION_ERROR_RULES))
        for i, rule in enumerate(TRANSACTION_ERROR_RULES)
    }
    chosen_period_rows = rng.choice(
        two_period_sales,
        size=min(per_rule["transactions.tariff_period.tariff"], len(two_period_sales)),
        replace=False,
    )
    per_rule["transactions.tariff_period.tariff"] = len(chosen_period_rows)
    free = np.ones(len(cols.is_sale), bool)
    free[chosen_period_rows] = False
    others = np.flatnonzero(free)
    picked = rng.choice(
        others,
        size=sum(v for k, v in per_rule.items() if k != "transactions.tariff_period.tariff"),
        replace=False,
    )
    rows: dict[str, np.ndarray] = {"transactions.tariff_period.tariff": chosen_period_rows}
    start = 0
    for rule in TRANSACTION_ERROR_RULES:
        if rule != "transactions.tariff_period.tariff":
            rows[rule] = picked[start : start + per_rule[rule]]
            start += per_rule[rule]

    cols.counterparty[rows["transactions.counterparty_id.unknown"]] = unknown_index
    cols.amount_cents[rows["transactions.amount_eur.consistency"]] += 100
    out_of_range = rows["transactions.price_eur_mwh.range"]
    cols.price_cents[out_of_range] = int(contract.PRICE_MAX_EUR_MWH) * 100 + 50_000
    cols.amount_cents[out_of_range] = amount_cents(
        cols.energy_milli[out_of_range], cols.price_cents[out_of_range]
    )
    cols.period[rows["transactions.tariff_period.tariff"]] = 5  # P6 on a three-period supply
    return rows, Counter({rule: len(r) for rule, r in rows.items() if len(r)})


def _line(table: pa.Table, row: int) -> str:
    return ",".join("" if v is None else v for v in table.slice(row, 1).to_pylist()[0].values())


def broken_lines(table: pa.Table, rows: dict[str, np.ndarray]) -> tuple[list[int], list[str]]:
    """Rows removed from the table and raw lines appended instead: short rows and duplicates."""
    removed, lines = [], []
    for r in rows.get("transactions.row.field_count", []):
        removed.append(int(r))
        lines.append(_line(table, int(r)).rsplit(",", 1)[0])
    for r in rows.get(contract.DUPLICATE_EXACT, []):
        lines.append(_line(table, int(r)))
    for r in rows.get(contract.DUPLICATE_KEY, []):
        fields = _line(table, int(r)).split(",")
        energy = int(fields[5].replace(".", "")) + 1000
        price = int(fields[6].replace(".", ""))
        fields[5] = f"{energy / 1000:.3f}"
        fields[7] = f"{int(amount_cents(np.array([energy]), np.array([price]))[0]) / 100:.2f}"
        lines.append(",".join(fields))
    return removed, lines


def broken_client_rows(seed: int, day: date, count: int) -> tuple[list[list[str]], Counter]:
    """Extra clients (with no transactions) whose CUPS letters or NIF letter are wrong."""
    rng = random.Random(f"{seed}:broken-clients:{day.isoformat()}")
    rows, errors = [], Counter()
    for n in range(count):
        client = make_client(
            rng, f"C{day:%Y%m%d}E{n + 1:02d}", day - timedelta(days=30), segment="RESIDENTIAL"
        )
        row = client_rows([client], day)[0]
        rule = CLIENT_ERROR_RULES[n % len(CLIENT_ERROR_RULES)]
        if rule == "clients.cups.format":
            good = row[4][18:20]
            row[4] = row[4][:18] + next(a + b for a in "TR" for b in "WA" if a + b != good) + row[4][20:]
        else:
            number = ids.make_nif(rng)
            row[1] = number[:-1] + ids.CONTROL_LETTERS[(ids.CONTROL_LETTERS.index(number[-1]) + 1) % 23]
        rows.append(row)
        errors[rule] += 1
    return rows, errors
