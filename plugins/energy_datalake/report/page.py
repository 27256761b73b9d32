"""The report's HTML: one page, every chart embedded as a base64 PNG, every value escaped."""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path

from energy_datalake import airflow_env
from energy_datalake.formatting import format_bytes
from energy_datalake.report.charts import (
    Chart,
    checks_chart,
    energy_chart,
    price_chart,
    providers_chart,
    quarantine_chart,
    range_chart,
    run_chart,
    segments_chart,
)
from energy_datalake.report.data import (
    MADRID,
    DayData,
    checks_by_query,
    hourly_series,
    hours_in_day,
    number,
    percent,
    run_seconds,
    sales_by_segment_and_tariff,
    top_providers,
)


def e(value) -> str:
    return html.escape("" if value is None else str(value))


def table(name: str, columns: list[str], rows: list[list], numeric: tuple[str, ...] = ()) -> str:
    """An HTML table of already formatted cells (escaped here); the ``numeric`` columns right-aligned."""
    attributes = [' class="num"' if c in numeric else "" for c in columns]
    head = "".join(f"<th{attributes[i]}>{e(c)}</th>" for i, c in enumerate(columns))
    body = "".join(
        "<tr>" + "".join(f"<td{attributes[i]}>{e(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table data-table="{e(name)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def figure_html(chart: Chart) -> str:
    data = base64.b64encode(chart.png).decode("ascii")
    return (
        f'<figure><img id="chart-{e(chart.name)}" data-chart="{e(chart.name)}" alt="{e(chart.alt)}" '
        f'src="data:image/png;base64,{data}"></figure>'
    )


@dataclass
class Section:
    html: str
    charts: list[Chart] = field(default_factory=list)


def summary_line(data: DayData) -> str:
    parts = []
    if data.tables["daily_energy_balance"]:
        b = data.tables["daily_energy_balance"][0]
        parts.append(
            f"bought {number(b['purchased_kwh'])} kWh for € {number(b['purchase_cost_eur'])}, "
            f"sold {number(b['sold_kwh'])} kWh for € {number(b['sales_revenue_eur'])}, "
            f"gross margin € {number(b['gross_margin_eur'])}, {number(b['active_clients'])} active clients"
        )
    else:
        parts.append("no curated tables")
    quarantined = sum(n for rules in data.quarantine.values() for n in rules.values())
    parts.append(f"{quarantined:,} rows quarantined")
    if data.checks is None:
        parts.append("checks not run")
    else:
        results = data.checks["results"]
        parts.append(f"checks {sum(r['passed'] for r in results)}/{len(results)} passed")
    if data.run is None:
        parts.append("no run recorded")
    else:
        seconds = run_seconds(data.run)
        parts.append(f"run {data.run.state}" + (f" in {seconds:,.0f} s" if seconds is not None else ""))
    return "; ".join(parts) + "."


def balance_table(day: dt.date, balance: dict) -> str:
    rows = [
        ["energy purchased (kWh)", number(balance["purchased_kwh"])],
        ["energy sold (kWh)", number(balance["sold_kwh"])],
        ["balance (kWh)", number(balance["balance_kwh"])],
        ["purchase cost (€)", number(balance["purchase_cost_eur"])],
        ["sales revenue (€)", number(balance["sales_revenue_eur"])],
        ["gross margin (€)", number(balance["gross_margin_eur"])],
        ["average purchase price (€/MWh)", number(balance["avg_purchase_price_eur_mwh"])],
        ["average sale price (€/MWh)", number(balance["avg_sale_price_eur_mwh"])],
        ["active clients", number(balance["active_clients"])],
        ["transactions", number(balance["transaction_count"])],
    ]
    return table(f"balance-{day}", ["figure", "value"], rows, numeric=("value",))


def checks_table(day: dt.date, queries: list[tuple[str, int, list[dict]]]) -> str:
    """One row per query: a query's checks share the data it scanned (Athena bills the query once)."""
    rows = []
    for query, scanned, results in queries:
        failed = [r for r in results if not r["passed"]]
        outcome = f"{len(results) - len(failed)}/{len(results)} passed"
        failures = "; ".join(
            f"{r['name']} on {r['table']}: {r.get('error') or str(r['failures']) + ' offending'}"
            for r in failed
        )
        rows.append(
            [query, outcome if not failed else f"FAILED ({outcome})", format_bytes(scanned), failures]
        )
    return table(
        f"checks-{day}",
        ["query", "result", "data scanned", "failing checks"],
        rows,
        numeric=("data scanned",),
    )


def run_section(day: dt.date, run: airflow_env.DagRunState | None) -> Section:
    if run is None:
        return Section(f'<p class="empty" data-empty="run-{e(day)}">No run recorded for {e(day)}.</p>')
    seconds = run_seconds(run)
    lines = (
        f"<p>Run <code>{e(run.run_id)}</code>: {e(run.state)}"
        + (f"; its tasks ran {e(number(seconds))} s, first start to last end" if seconds is not None else "")
        + f" (Airflow records start {e(run.start_date)}, end {e(run.end_date)}).</p>"
    )
    rows = [[t.task_id, t.state or "not run", t.try_number, number(t.duration)] for t in run.tasks]
    charts = [run_chart(day, run)] if run.tasks else []
    return Section(
        lines
        + "".join(figure_html(c) for c in charts)
        + table(f"run-{day}", ["task", "state", "tries", "seconds"], rows, numeric=("tries", "seconds")),
        charts,
    )


def day_section(data: DayData) -> Section:
    day = data.day
    hours = hours_in_day(day)
    heading = f'<h2>{e(day)} <span class="weekday">{e(f"{day:%A}")} · {hours} hours</span></h2>'
    if not data.has_data:
        run = "" if data.run is None else f" The run {e(data.run.run_id)} ended {e(data.run.state)}."
        return Section(
            f'<section class="day no-data" id="day-{e(day)}" data-date="{e(day)}">{heading}'
            f'<p class="empty">No data for {e(day)}.{run}</p></section>'
        )
    parts, charts = [heading, f'<p class="summary">{e(summary_line(data))}</p>'], []

    def add(title: str, chart: Chart | None, body: str = "") -> None:
        parts.append(f"<h3>{e(title)}</h3>")
        if chart is not None:
            charts.append(chart)
            parts.append(figure_html(chart))
        parts.append(body)

    curve = data.tables["hourly_price_curve"]
    if curve:
        series = hourly_series(curve, day)
        add("Hourly prices (Madrid time)", price_chart(day, series))
        energy = energy_chart(day, series)
    else:
        add("Hourly prices (Madrid time)", None, '<p class="empty">No hourly price curve for this day.</p>')
        energy = None
    balance = data.tables["daily_energy_balance"]
    add(
        "Energy purchased vs sold",
        energy,
        balance_table(day, balance[0]) if balance else '<p class="empty">No energy balance for this day.</p>',
    )
    groups = sales_by_segment_and_tariff(data.tables["daily_sales_by_segment"])
    add(
        "Sales by segment and tariff",
        segments_chart(day, groups) if groups else None,
        table(
            f"segments-{day}",
            ["segment", "tariff", "clients", "sold kWh", "revenue €", "average € / MWh"],
            [
                [
                    g["segment"],
                    g["tariff"],
                    number(g["clients"]),
                    number(g["sold_kwh"]),
                    number(g["revenue_eur"]),
                    number(g["avg_price_eur_mwh"]),
                ]
                for g in groups
            ],
            numeric=("clients", "sold kWh", "revenue €", "average € / MWh"),
        )
        if groups
        else '<p class="empty">No sales this day.</p>',
    )
    providers = top_providers(data.tables["daily_provider_purchases"])
    add(
        "Top providers",
        providers_chart(day, providers) if providers else None,
        table(
            f"providers-{day}",
            ["provider", "legal name", "type", "purchased kWh", "cost €", "average € / MWh", "share"],
            [
                [
                    p["provider_id"],
                    p["legal_name"],
                    p["provider_type"],
                    number(p["purchased_kwh"]),
                    number(p["cost_eur"]),
                    number(p["avg_price_eur_mwh"]),
                    percent(p["share_of_purchases"]),
                ]
                for p in providers
            ],
            numeric=("purchased kWh", "cost €", "average € / MWh", "share"),
        )
        if providers
        else '<p class="empty">No purchases this day.</p>',
    )
    quarantine = data.quarantine
    add(
        "Quarantine by rule",
        quarantine_chart(day, quarantine) if quarantine else None,
        table(
            f"quarantine-{day}",
            ["entity", "rule", "rows"],
            [[entity, rule, number(n)] for entity, rules in quarantine.items() for rule, n in rules.items()],
            numeric=("rows",),
        )
        if quarantine
        else '<p class="empty">No rows quarantined.</p>',
    )
    if data.checks is None:
        add("Quality checks", None, f'<p class="empty">No checks run for {e(day)}.</p>')
    else:
        queries = checks_by_query(data.checks)
        results = data.checks["results"]
        total = sum(scanned for _, scanned, _ in queries)
        line = (
            f"<p>{sum(r['passed'] for r in results)}/{len(results)} checks passed, {e(format_bytes(total))} scanned "
            f"(checked at {e(data.checks.get('checked_at'))}).</p>"
        )
        add(
            "Quality checks",
            checks_chart(day, queries) if queries else None,
            line + checks_table(day, queries),
        )
    run = run_section(day, data.run)
    parts.append("<h3>Run</h3>" + run.html)
    charts += run.charts
    return Section(
        f'<section class="day" id="day-{e(day)}" data-date="{e(day)}">{"".join(parts)}</section>', charts
    )


def range_section(days: list[DayData]) -> Section:
    with_balance = sum(1 for d in days if d.tables["daily_energy_balance"])
    rows = []
    for d in days:
        b = d.tables["daily_energy_balance"][0] if d.tables["daily_energy_balance"] else None
        run = "no run recorded" if d.run is None else d.run.state
        if b is None:
            rows.append([d.day, hours_in_day(d.day), "—", "—", "—", "—", run])
        else:
            rows.append(
                [
                    d.day,
                    hours_in_day(d.day),
                    number(b["purchased_kwh"]),
                    number(b["sold_kwh"]),
                    number(b["gross_margin_eur"]),
                    number(b["transaction_count"]),
                    run,
                ]
            )
    charts = [range_chart(days)] if with_balance > 1 else []
    body = "".join(figure_html(c) for c in charts) + table(
        f"range-{days[0].day}_{days[-1].day}",
        ["date", "hours", "purchased kWh", "sold kWh", "gross margin €", "transactions", "run"],
        rows,
        numeric=("hours", "purchased kWh", "sold kWh", "gross margin €", "transactions"),
    )
    return Section(f'<section class="range"><h2>The days side by side</h2>{body}</section>', charts)


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 1.5rem; color: #222; background: #fafafa; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #2f6f9f; padding-bottom: 0.2rem; margin-top: 2.5rem; }
h3 { margin: 1.6rem 0 0.4rem; color: #2f6f9f; } .weekday { font-weight: normal; color: #666; font-size: 0.8em; }
.meta, .empty { color: #666; } .summary { background: #eef4f9; padding: 0.6rem 0.8rem; border-radius: 6px; }
figure { margin: 0.4rem 0; } img { max-width: 100%; height: auto; background: white; border: 1px solid #e4e4e4; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; background: white; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
nav a { margin-right: 0.8rem; }
"""


def render_page(first: dt.date, last: dt.date, lake: Path, days: list[DayData]) -> Section:
    title = f"Energy data lake report, {first}" + ("" if first == last else f" to {last}")
    sections = ([range_section(days)] if len(days) > 1 else []) + [day_section(d) for d in days]
    nav = (
        "<nav>" + "".join(f'<a href="#day-{e(d.day)}">{e(d.day)}</a>' for d in days) + "</nav>"
        if len(days) > 1
        else ""
    )
    generated = dt.datetime.now(dt.UTC).astimezone(MADRID).isoformat(timespec="seconds")
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body><header><h1>{e(title)}</h1>"
        f'<p class="meta">Lake {e(lake)} · generated {e(generated)} · hours in Madrid time</p></header>'
        f"{nav}{''.join(s.html for s in sections)}</body></html>\n"
    )
    return Section(page, [c for s in sections for c in s.charts])
