"""The report's charts, drawn with matplotlib (Agg) to PNG bytes; a chart is named for its file and its
``data-chart`` attribute (``price-2026-03-29``) and carries the alt text that says what it shows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from energy_datalake import airflow_env
from energy_datalake.formatting import format_bytes
from energy_datalake.report.data import (
    DayData,
    HourlySeries,
    hours_in_day,
    number,
    order,
    percent,
)
from glue_jobs.lib.contract import SEGMENTS, TARIFFS

PURCHASE_COLOUR = "#2f6f9f"
SALE_COLOUR = "#e07b39"
PASS_COLOUR = "#4a9d5b"
FAIL_COLOUR = "#c8443c"
OTHER_COLOUR = "#9a9a9a"
SEGMENT_COLOURS = {"RESIDENTIAL": "#6aa5d8", "SME": "#f2b25c", "INDUSTRIAL": "#7c6bb0", None: OTHER_COLOUR}


@dataclass
class Chart:
    name: str  # file stem and data-chart attribute: "price-2026-03-29"
    alt: str
    png: bytes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    try:
        figure.tight_layout()
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        _pyplot().close(figure)
    return buffer.getvalue()


def plain(text) -> str:
    """A label matplotlib draws as written: an even number of ``$`` would otherwise start mathtext (and a
    provider's name is not ours to trust)."""
    return str(text).replace("$", r"\$")


def _short(text, width: int = 38) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def price_chart(day: dt.date, series: HourlySeries) -> Chart:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(11, 4))
    x = range(len(series.labels))
    nan = float("nan")
    for values, label, colour in (
        (series.purchase_price, "average purchase price", PURCHASE_COLOUR),
        (series.sale_price, "average sale price", SALE_COLOUR),
    ):
        axes.plot(
            x, [nan if v is None else v for v in values], marker="o", markersize=4, color=colour, label=label
        )
    hours = hours_in_day(day)
    axes.set_title(f"Hourly prices on {day} (Madrid time, {hours} hours)")
    axes.set_ylabel("€/MWh")
    axes.set_xticks(list(x), [plain(t) for t in series.ticks], fontsize=7.5)
    axes.set_xlim(-0.5, len(series.labels) - 0.5)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(frameon=False, fontsize=9)
    return Chart(f"price-{day}", f"Hourly price curve, {day} ({hours} hours, Madrid time)", _png(figure))


def energy_chart(day: dt.date, series: HourlySeries) -> Chart:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(11, 3.6))
    positions = list(range(len(series.labels)))
    axes.bar(
        [p - 0.2 for p in positions],
        [v / 1000 for v in series.purchased_kwh],
        0.4,
        color=PURCHASE_COLOUR,
        label="purchased",
    )
    axes.bar(
        [p + 0.2 for p in positions],
        [v / 1000 for v in series.sold_kwh],
        0.4,
        color=SALE_COLOUR,
        label="sold",
    )
    hours = hours_in_day(day)
    axes.set_title(f"Energy purchased vs sold per hour on {day} (Madrid time, {hours} hours)")
    axes.set_ylabel("MWh")
    axes.set_xticks(positions, [plain(t) for t in series.ticks], fontsize=7.5)
    axes.set_xlim(-0.6, len(positions) - 0.4)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(frameon=False, fontsize=9)
    return Chart(f"energy-{day}", f"Energy purchased vs sold per hour, {day}", _png(figure))


def segments_chart(day: dt.date, groups: list[dict]) -> Chart:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 3.6))
    tariffs = sorted({g["tariff"] for g in groups}, key=lambda t: order(TARIFFS, t))
    segments = sorted({g["segment"] for g in groups}, key=lambda s: order(SEGMENTS, s))
    bottom = [0.0] * len(tariffs)
    for segment in segments:
        heights = [
            sum(float(g["sold_kwh"]) / 1000 for g in groups if g["segment"] == segment and g["tariff"] == t)
            for t in tariffs
        ]
        axes.bar(
            [plain(t) for t in tariffs],
            heights,
            bottom=bottom,
            color=SEGMENT_COLOURS.get(segment, OTHER_COLOUR),
            label=plain(segment if segment is not None else "unknown"),
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.set_title(f"Energy sold by tariff and segment on {day}")
    axes.set_ylabel("MWh")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(frameon=False, fontsize=9)
    return Chart(f"segments-{day}", f"Sales by segment and tariff, {day}", _png(figure))


def _barh(
    title: str,
    labels: list[str],
    values: list[float],
    colours: list[str],
    xlabel: str,
    value_labels: list[str] | None = None,
):
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.32 * len(labels)))
    positions = list(range(len(labels)))[::-1]  # the first row at the top, as in the table
    axes.barh(positions, values, color=colours, height=0.6)
    # The value at the end of each bar: a bar of 0 is otherwise invisible.
    for position, value, text in zip(
        positions, values, value_labels or [number(float(v)) for v in values], strict=True
    ):
        axes.annotate(
            plain(text),
            (value, position),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=7.5,
        )
    axes.margins(x=0.12)
    axes.set_yticks(positions, [plain(_short(label)) for label in labels], fontsize=8)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", alpha=0.3)
    return figure


def providers_chart(day: dt.date, providers: list[dict]) -> Chart:
    figure = _barh(
        f"Top {len(providers)} providers by energy purchased on {day}",
        [f"{p['legal_name'] or p['provider_id']}" for p in providers],
        [float(p["purchased_kwh"] or 0) / 1000 for p in providers],
        [PURCHASE_COLOUR] * len(providers),
        "MWh purchased",
        [
            f"{number(float(p['purchased_kwh'] or 0) / 1000)} MWh ({percent(p['share_of_purchases'])})"
            for p in providers
        ],
    )
    return Chart(f"providers-{day}", f"Top providers by energy purchased, {day}", _png(figure))


def quarantine_chart(day: dt.date, quarantine: dict[str, dict[str, int]]) -> Chart:
    items = [(rule, n) for rules in quarantine.values() for rule, n in rules.items()]
    figure = _barh(
        f"Quarantined rows by rule on {day}",
        [rule for rule, _ in items],
        [n for _, n in items],
        [FAIL_COLOUR] * len(items),
        "rows",
        [number(n) for _, n in items],
    )
    return Chart(f"quarantine-{day}", f"Quarantined rows by rule, {day}", _png(figure))


def checks_chart(day: dt.date, queries: list[tuple[str, int, list[dict]]]) -> Chart:
    figure = _barh(
        f"Quality checks on {day}: data scanned per query (red: a check failed)",
        [query for query, _, _ in queries],
        [scanned / 1024 for _, scanned, _ in queries],
        [PASS_COLOUR if all(r["passed"] for r in results) else FAIL_COLOUR for _, _, results in queries],
        "KB scanned",
        [format_bytes(scanned) for _, scanned, _ in queries],
    )
    return Chart(f"checks-{day}", f"Quality checks and data scanned, {day}", _png(figure))


def run_chart(day: dt.date, run: airflow_env.DagRunState) -> Chart:
    colours = {"success": PASS_COLOUR, "failed": FAIL_COLOUR, "upstream_failed": FAIL_COLOUR}
    figure = _barh(
        f"Task durations of run {run.run_id} ({run.state})",
        [t.task_id for t in run.tasks],
        [t.duration or 0.0 for t in run.tasks],
        [colours.get(t.state, OTHER_COLOUR) for t in run.tasks],
        "seconds",
        ["not run" if t.duration is None else f"{t.duration:,.1f} s" for t in run.tasks],
    )
    return Chart(f"run-{day}", f"Run task durations, {day}", _png(figure))


def range_chart(days: list[DayData]) -> Chart:
    """Every day of the range side by side; a day without a balance stays an empty slot, not a missing one."""
    plt = _pyplot()
    figure, (energy, prices) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    first, last = days[0].day, days[-1].day
    balances = [
        d.tables["daily_energy_balance"][0] if d.tables["daily_energy_balance"] else None for d in days
    ]
    positions = list(range(len(days)))
    nan = float("nan")

    def column(name: str, scale: float = 1.0) -> list[float]:
        return [nan if b is None or b[name] is None else float(b[name]) / scale for b in balances]

    energy.bar(
        [p - 0.2 for p in positions],
        column("purchased_kwh", 1000),
        0.4,
        color=PURCHASE_COLOUR,
        label="purchased",
    )
    energy.bar([p + 0.2 for p in positions], column("sold_kwh", 1000), 0.4, color=SALE_COLOUR, label="sold")
    energy.set_ylabel("MWh")
    energy.set_title(f"Energy and average prices per day, {first} to {last}")
    energy.legend(frameon=False, fontsize=9)
    for name, label, colour in (
        ("avg_purchase_price_eur_mwh", "average purchase price", PURCHASE_COLOUR),
        ("avg_sale_price_eur_mwh", "average sale price", SALE_COLOUR),
    ):
        prices.plot(positions, column(name), marker="o", color=colour, label=label)
    # About a month of labels fits the width; a longer range labels every n-th day.
    step = max(1, -(-len(days) // 31))
    labels = [
        (f"{d.day:%a}\n{d.day:%m-%d}" + ("" if b else "\nno data")) if i % step == 0 else ""
        for i, (d, b) in enumerate(zip(days, balances, strict=True))
    ]
    prices.set_xticks(positions, labels, fontsize=8)
    prices.set_xlim(-0.6, len(days) - 0.4)  # the slot of a first or last day without data stays drawn
    prices.set_ylabel("€/MWh")
    prices.legend(frameon=False, fontsize=9)
    for axes in (energy, prices):
        axes.grid(axis="y", alpha=0.3)
    return Chart(
        f"range-{first}_{last}",
        f"Energy purchased vs sold and average prices per day, {first} to {last}",
        _png(figure),
    )
