"""``generate``: the days' three exports (providers, clients, transactions) under a raw-zone folder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from energy_datalake.generator.errors import MAX_ERROR_RATE, broken_client_rows
from energy_datalake.generator.files import RawZone, file_parts, write_snapshot, write_transactions
from energy_datalake.generator.population import (
    Client,
    Provider,
    base_population,
    client_rows,
    make_providers,
    population_anchor,
    provider_rows,
    signups,
)
from energy_datalake.generator.transactions import day_transactions
from glue_jobs.lib import contract


def _default_out() -> Path:
    from energy_datalake import config, templates

    return config.local_path(f"s3://{templates.load().lake_bucket}/raw")


def _check_arguments(days: int, clients: int, providers: int, error_rate: float) -> None:
    for name, value in (("days", days), ("clients", clients), ("providers", providers)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    if not 0 <= error_rate <= MAX_ERROR_RATE:
        raise ValueError(
            f"error_rate must be between 0 and {MAX_ERROR_RATE} so the quarantine threshold never trips, "
            f"not {error_rate}"
        )


def _start_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        # fromisoformat's own message does not always name the text ("day is out of range for month").
        raise ValueError(f"start date {text!r} is not a date (YYYY-MM-DD)") from None


def generate(
    start_date: str,
    days: int = 1,
    clients: int = 5000,
    providers: int = 40,
    seed: int = 42,
    out: str | Path | None = None,
    error_rate: float = 0.001,
    progress: Callable[[str], None] | None = print,
) -> dict:
    """Write ``days`` days of exports from ``start_date`` under the raw-zone folder ``out``.

    Returns ``{"out", "files" (keys relative to out), "rows" {date: {entity: rows written}},
    "errors" {date: {rule: count}}, "errors_total" {rule: count}}``.
    """
    _check_arguments(days, clients, providers, error_rate)
    start = _start_date(start_date)
    run = RawZone(Path(out) if out is not None else _default_out(), progress or (lambda _msg: None), [])
    anchor = population_anchor(start)
    population = base_population(seed, clients, anchor)
    provider_list = make_providers(seed, providers)
    summary: dict = {
        "out": str(run.out),
        "files": run.files,
        "rows": {},
        "errors": {},
        "errors_total": Counter(),
    }
    for offset in range(days):
        day = start + timedelta(days=offset)
        day_clients = population + signups(seed, clients, anchor, day)
        rows, errors = _write_day(run, seed, day, day_clients, provider_list, error_rate)
        summary["rows"][day.isoformat()] = rows
        summary["errors"][day.isoformat()] = dict(errors)
        summary["errors_total"].update(errors)
    summary["errors_total"] = dict(summary["errors_total"])
    return summary


def _write_day(
    run: RawZone, seed: int, day: date, clients: list[Client], providers: list[Provider], error_rate: float
) -> tuple[dict[str, int], Counter]:
    rows: dict[str, int] = {}
    folder = run.entity_folder("providers", day)
    write_snapshot(
        run.path("providers", day, None), contract.PROVIDERS.column_names, provider_rows(providers)
    )
    run.complete(folder)
    rows["providers"] = len(providers)

    client_table = client_rows(clients, day)
    errors: Counter = Counter()
    if error_rate > 0:
        broken, errors = broken_client_rows(seed, day, round(len(clients) * error_rate))
        client_table += broken
    folder = run.entity_folder("clients", day)
    write_snapshot(run.path("clients", day, None), contract.CLIENTS.column_names, client_table)
    run.complete(folder)
    rows["clients"] = len(client_table)

    tx = day_transactions(seed, day, clients, providers, error_rate)
    errors.update(tx.errors)
    folder = run.entity_folder("transactions", day)
    parts = list(file_parts(tx.table.num_rows))
    for i, (n, lo, hi) in enumerate(parts):
        path = run.path("transactions", day, n)
        extra = tx.extra_lines if i == len(parts) - 1 else []
        write_transactions(path, tx.table.slice(lo, hi - lo), extra)
        run.progress(f"{day} transactions: {path.name} ({hi - lo + len(extra):,} rows)")
    run.complete(folder)
    rows["transactions"] = tx.table.num_rows + len(tx.extra_lines)
    run.progress(
        f"{day} done: {rows['providers']} providers, {rows['clients']:,} clients, "
        f"{rows['transactions']:,} transactions, {sum(errors.values())} rows breaking rules"
    )
    return rows, errors
