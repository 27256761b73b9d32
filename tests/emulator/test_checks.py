"""The quality gate on a small hand-built lake: passes when consistent, names each broken check."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energy_datalake import checks, templates
from energy_datalake.emulator.glue_crawler import run_crawler
from energy_datalake.pipeline.local import run_checks

RUN_DATE = "2026-03-29"
PARTITION = "year=2026/month=03/day=29"


def ts(hour: int) -> datetime:
    return datetime(2026, 3, 29, hour, tzinfo=UTC)


def dec(p: int, s: int) -> pa.DataType:
    return pa.decimal128(p, s)


RAW = {
    "providers": "provider_id,legal_name\nP1,Uno\nP2,Dos\n",
    # The last client row breaks the contract: quarantined.
    "clients": "client_id,tariff\nC1,2.0TD\nC2,3.0TD\nC3,2.0TD\nC4,9.9TD\n",
    # T3 is sent twice: one copy removed as a duplicate.
    "transactions": "transaction_id,transaction_type\nT1,PURCHASE\nT2,PURCHASE\nT3,SALE\nT3,SALE\nT4,SALE\nT5,SALE\n",
}

SCHEMAS = {
    "processed/providers": pa.schema([("provider_id", pa.string()), ("legal_name", pa.string())]),
    "processed/clients": pa.schema(
        [("client_id", pa.string()), ("tariff", pa.string()), ("contracted_power_kw", dec(8, 3))]
    ),
    "processed/transactions": pa.schema(
        [
            ("transaction_id", pa.string()),
            ("transaction_type", pa.string()),
            ("counterparty_id", pa.string()),
            ("delivery_start", pa.timestamp("us", tz="UTC")),
            ("tariff_period", pa.string()),
            ("energy_kwh", dec(14, 3)),
            ("price_eur_mwh", dec(10, 2)),
            ("amount_eur", dec(14, 2)),
        ]
    ),
    "processed/quarantine/entity=clients": pa.schema(
        [("source_file", pa.string()), ("line_number", pa.int64()), ("rule", pa.string())]
    ),
    "processed/load_manifest": pa.schema(
        [
            ("entity", pa.string()),
            ("source_file", pa.string()),
            ("status", pa.string()),
            ("rows_read", pa.int64()),
            ("rows_accepted", pa.int64()),
            ("rows_quarantined", pa.int64()),
            ("rows_duplicate", pa.int64()),
        ]
    ),
    "curated/daily_energy_balance": pa.schema(
        [
            ("delivery_date", pa.date32()),
            ("purchased_kwh", dec(18, 3)),
            ("sold_kwh", dec(18, 3)),
            ("purchase_cost_eur", dec(18, 2)),
            ("sales_revenue_eur", dec(18, 2)),
            ("avg_purchase_price_eur_mwh", dec(10, 2)),
            ("avg_sale_price_eur_mwh", dec(10, 2)),
            ("active_clients", pa.int64()),
            ("transaction_count", pa.int64()),
        ]
    ),
    "curated/daily_sales_by_segment": pa.schema(
        [
            ("delivery_date", pa.date32()),
            ("tariff", pa.string()),
            ("province_code", pa.string()),
            ("segment", pa.string()),
            ("clients", pa.int64()),
            ("sold_kwh", dec(18, 3)),
            ("revenue_eur", dec(18, 2)),
            ("avg_price_eur_mwh", dec(10, 2)),
        ]
    ),
    "curated/daily_provider_purchases": pa.schema(
        [
            ("delivery_date", pa.date32()),
            ("provider_id", pa.string()),
            ("purchased_kwh", dec(18, 3)),
            ("cost_eur", dec(18, 2)),
            ("avg_price_eur_mwh", dec(10, 2)),
            ("share_of_purchases", dec(7, 6)),
        ]
    ),
    "curated/client_daily_consumption": pa.schema(
        [("delivery_date", pa.date32()), ("client_id", pa.string())]
        + [(f"p{i}_kwh", dec(18, 3)) for i in range(1, 7)]
        + [("total_kwh", dec(18, 3)), ("revenue_eur", dec(18, 2))]
    ),
    "curated/hourly_price_curve": pa.schema(
        [
            ("delivery_start", pa.timestamp("us", tz="UTC")),
            ("purchased_kwh", dec(18, 3)),
            ("sold_kwh", dec(18, 3)),
            ("avg_purchase_price_eur_mwh", dec(10, 2)),
            ("avg_sale_price_eur_mwh", dec(10, 2)),
        ]
    ),
}

DAY = date(2026, 3, 29)
ZERO = D("0.000")


def consumption(client: str, period: int, kwh: str, revenue: str) -> dict:
    periods = {f"p{i}_kwh": D(kwh) if i == period else ZERO for i in range(1, 7)}
    return {
        "delivery_date": DAY,
        "client_id": client,
        **periods,
        "total_kwh": D(kwh),
        "revenue_eur": D(revenue),
    }


# A consistent day: purchases 100 + 200 kWh for 5.00 + 12.00 EUR, sales 40 + 60 + 50 kWh for 4.00 + 7.20 +
# 5.50 EUR; the curated figures below are worked out by hand from those five transactions.
ROWS = {
    "processed/providers": [
        {"provider_id": "P1", "legal_name": "Uno"},
        {"provider_id": "P2", "legal_name": "Dos"},
    ],
    "processed/clients": [
        {"client_id": "C1", "tariff": "2.0TD", "contracted_power_kw": D("4.600")},
        {"client_id": "C2", "tariff": "3.0TD", "contracted_power_kw": D("20.000")},
        {"client_id": "C3", "tariff": "2.0TD", "contracted_power_kw": D("5.750")},
    ],
    "processed/transactions": [
        {
            "transaction_id": tid,
            "transaction_type": kind,
            "counterparty_id": party,
            "delivery_start": ts(hour),
            "tariff_period": period,
            "energy_kwh": D(kwh),
            "price_eur_mwh": D(price),
            "amount_eur": D(amount),
        }
        for tid, kind, party, hour, period, kwh, price, amount in [
            ("T1", "PURCHASE", "P1", 10, None, "100.000", "50.00", "5.00"),
            ("T2", "PURCHASE", "P2", 11, None, "200.000", "60.00", "12.00"),
            ("T3", "SALE", "C1", 10, "P1", "40.000", "100.00", "4.00"),
            ("T4", "SALE", "C2", 10, "P2", "60.000", "120.00", "7.20"),
            ("T5", "SALE", "C3", 11, "P1", "50.000", "110.00", "5.50"),
        ]
    ],
    "processed/quarantine/entity=clients": [
        {"source_file": "clients_20260329.csv", "line_number": 5, "rule": "clients.tariff.enum"}
    ],
    "processed/load_manifest": [
        {
            "entity": entity,
            "source_file": f"{entity}_20260329.csv",
            "status": "accepted",
            "rows_read": read,
            "rows_accepted": accepted,
            "rows_quarantined": quarantined,
            "rows_duplicate": duplicate,
        }
        for entity, read, accepted, quarantined, duplicate in [
            ("providers", 2, 2, 0, 0),
            ("clients", 4, 3, 1, 0),
            ("transactions", 6, 5, 0, 1),
        ]
    ],
    "curated/daily_energy_balance": [
        {
            "delivery_date": DAY,
            "purchased_kwh": D("300.000"),
            "sold_kwh": D("150.000"),
            "purchase_cost_eur": D("17.00"),
            "sales_revenue_eur": D("16.70"),
            "avg_purchase_price_eur_mwh": D("56.67"),
            "avg_sale_price_eur_mwh": D("111.33"),
            "active_clients": 3,
            "transaction_count": 5,
        }
    ],
    "curated/daily_sales_by_segment": [
        {
            "delivery_date": DAY,
            "tariff": "2.0TD",
            "province_code": "28",
            "segment": "RESIDENTIAL",
            "clients": 2,
            "sold_kwh": D("90.000"),
            "revenue_eur": D("9.50"),
            "avg_price_eur_mwh": D("105.56"),
        },
        {
            "delivery_date": DAY,
            "tariff": "3.0TD",
            "province_code": "08",
            "segment": "SME",
            "clients": 1,
            "sold_kwh": D("60.000"),
            "revenue_eur": D("7.20"),
            "avg_price_eur_mwh": D("120.00"),
        },
    ],
    "curated/daily_provider_purchases": [
        {
            "delivery_date": DAY,
            "provider_id": "P1",
            "purchased_kwh": D("100.000"),
            "cost_eur": D("5.00"),
            "avg_price_eur_mwh": D("50.00"),
            "share_of_purchases": D("0.333333"),
        },
        {
            "delivery_date": DAY,
            "provider_id": "P2",
            "purchased_kwh": D("200.000"),
            "cost_eur": D("12.00"),
            "avg_price_eur_mwh": D("60.00"),
            "share_of_purchases": D("0.666667"),
        },
    ],
    "curated/client_daily_consumption": [
        consumption("C1", 1, "40.000", "4.00"),
        consumption("C2", 2, "60.000", "7.20"),
        consumption("C3", 1, "50.000", "5.50"),
    ],
    "curated/hourly_price_curve": [
        {
            "delivery_start": ts(10),
            "purchased_kwh": D("100.000"),
            "sold_kwh": D("100.000"),
            "avg_purchase_price_eur_mwh": D("50.00"),
            "avg_sale_price_eur_mwh": D("112.00"),
        },
        {
            "delivery_start": ts(11),
            "purchased_kwh": D("200.000"),
            "sold_kwh": D("50.000"),
            "avg_purchase_price_eur_mwh": D("60.00"),
            "avg_sale_price_eur_mwh": D("110.00"),
        },
    ],
}


def build_lake(home: Path, raw: dict[str, str], rows: dict[str, list[dict]]) -> None:
    """Write the zones for RUN_DATE under ``home`` and crawl them into the catalog."""
    bucket = home / "s3" / templates.load().lake_bucket
    for entity, text in raw.items():
        folder = bucket / "raw" / entity / PARTITION
        folder.mkdir(parents=True)
        (folder / f"{entity}_20260329.csv").write_text(text, encoding="utf-8")
        (folder / "_SUCCESS").write_text("")
    for table, table_rows in rows.items():
        folder = bucket / table / PARTITION
        folder.mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pylist(table_rows, schema=SCHEMAS[table]), folder / "part-00000.snappy.parquet"
        )
    for crawler in ("raw-data-crawler", "processed-data-crawler", "curated-data-crawler"):
        run_crawler(crawler)


def failures_of(results) -> dict[tuple[str, str], int]:
    return {(r.name, r.table): r.failures for r in results if not r.passed}


def test_render_fills_the_run_date_and_refuses_unknown_placeholders():
    sql = "WHERE year = '{{ year }}' AND month = '{{month}}' AND day = '{{ day }}' -- {{ run_date }}"
    assert (
        checks.render(sql, "2026-03-09")
        == "WHERE year = '2026' AND month = '03' AND day = '09' -- 2026-03-09"
    )
    with pytest.raises(KeyError, match="hour"):
        checks.render("{{ hour }}", RUN_DATE)
    with pytest.raises(ValueError):
        checks.render(sql, "2026-3-9'; DROP")


def test_every_check_file_renders_to_one_athena_query():
    from energy_datalake.emulator.athena import _parse_one

    rendered = checks.rendered_checks(RUN_DATE)
    assert set(rendered) == {
        "partition_exists",
        "keys_not_null",
        "keys_unique",
        "raw_reconciliation",
        "referential_integrity",
        "curated_reconciliation",
        "value_ranges",
    }
    for sql in rendered.values():
        assert "{{" not in sql
        _parse_one(sql)


def test_a_consistent_lake_passes_every_check_and_the_results_are_written(datalake_home):
    build_lake(datalake_home, RAW, ROWS)

    results = run_checks(RUN_DATE)

    assert failures_of(results) == {}
    tables = {r.table for r in results}
    assert {"processed.transactions", "curated.hourly_price_curve", "curated.daily_energy_balance"} <= tables
    scanned = {r.query: r.bytes_scanned for r in results}
    assert scanned["partition_exists"] == 0  # count(*) is answered from the Parquet footers
    assert all(scanned[q] > 0 for q in ("keys_unique", "raw_reconciliation", "curated_reconciliation"))
    written = json.loads((datalake_home / "checks" / f"{RUN_DATE}.json").read_text())
    assert written["passed"] is True
    assert len(written["results"]) == len(results)


def _break(change):
    def apply():
        raw, rows = copy.deepcopy(RAW), copy.deepcopy(ROWS)
        change(raw, rows)
        return raw, rows

    return apply


def _null_transaction_id(raw, rows):
    rows["processed/transactions"][0]["transaction_id"] = None


def _repeated_consumption_key(raw, rows):
    rows["curated/client_daily_consumption"].append(consumption("C1", 1, "0.000", "0.00"))


def _row_read_but_lost(raw, rows):
    # The job counted a row it neither wrote, nor quarantined, nor removed as a duplicate.
    rows["processed/load_manifest"][2]["rows_read"] = 7


def _entity_never_read(raw, rows):
    rows["processed/load_manifest"] = rows["processed/load_manifest"][:2]


def _unknown_client(raw, rows):
    rows["processed/transactions"][4]["counterparty_id"] = "C9"


def _unknown_provider(raw, rows):
    rows["processed/transactions"][1]["counterparty_id"] = "P9"


def _balance_off(raw, rows):
    rows["curated/daily_energy_balance"][0]["sold_kwh"] = D("151.000")


def _price_out_of_range(raw, rows):
    rows["processed/transactions"][0]["price_eur_mwh"] = D("4500.00")


def _share_out_of_range(raw, rows):
    rows["curated/daily_provider_purchases"][0]["share_of_purchases"] = D("1.500000")


def _curve_partition_missing(raw, rows):
    rows["curated/hourly_price_curve"] = []


BROKEN = {
    "null key": (_null_transaction_id, {("keys_not_null", "processed.transactions"): 1}),
    "repeated key": (_repeated_consumption_key, {("keys_unique", "curated.client_daily_consumption"): 1}),
    "row read but lost": (_row_read_but_lost, {("raw_reconciliation", "processed.transactions"): 1}),
    "entity never read": (_entity_never_read, {("raw_reconciliation", "processed.transactions"): 1}),
    "unknown client": (_unknown_client, {("sales_known_client", "processed.transactions"): 1}),
    "unknown provider": (_unknown_provider, {("purchases_known_provider", "processed.transactions"): 1}),
    "balance off": (_balance_off, {("curated_reconciliation", "curated.daily_energy_balance"): 1}),
    "price out of range": (_price_out_of_range, {("value_ranges", "processed.transactions"): 1}),
    "share out of range": (_share_out_of_range, {("value_ranges", "curated.daily_provider_purchases"): 1}),
    "partition missing": (
        _curve_partition_missing,
        {
            ("partition_exists", "curated.hourly_price_curve"): 1,
            # Its totals are missing too: purchased and sold kWh disagree with the processed sums.
            ("curated_reconciliation", "curated.hourly_price_curve"): 2,
        },
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_lake_broken_for_a_check_fails_it_naming_check_table_and_count(datalake_home, case):
    change, expected = BROKEN[case]
    raw, rows = _break(change)()
    build_lake(datalake_home, raw, rows)

    with pytest.raises(checks.CheckFailed) as failed:
        run_checks(RUN_DATE)

    assert failures_of(failed.value.failed) == expected
    for (name, table), count in expected.items():
        assert f"{name} on {table}: {count} offending" in str(failed.value)
    written = json.loads((datalake_home / "checks" / f"{RUN_DATE}.json").read_text())
    assert written["passed"] is False


def test_a_check_that_cannot_run_fails_the_gate_with_the_reason(datalake_home):
    rows = {k: v for k, v in ROWS.items() if k != "curated/hourly_price_curve"}
    build_lake(datalake_home, RAW, rows)

    with pytest.raises(checks.CheckFailed, match="curated.hourly_price_curve does not exist"):
        run_checks(RUN_DATE)


def test_a_day_without_quarantined_rows_reconciles_through_the_declared_empty_quarantine(datalake_home):
    raw = {**RAW, "clients": RAW["clients"].rsplit("C4", 1)[0]}
    rows = {k: copy.deepcopy(v) for k, v in ROWS.items() if k != "processed/quarantine/entity=clients"}
    rows["processed/load_manifest"][1].update(rows_read=3, rows_quarantined=0)
    build_lake(datalake_home, raw, rows)

    assert failures_of(run_checks(RUN_DATE)) == {}


def test_the_gate_refuses_a_checks_folder_that_is_not_its_own(tmp_path):
    with pytest.raises(checks.ChecksMissing, match="missing: curated_reconciliation, keys_not_null"):
        checks.rendered_checks(RUN_DATE, tmp_path)
    for path in checks.check_files():
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "keys_unique.sql").unlink()
    (tmp_path / "draft.sql").write_text("SELECT 1")
    with pytest.raises(checks.ChecksMissing, match="missing: keys_unique; unexpected: draft"):
        checks.rendered_checks(RUN_DATE, tmp_path)


def test_a_query_that_returns_no_row_or_no_count_fails_its_check():
    (empty,) = checks.results_of("keys_unique", [], 0)
    assert not empty.passed and empty.error == "the check returned no rows"
    (null,) = checks.results_of("keys_unique", [("keys_unique", "processed.clients", None)], 10)
    assert not null.passed and null.error == "the check returned no count"
    passed, failed = checks.results_of(
        "keys_unique",
        [("keys_unique", "processed.clients", 0), ("keys_unique", "processed.providers", 2)],
        10,
    )
    assert passed.passed and (failed.passed, failed.failures, failed.bytes_scanned) == (False, 2, 10)


def test_the_checks_never_read_the_raw_zone():
    # The raw zone is for the ETL roles only, and Athena cannot count the raw CSV like the job does.
    from sqlglot import exp, parse_one

    for query, sql in checks.rendered_checks(RUN_DATE).items():
        databases = {t.db for t in parse_one(sql, read="athena").find_all(exp.Table) if t.db}
        assert databases <= {"processed", "curated"}, query


def test_the_checks_and_the_partition_paths_agree_on_a_run_date():
    from glue_jobs.lib.contract import partition_path

    rendered = checks.render("year={{ year }}/month={{ month }}/day={{ day }}", "2026-03-09")
    assert rendered == partition_path(date(2026, 3, 9))


def test_every_table_a_check_reads_is_filtered_to_the_run_dates_partition():
    # What keeps the gate's scans the size of one day, however many days the lake holds.
    from sqlglot import exp, parse_one

    wanted = {"year": "2026", "month": "03", "day": "29"}
    for query, sql in checks.rendered_checks(RUN_DATE).items():
        for table in parse_one(sql, read="athena").find_all(exp.Table):
            if not table.db:
                continue  # a CTE of the query
            where = table.find_ancestor(exp.Select).args.get("where")
            filtered = {}
            for equal in where.find_all(exp.EQ) if where else []:
                column, literal = equal.left, equal.right
                conjunct = all(
                    isinstance(node, (exp.And, exp.Paren, exp.Where))
                    for node in _ancestors(equal, stop=where)
                )
                if (
                    conjunct
                    and isinstance(column, exp.Column)
                    and isinstance(literal, exp.Literal)
                    and column.table in ("", table.alias_or_name)
                    and column.name in wanted
                ):
                    filtered[column.name] = literal.this
            assert filtered == wanted, (
                f"{query}: {table.sql(dialect='athena')} is not read for the run date only"
            )


def _ancestors(node, stop):
    while node is not stop:
        node = node.parent
        yield node


def _add_earlier_days(home: Path, days: list[str]) -> None:
    """Copies of the run date's partitions under earlier dates of March, crawled: a lake with history."""
    import shutil

    bucket = home / "s3" / templates.load().lake_bucket
    for folder in sorted(bucket.rglob("day=29")):
        for day in days:
            shutil.copytree(folder, folder.parent / f"day={day}")
    for crawler in ("raw-data-crawler", "processed-data-crawler", "curated-data-crawler"):
        run_crawler(crawler)


def test_the_days_already_in_the_lake_change_nothing_the_gate_scans(datalake_home):
    build_lake(datalake_home, RAW, ROWS)
    alone = {r.query: r.bytes_scanned for r in run_checks(RUN_DATE)}
    _add_earlier_days(datalake_home, ["26", "27", "28"])

    results = run_checks(RUN_DATE)

    assert failures_of(results) == {}
    assert {r.query: r.bytes_scanned for r in results} == alone


def test_a_dated_status_lists_only_that_dates_partitions(datalake_home, monkeypatch):
    import os

    from energy_datalake import status

    build_lake(datalake_home, RAW, ROWS)
    run_checks(RUN_DATE)
    alone = status.collect(RUN_DATE)
    _add_earlier_days(datalake_home, ["27", "28"])
    listed = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(str(path)) or scandir(path))

    report = status.collect(RUN_DATE)

    monkeypatch.setattr(os, "scandir", scandir)
    assert (report["zones"], report["quarantine"]) == (alone["zones"], alone["quarantine"])
    assert report["zones"]["raw"]["clients"] == {"rows": 4, "files": 1, "bytes": len(RAW["clients"])}
    assert report["checks"]["passed"] is True
    assert any("day=29" in path for path in listed)
    assert not [path for path in listed if "day=27" in path or "day=28" in path]
    everything = status.collect()
    assert everything["zones"]["raw"]["clients"]["files"] == 3
    assert everything["quarantine"] == {"clients": {"clients.tariff.enum": 3}}
