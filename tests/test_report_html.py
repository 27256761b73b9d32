"""``datalake report`` on a tiny curated lake written with pyarrow: no Spark, no Airflow, no PostgreSQL.

The lake holds a normal day (2026-03-30), the 23-hour day (2026-03-29) and the 25-hour day (2026-10-25);
2026-03-28 has nothing. Oracles are computed here from the Parquet with pyarrow.compute, never with the
report's own code.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from energy_datalake import airflow_env, checks, cli, config, report, templates
from energy_datalake.formatting import format_bytes
from energy_datalake.report import data
from energy_datalake.report import page as page_html
from glue_jobs.lib.contract import partition_path

NORMAL_DAY = dt.date(2026, 3, 30)
SHORT_DAY = dt.date(2026, 3, 29)  # last Sunday of March: no 02:00
LONG_DAY = dt.date(2026, 10, 25)  # last Sunday of October: 02:00 twice
EMPTY_DAY = dt.date(2026, 3, 28)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A mathtext expression matplotlib cannot parse (first: chart labels are cut short), and every way a name
# could break out of its cell.
HOSTILE_NAME = '$\\bad{$ <script>alert("x")</script> & <img src=x onerror=alert(1)> Energía'
DAY_CHARTS = ("price", "energy", "segments", "providers", "quarantine", "checks")

KWH = pa.decimal128(18, 3)
EUR = pa.decimal128(18, 2)
PRICE = pa.decimal128(12, 2)
SCHEMAS = {
    "hourly_price_curve": pa.schema(
        [
            ("delivery_date", pa.date32()),
            ("delivery_start", pa.timestamp("us", tz="UTC")),
            ("local_hour", pa.string()),
            ("hour_index", pa.int32()),
            ("purchased_kwh", KWH),
            ("sold_kwh", KWH),
            ("avg_purchase_price_eur_mwh", PRICE),
            ("avg_sale_price_eur_mwh", PRICE),
        ]
    ),
    "daily_energy_balance": pa.schema(
        [
            ("delivery_date", pa.date32()),
            ("purchased_kwh", KWH),
            ("sold_kwh", KWH),
            ("balance_kwh", KWH),
            ("purchase_cost_eur", EUR),
            ("sales_revenue_eur", EUR),
            ("gross_margin_eur", EUR),
            ("avg_purchase_price_eur_mwh", PRICE),
            ("avg_sale_price_eur_mwh", PRICE),
            ("active_clients", pa.int64()),
            ("transaction_count", pa.int64()),
        ]
    ),
    "daily_sales_by_segment": pa.schema(
        [
            ("delivery_date", pa.date32()),
            ("tariff", pa.string()),
            ("province_code", pa.string()),
            ("segment", pa.string()),
            ("clients", pa.int64()),
            ("sold_kwh", KWH),
            ("revenue_eur", EUR),
            ("avg_price_eur_mwh", PRICE),
        ]
    ),
    "daily_provider_purchases": pa.schema(
        [
            ("delivery_date", pa.date32()),
            ("provider_id", pa.string()),
            ("legal_name", pa.string()),
            ("provider_type", pa.string()),
            ("purchased_kwh", KWH),
            ("cost_eur", EUR),
            ("avg_price_eur_mwh", PRICE),
            ("share_of_purchases", pa.decimal128(7, 6)),
        ]
    ),
}
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("raw_record", pa.string()),
        ("rule", pa.string()),
        ("detail", pa.string()),
    ]
)


# The tiny lake


def lake_path() -> Path:
    return config.s3_root() / templates.load().lake_bucket


def write_parquet(folder: Path, rows: list[dict], schema: pa.Schema) -> Path:
    # Where the jobs put a partition (contract.partition_path below the table), with Spark's _SUCCESS beside.
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-00000-test.snappy.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    (folder / "_SUCCESS").touch()
    return path


def madrid_hours(day: dt.date) -> list[dt.datetime]:
    zone = ZoneInfo("Europe/Madrid")
    instant = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    hours = []
    while instant < end:
        hours.append(instant)
        instant += dt.timedelta(hours=1)
    return hours


def curve_rows(day: dt.date) -> list[dict]:
    zone = ZoneInfo("Europe/Madrid")
    rows = []
    for i, start in enumerate(madrid_hours(day), 1):
        traded = i != 4  # an hour without trades: 0 kWh, null prices
        rows.append(
            {
                "delivery_date": day,
                "delivery_start": start,
                "local_hour": start.astimezone(zone).isoformat(timespec="minutes")[len("YYYY-MM-DDT") :],
                "hour_index": i,
                "purchased_kwh": Decimal(f"{1000 + 37 * i}.125") if traded else Decimal(0),
                "sold_kwh": Decimal(f"{950 + 31 * i}.500") if traded else Decimal(0),
                "avg_purchase_price_eur_mwh": Decimal(f"{40 + i}.25") if traded else None,
                "avg_sale_price_eur_mwh": Decimal(f"{55 + i}.75") if traded else None,
            }
        )
    # Stored out of order: the report must put the hours in delivery order itself.
    return rows[::2] + rows[1::2]


def build_day(lake: Path, day: dt.date, scale: int = 1) -> None:
    curated = lake / "curated"
    write_parquet(
        curated / "hourly_price_curve" / partition_path(day), curve_rows(day), SCHEMAS["hourly_price_curve"]
    )
    balance = {
        "delivery_date": day,
        "purchased_kwh": Decimal("123456.789") * scale,
        "sold_kwh": Decimal("120000.001") * scale,
        "balance_kwh": Decimal("3456.788") * scale,
        "purchase_cost_eur": Decimal("5432.10") * scale,
        "sales_revenue_eur": Decimal("7654.32") * scale,
        "gross_margin_eur": Decimal("2222.22") * scale,
        "avg_purchase_price_eur_mwh": Decimal("44.00"),
        "avg_sale_price_eur_mwh": Decimal("63.79"),
        "active_clients": 321 * scale,
        "transaction_count": 4567 * scale,
    }
    write_parquet(
        curated / "daily_energy_balance" / partition_path(day), [balance], SCHEMAS["daily_energy_balance"]
    )
    segments = [
        # Two provinces of one segment x tariff: the report sums them.
        ("2.0TD", "28", "RESIDENTIAL", 40, "1500.250", "300.05"),
        ("2.0TD", "08", "RESIDENTIAL", 25, "900.125", "190.10"),
        ("2.0TD", "46", "SME", 3, "120.000", "25.20"),
        ("3.0TD", "28", "SME", 7, "8000.500", "1200.07"),
        ("6.1TD", "41", "INDUSTRIAL", 2, "60000.000", "3000.00"),
        ("6.1TD", "48", "INDUSTRIAL", 1, "25000.333", "1300.01"),
    ]
    write_parquet(
        curated / "daily_sales_by_segment" / partition_path(day),
        [
            {
                "delivery_date": day,
                "tariff": tariff,
                "province_code": province,
                "segment": segment,
                "clients": clients * scale,
                "sold_kwh": Decimal(kwh) * scale,
                "revenue_eur": Decimal(eur) * scale,
                "avg_price_eur_mwh": (Decimal(eur) * 1000 / Decimal(kwh)).quantize(Decimal("0.01")),
            }
            for tariff, province, segment, clients, kwh, eur in segments
        ],
        SCHEMAS["daily_sales_by_segment"],
    )
    # Twelve providers, so the top ten leaves two out; the hostile name buys the most.
    providers = [
        {
            "delivery_date": day,
            "provider_id": f"P{n:03d}",
            "legal_name": HOSTILE_NAME if n == 7 else f"Proveedor {n} S.A.",
            "provider_type": "TRADER" if n % 2 else "GENERATOR",
            "purchased_kwh": Decimal(f"{(50000 if n == 7 else 1000 * n + 3)}.250") * scale,
            "cost_eur": Decimal(f"{40 * n + 11}.75") * scale,
            "avg_price_eur_mwh": Decimal(f"{30 + n}.10"),
            "share_of_purchases": Decimal("0.050000"),
        }
        for n in range(1, 13)
    ]
    write_parquet(
        curated / "daily_provider_purchases" / partition_path(day),
        providers,
        SCHEMAS["daily_provider_purchases"],
    )
    quarantine = lake / "processed" / "quarantine"
    for entity, rules in {
        "transactions": {"transactions.price_eur_mwh.range": 3 * scale, "transactions.row.field_count": 2},
        "clients": {"clients.cups.format": 1},
    }.items():
        rows = [
            {"source_file": f"{entity}.csv", "line_number": i, "raw_record": "x", "rule": rule, "detail": "d"}
            for rule, count in rules.items()
            for i in range(count)
        ]
        write_parquet(quarantine / f"entity={entity}" / partition_path(day), rows, QUARANTINE_SCHEMA)
    checks.write_results(
        day.isoformat(),
        [
            checks.CheckResult(
                "keys_unique", "curated.daily_energy_balance", 0, 2048 * scale, True, query="keys_unique"
            ),
            checks.CheckResult(
                "keys_unique", "processed.transactions", 0, 2048 * scale, True, query="keys_unique"
            ),
            checks.CheckResult("value_ranges", "processed.transactions", 3, 512, False, query="value_ranges"),
        ],
    )


@pytest.fixture(scope="module")
def lake_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("report") / "datalake"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATALAKE_HOME", str(home))
        lake = lake_path()
        build_day(lake, SHORT_DAY)
        build_day(lake, NORMAL_DAY, scale=2)
        build_day(lake, LONG_DAY, scale=3)
        yield home


@pytest.fixture(scope="module")
def range_page(lake_home):
    """The report of 2026-03-28 (nothing) to 2026-03-30, written once for the tests that read it."""
    path = report.write_report(EMPTY_DAY, NORMAL_DAY, None)
    return path, Page.parse(path)


# Reading the page back


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.images: list[dict[str, str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.section_text: dict[str, str] = {}
        self.section_class: dict[str, str] = {}
        self._section: str | None = None
        self._table: str | None = None
        self._cell: list[str] | None = None

    @classmethod
    def parse(cls, path: Path) -> Page:
        page = cls()
        page.feed(path.read_text(encoding="utf-8"))
        page.close()
        return page

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attributes)
        elif tag == "section" and "id" in attributes:
            self._section = attributes["id"]
            self.section_class[self._section] = attributes.get("class", "")
            self.section_text.setdefault(self._section, "")
        elif tag == "table":
            self._table = attributes["data-table"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._section:
            self.section_text[self._section] += data

    def charts(self) -> dict[str, dict[str, str]]:
        return {image["data-chart"]: image for image in self.images}

    def rows(self, name: str) -> list[dict[str, str]]:
        header, *body = self.tables[name]
        return [dict(zip(header, row, strict=True)) for row in body]


def decimal(cell: str) -> Decimal:
    return Decimal(cell.replace(",", ""))


def png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def curated(day: dt.date, table: str) -> pa.Table:
    return pq.read_table(lake_path() / "curated" / table / partition_path(day))


# The page


def test_default_folder_holds_the_page_and_every_chart_png(range_page, lake_home):
    # Fails if a chart is left out, if the embedded image is not a PNG, or if the PNGs are not written beside.
    path, page = range_page
    assert path == lake_home / "reports" / f"{EMPTY_DAY}_{NORMAL_DAY}" / "report.html"
    expected = {f"{chart}-{day}" for chart in DAY_CHARTS for day in (SHORT_DAY, NORMAL_DAY)}
    expected.add(f"range-{EMPTY_DAY}_{NORMAL_DAY}")
    charts = page.charts()
    assert set(charts) == expected
    for name, image in charts.items():
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix), name
        embedded = base64.b64decode(image["src"][len(prefix) :], validate=True)
        width, height = png_size(embedded)
        assert width > 200 and height > 100, (name, width, height)
        assert (path.parent / f"{name}.png").read_bytes() == embedded
        assert image["id"] == f"chart-{name}"
        assert image["alt"].strip()


def test_every_chart_alt_text_names_its_chart(range_page):
    # Fails if two charts share an alt text or one alt does not say what it shows.
    _, page = range_page
    charts = page.charts()
    words = {
        "price": "price curve",
        "energy": "purchased vs sold",
        "segments": "segment and tariff",
        "providers": "providers",
        "quarantine": "quarantined",
        "checks": "checks",
        "range": "per day",
    }
    for name, image in charts.items():
        assert words[name.split("-")[0]] in image["alt"].lower(), (name, image["alt"])
    assert len({image["alt"] for image in charts.values()}) == len(charts)


def test_a_date_without_data_is_a_no_data_section(range_page):
    # Fails if an empty date is dropped from the page or raises instead of saying so.
    _, page = range_page
    section = f"day-{EMPTY_DAY}"
    assert "no-data" in page.section_class[section]
    assert f"No data for {EMPTY_DAY}." in page.section_text[section]
    assert "no-data" not in page.section_class[f"day-{SHORT_DAY}"]


def test_the_days_say_how_many_hours_they_have(range_page):
    # Fails if the hour count comes from a 24-hour assumption rather than the Madrid calendar.
    _, page = range_page
    assert "23 hours" in page.section_text[f"day-{SHORT_DAY}"]
    assert "24 hours" in page.section_text[f"day-{NORMAL_DAY}"]
    assert "23 hours" in page.charts()[f"price-{SHORT_DAY}"]["alt"]
    assert data.hours_in_day(LONG_DAY) == 25


def test_without_airflow_metadata_the_run_section_says_no_run_recorded(range_page, lake_home):
    # Fails if a missing metadata database raises, or the run section is silently left out.
    assert not airflow_env.database_path().exists()
    _, page = range_page
    for day in (SHORT_DAY, NORMAL_DAY):
        assert f"No run recorded for {day}." in page.section_text[f"day-{day}"]
        assert f"run-{day}" not in page.charts()


# Price curve in Madrid time


def test_the_25_hour_day_has_25_points_with_both_0200_hours(lake_home):
    # Fails if hours are keyed by wall-clock time (24 points) or left in storage order.
    table = curated(LONG_DAY, "hourly_price_curve")
    series = data.hourly_series(
        data.read_partition(lake_path() / "curated" / "hourly_price_curve", LONG_DAY), LONG_DAY
    )
    assert len(series.labels) == len(series.purchase_price) == len(series.sold_kwh) == 25
    assert len(set(series.labels)) == 25
    assert [label for label in series.labels if label.startswith("02:00")] == ["02:00 CEST", "02:00 CET"]
    assert "02:00\nCEST" in series.ticks and "02:00\nCET" in series.ticks
    ordered = table.sort_by("delivery_start")
    expected = [None if v is None else float(v) for v in ordered["avg_purchase_price_eur_mwh"].to_pylist()]
    assert series.purchase_price == expected
    assert series.purchased_kwh == [float(v) for v in ordered["purchased_kwh"].to_pylist()]


def test_the_23_hour_day_has_no_0200(lake_home):
    # Fails if the curve pads the missing hour or labels by UTC.
    rows = data.read_partition(lake_path() / "curated" / "hourly_price_curve", SHORT_DAY)
    series = data.hourly_series(rows, SHORT_DAY)
    assert len(series.labels) == 23
    assert series.labels[:3] == ["00:00 CET", "01:00 CET", "03:00 CEST"]
    assert not any(label.startswith("02:00") for label in series.labels)


def test_the_25_hour_day_page_draws_it(lake_home, tmp_path):
    # Fails if the chart title assumes 24 hours or the single-day page leaves out a chart.
    path = report.write_report(LONG_DAY, LONG_DAY, tmp_path / "long")
    charts = Page.parse(path).charts()
    assert set(charts) == {f"{chart}-{LONG_DAY}" for chart in DAY_CHARTS}
    assert "25 hours" in charts[f"price-{LONG_DAY}"]["alt"]


# Tables against the Parquet


def test_balance_table_equals_the_parquet(range_page):
    # Fails if a figure is rounded, scaled or taken from another day.
    _, page = range_page
    row = curated(SHORT_DAY, "daily_energy_balance").to_pylist()[0]
    cells = {r["figure"]: r["value"] for r in page.rows(f"balance-{SHORT_DAY}")}
    assert decimal(cells["energy purchased (kWh)"]) == row["purchased_kwh"]
    assert decimal(cells["energy sold (kWh)"]) == row["sold_kwh"]
    assert decimal(cells["gross margin (€)"]) == row["gross_margin_eur"]
    assert decimal(cells["transactions"]) == row["transaction_count"]


def test_sales_table_sums_provinces_per_segment_and_tariff(range_page):
    # Fails if provinces are not summed, or a segment x tariff is dropped or doubled.
    _, page = range_page
    table = curated(NORMAL_DAY, "daily_sales_by_segment")
    oracle = table.group_by(["segment", "tariff"]).aggregate(
        [("clients", "sum"), ("sold_kwh", "sum"), ("revenue_eur", "sum")]
    )
    expected = {
        (r["segment"], r["tariff"]): (r["clients_sum"], r["sold_kwh_sum"], r["revenue_eur_sum"])
        for r in oracle.to_pylist()
    }
    shown = {
        (r["segment"], r["tariff"]): (
            int(decimal(r["clients"])),
            decimal(r["sold kWh"]),
            decimal(r["revenue €"]),
        )
        for r in page.rows(f"segments-{NORMAL_DAY}")
    }
    assert shown == expected
    residential = next(r for r in page.rows(f"segments-{NORMAL_DAY}") if r["segment"] == "RESIDENTIAL")
    kwh, eur = expected[("RESIDENTIAL", "2.0TD")][1:]
    assert decimal(residential["average € / MWh"]) == (eur * 1000 / kwh).quantize(Decimal("0.01"))


def test_providers_table_is_the_top_ten_by_energy(range_page):
    # Fails if the order, the cut at ten or a value differs from the Parquet.
    _, page = range_page
    table = curated(SHORT_DAY, "daily_provider_purchases")
    top = table.take(pc.sort_indices(table, [("purchased_kwh", "descending")])[:10]).to_pylist()
    shown = page.rows(f"providers-{SHORT_DAY}")
    assert [r["provider"] for r in shown] == [r["provider_id"] for r in top]
    assert [decimal(r["purchased kWh"]) for r in shown] == [r["purchased_kwh"] for r in top]
    assert [decimal(r["cost €"]) for r in shown] == [r["cost_eur"] for r in top]


def test_quarantine_table_counts_rows_by_rule(range_page):
    # Fails if a rule's count, or an entity's rules, are lost.
    _, page = range_page
    expected = {}
    for entity in ("clients", "transactions"):
        folder = lake_path() / "processed" / "quarantine" / f"entity={entity}" / partition_path(NORMAL_DAY)
        counts = pq.read_table(folder).group_by("rule").aggregate([("rule", "count")])
        expected |= {(entity, r["rule"]): r["rule_count"] for r in counts.to_pylist()}
    shown = {(r["entity"], r["rule"]): int(decimal(r["rows"])) for r in page.rows(f"quarantine-{NORMAL_DAY}")}
    assert shown == expected


def test_checks_table_counts_each_querys_bytes_once(range_page):
    # Fails if a query's bytes are summed over its checks, or a failed check is shown as passed.
    _, page = range_page
    shown = {r["query"]: r for r in page.rows(f"checks-{NORMAL_DAY}")}
    assert shown["keys_unique"]["result"] == "2/2 passed"
    assert shown["keys_unique"]["data scanned"] == format_bytes(2048 * 2)
    assert shown["value_ranges"]["result"].startswith("FAILED")
    assert "value_ranges on processed.transactions: 3 offending" in shown["value_ranges"]["failing checks"]


# Escaping


def test_a_hostile_provider_name_is_text_in_its_cell(range_page):
    # Fails without html.escape (the parser would see a <script> and a stray <img>) or without escaping
    # matplotlib's mathtext ("$\bad{$" cannot be drawn, so the providers chart would be missing).
    path, page = range_page
    assert "script" not in page.tags
    assert all("data-chart" in image for image in page.images)
    names = [r["legal name"] for r in page.rows(f"providers-{SHORT_DAY}")]
    assert HOSTILE_NAME in names
    assert HOSTILE_NAME not in path.read_text(encoding="utf-8")
    assert f"providers-{SHORT_DAY}" in page.charts()


# Run durations


def test_run_section_shows_task_durations_and_their_wall_time():
    # Fails if the wall time is taken from the run's start date (here its business date, as runs of
    # `airflow dags test` record it) instead of its tasks, or if a task is left out.
    tasks = [
        airflow_env.TaskState("deploy_stacks", "success", 1, 10.0, "2026-03-29 10:00:10.000000"),
        airflow_env.TaskState("raw_to_processed", "success", 2, 45.5, "2026-03-29 10:01:00.000000"),
        airflow_env.TaskState("load_redshift", None, 0, None, None),
    ]
    run = airflow_env.DagRunState(
        "manual__x", "2026-03-29", "failed", "2026-03-29 00:00:00.000000", "2026-03-29 10:01:05.000000", tasks
    )
    assert data.run_seconds(run) == 60.0
    section = page_html.run_section(SHORT_DAY, run)
    assert [c.name for c in section.charts] == [f"run-{SHORT_DAY}"]
    png_size(section.charts[0].png)
    page = Page()
    page.feed(section.html)
    rows = page.rows(f"run-{SHORT_DAY}")
    assert [(r["task"], r["state"], r["seconds"]) for r in rows] == [
        ("deploy_stacks", "success", "10.0"),
        ("raw_to_processed", "success", "45.5"),
        ("load_redshift", "not run", "—"),
    ]
    assert "ran 60.0 s" in section.html


# The command


def test_main_writes_to_out_and_prints_the_path(lake_home, tmp_path, capsys):
    # Fails if --out is ignored or the path is not printed.
    out = tmp_path / "mine"
    assert report.main(argparse.Namespace(date=str(NORMAL_DAY), to=None, out=str(out))) == 0
    assert (out / "report.html").is_file()
    assert (out / f"price-{NORMAL_DAY}.png").is_file()
    assert str(out / "report.html") in capsys.readouterr().out


def test_a_range_without_data_is_one_line_naming_it_exit_1(datalake_home, capsys):
    # Fails if an empty lake produces an empty page, a traceback, or a message without the range.
    code = cli.main(["report", "--date", "2026-01-01", "--to", "2026-01-03"])
    error = capsys.readouterr().err
    assert code == 1
    assert error.count("\n") == 1 and "2026-01-01 to 2026-01-03" in error
    assert not (datalake_home / "reports").exists()


def test_a_range_ending_before_it_starts_is_one_line_exit_2(datalake_home, capsys):
    # Fails if --to before --date is accepted (an empty range) or raises.
    code = report.main(argparse.Namespace(date="2026-03-29", to="2026-03-28", out=None))
    assert code == 2
    assert capsys.readouterr().err == "datalake report: --to 2026-03-28 is before --date 2026-03-29\n"
