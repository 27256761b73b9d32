"""`datalake generate`: layout, determinism, validity per the contract, DST days, and the injected errors."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from energy_datalake import cli
from energy_datalake import generator as gen
from energy_datalake.generator import files as gen_files
from energy_datalake.generator import identifiers as ids
from glue_jobs.lib import contract

MADRID = ZoneInfo("Europe/Madrid")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _generate(out: Path, start: str = "2026-03-30", **kwargs) -> dict:
    kwargs = {"clients": 120, "providers": 12, "error_rate": 0.0, "progress": None, **kwargs}
    return gen.generate(start, out=out, **kwargs)


def _files(out: Path, entity: str, day: str) -> list[Path]:
    folder = out / Path(contract.raw_key(entity, date.fromisoformat(day))).parent
    return sorted(folder.glob("*.csv"))


def _rows(out: Path, entity: str, day: str) -> list[dict[str, str]]:
    rows = []
    for path in _files(out, entity, day):
        with path.open(encoding="utf-8", newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def _all_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_arguments_give_the_same_bytes(tmp_path):
    a = _generate(tmp_path / "a", days=2, error_rate=0.01)
    b = _generate(tmp_path / "b", days=2, error_rate=0.01)
    assert a["rows"] == b["rows"]
    assert _all_bytes(tmp_path / "a") == _all_bytes(tmp_path / "b")
    _generate(tmp_path / "c", days=2, error_rate=0.01, seed=7)
    assert _all_bytes(tmp_path / "a") != _all_bytes(tmp_path / "c")


def test_a_date_does_not_depend_on_the_run_start(tmp_path):
    _generate(tmp_path / "two", start="2026-03-30", days=2, error_rate=0.01)
    _generate(tmp_path / "one", start="2026-03-31", days=1, error_rate=0.01)
    for entity in contract.ENTITIES:
        [one] = _files(tmp_path / "one", entity, "2026-03-31")
        [two] = _files(tmp_path / "two", entity, "2026-03-31")
        assert one.read_bytes() == two.read_bytes()


def test_layout_success_markers_and_format(tmp_path):
    summary = _generate(tmp_path, days=2)
    days = (date(2026, 3, 30), date(2026, 3, 31))
    expected = {contract.raw_key(e, d) for e in contract.ENTITIES for d in days}
    assert set(summary["files"]) == expected
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    markers = {str(Path(k).parent / "_SUCCESS") for k in expected}
    assert written == expected | markers  # no temporary file left behind
    for key in expected:
        data = (tmp_path / key).read_bytes()
        assert b"\r" not in data and data.endswith(b"\n")
        data.decode("utf-8")
        entity = key.split("/")[0]
        assert data.split(b"\n", 1)[0].decode() == ",".join(contract.CONTRACT[entity].column_names)


def test_every_row_parses_to_the_header_field_count(tmp_path):
    _generate(tmp_path, clients=400)
    names = []
    for entity in contract.ENTITIES:
        for path in _files(tmp_path, entity, "2026-03-30"):
            with path.open(encoding="utf-8", newline="") as f:
                rows = list(csv.reader(f))
            assert {len(r) for r in rows} == {len(contract.CONTRACT[entity].columns)}
            if entity == "clients":
                names = [r[2] for r in rows[1:]]
    # The quoting is exercised: names with commas, quotes and accents round-trip.
    assert (
        any("," in n for n in names) and any('"' in n for n in names) and any("ñ" in n.lower() for n in names)
    )


def test_client_and_provider_rows_follow_the_contract(tmp_path):
    day = "2026-06-15"
    _generate(tmp_path, start=day, clients=600, providers=40)
    clients = _rows(tmp_path, "clients", day)
    assert len({c["client_id"] for c in clients}) == len(clients)
    assert len({c["cups"] for c in clients}) == len(clients)
    for c in clients:
        assert ids.is_valid_spanish_tax_id(c["tax_id"]), c
        assert ids.is_valid_cups(c["cups"]), c
        assert c["full_name"]
        assert c["email"] == "" or EMAIL_RE.fullmatch(c["email"]), c
        assert c["tariff"] in contract.TARIFFS and c["segment"] in contract.SEGMENTS
        power = Decimal(c["contracted_power_kw"])
        assert power > 0 and power.as_tuple().exponent == -3
        if c["tariff"] == "2.0TD":
            assert power <= contract.MAX_POWER_2_0TD_KW
        if c["tariff"] == "3.0TD":
            assert power > contract.MAX_POWER_2_0TD_KW
        assert c["province_code"] in contract.PROVINCE_CODES
        assert date.fromisoformat(c["signup_date"]) <= date.fromisoformat(day)
        assert datetime.fromisoformat(c["updated_at"]).utcoffset() is not None
    segments = Counter(c["segment"] for c in clients)
    assert segments["RESIDENTIAL"] > segments["SME"] > segments["INDUSTRIAL"] > 0
    assert any(c["email"] == "" for c in clients)
    assert any(c["tax_id"][0] in "XYZ" for c in clients) and any(c["tax_id"][0].isalpha() for c in clients)

    providers = _rows(tmp_path, "providers", day)
    assert len({p["provider_id"] for p in providers}) == len(providers) == 40
    for p in providers:
        assert ids.is_valid_provider_tax_id(p["tax_id"]), p
        assert p["provider_type"] in contract.PROVIDER_TYPES
        assert p["technology"] in ("", *contract.TECHNOLOGIES)
        assert p["country_code"] in contract.COUNTRY_CODES and p["active"] in contract.BOOLEANS
        assert datetime.fromisoformat(p["updated_at"]).utcoffset() is not None
    assert [p["provider_type"] for p in providers].count("MARKET") == 1
    assert any(p["provider_type"] == "TRADER" and p["country_code"] != "ES" for p in providers)


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-03-30", 24), ("2026-10-25", 25)])
def test_one_sale_per_client_and_delivery_hour(tmp_path, day, hours):
    _generate(tmp_path, start=day)
    clients = {c["client_id"] for c in _rows(tmp_path, "clients", day)}
    sales = [t for t in _rows(tmp_path, "transactions", day) if t["transaction_type"] == "SALE"]
    starts = sorted({t["delivery_start"] for t in sales}, key=datetime.fromisoformat)
    assert len(starts) == hours
    assert len(sales) == len(clients) * hours
    assert Counter((t["counterparty_id"], t["delivery_start"]) for t in sales) == Counter(
        {(c, s): 1 for c in clients for s in starts}
    )
    for s in starts:
        assert datetime.fromisoformat(s).astimezone(MADRID).date().isoformat() == day
    if hours == 25:
        assert "2026-10-25T02:00:00+02:00" in starts and "2026-10-25T02:00:00+01:00" in starts
    if hours == 23:
        assert not any(s.startswith("2026-03-29T02:") for s in starts)


def test_tariff_periods_fit_tariffs_and_calendar(tmp_path):
    weekday, sunday = "2026-01-14", "2026-01-18"
    _generate(tmp_path, start=weekday, days=5, clients=300)
    for day in (weekday, sunday):
        tariffs = {c["client_id"]: c["tariff"] for c in _rows(tmp_path, "clients", day)}
        for t in _rows(tmp_path, "transactions", day):
            if t["transaction_type"] == "PURCHASE":
                assert t["tariff_period"] == ""
                continue
            assert t["tariff_period"] in contract.PERIODS_BY_TARIFF[tariffs[t["counterparty_id"]]]
            hour = datetime.fromisoformat(t["delivery_start"]).hour
            two = tariffs[t["counterparty_id"]] == "2.0TD"
            if day == sunday:
                assert t["tariff_period"] == ("P3" if two else "P6")
            elif two:
                assert t["tariff_period"] == {11: "P1", 19: "P1", 9: "P2", 15: "P2", 3: "P3"}.get(
                    hour, t["tariff_period"]
                )
            else:  # January is high season: P1 peak, P2 shoulder
                assert t["tariff_period"] == {11: "P1", 15: "P2", 3: "P6"}.get(hour, t["tariff_period"])


def test_amounts_prices_and_energy_are_consistent(tmp_path):
    _generate(tmp_path, start="2026-04-12", clients=200)
    rows = _rows(tmp_path, "transactions", "2026-04-12")
    assert len({t["transaction_id"] for t in rows}) == len(rows)
    for t in rows:
        energy, price, amount = (Decimal(t[k]) for k in ("energy_kwh", "price_eur_mwh", "amount_eur"))
        assert energy >= 0 and energy.as_tuple().exponent == -3
        assert contract.PRICE_MIN_EUR_MWH <= price <= contract.PRICE_MAX_EUR_MWH
        assert price.as_tuple().exponent == -2 and amount.as_tuple().exponent == -2
        assert abs(amount - energy / 1000 * price) <= contract.AMOUNT_TOLERANCE_EUR
        assert datetime.fromisoformat(t["created_at"]) > datetime.fromisoformat(t["delivery_start"])
        if t["transaction_type"] == "SALE":
            assert price > 0
    # Sunny spring middays push the market below zero; purchases carry it, with the sign formatted right.
    assert any(t["price_eur_mwh"].startswith("-") for t in rows if t["transaction_type"] == "PURCHASE")


def test_prices_have_a_daily_shape(tmp_path):
    _generate(tmp_path, start="2026-04-15", clients=50)
    by_hour = defaultdict(list)
    for t in _rows(tmp_path, "transactions", "2026-04-15"):
        if t["transaction_type"] == "PURCHASE":
            by_hour[datetime.fromisoformat(t["delivery_start"]).hour].append(Decimal(t["price_eur_mwh"]))
    average = {h: sum(p) / len(p) for h, p in by_hour.items()}
    assert average[14] < average[3] < average[20]


def test_purchases_roughly_cover_each_hours_sales(tmp_path):
    _generate(tmp_path, start="2026-03-29", clients=300, providers=40)
    providers = {p["provider_id"]: p for p in _rows(tmp_path, "providers", "2026-03-29")}
    sold, bought, sellers = Counter(), Counter(), defaultdict(set)
    for t in _rows(tmp_path, "transactions", "2026-03-29"):
        hour = t["delivery_start"]
        if t["transaction_type"] == "SALE":
            sold[hour] += Decimal(t["energy_kwh"])
        else:
            assert providers[t["counterparty_id"]]["active"] == "true"
            bought[hour] += Decimal(t["energy_kwh"])
            sellers[hour].add(t["counterparty_id"])
    assert sold.keys() == bought.keys()
    for hour in sold:
        assert Decimal("0.98") <= bought[hour] / sold[hour] <= Decimal("1.06")
        assert "P001" in sellers[hour] and 2 <= len(sellers[hour]) <= 8


def test_the_next_day_has_a_few_contract_changes(tmp_path):
    _generate(tmp_path, start="2026-05-04", days=2, clients=2000, providers=5)
    first = {c["client_id"]: c for c in _rows(tmp_path, "clients", "2026-05-04")}
    second = {c["client_id"]: c for c in _rows(tmp_path, "clients", "2026-05-05")}
    assert first.keys() <= second.keys()
    changed = [
        k
        for k in first
        if (first[k]["tariff"], first[k]["contracted_power_kw"])
        != (second[k]["tariff"], second[k]["contracted_power_kw"])
    ]
    assert 2 <= len(changed) <= 0.02 * len(first)
    for k in changed:
        assert second[k]["updated_at"].startswith("2026-05-05")
        assert (first[k]["tax_id"], first[k]["cups"]) == (second[k]["tax_id"], second[k]["cups"])
    unchanged = [k for k in first if k not in changed]
    assert all(first[k] == second[k] for k in unchanged)


def test_new_clients_sign_up_over_time(tmp_path):
    summary = _generate(tmp_path, start="2026-09-01", clients=2000, providers=3)
    clients = _rows(tmp_path, "clients", "2026-09-01")
    recent = [c for c in clients if c["signup_date"] >= "2026-01-02"]
    assert summary["rows"]["2026-09-01"]["clients"] == len(clients) == 2000 + len(recent)
    assert 10 <= len(recent) <= 100


def test_injected_errors_break_the_named_rules(tmp_path):
    day = "2026-03-30"
    summary = _generate(tmp_path, start=day, clients=150, error_rate=0.01)
    expected = summary["errors"][day]
    assert set(expected) == set(gen.TRANSACTION_ERROR_RULES) | set(gen.CLIENT_ERROR_RULES)
    assert summary["errors_total"] == expected

    found = Counter()
    clients = _rows(tmp_path, "clients", day)
    found["clients.cups.format"] = sum(not ids.is_valid_cups(c["cups"]) for c in clients)
    found["clients.tax_id.format"] = sum(not ids.is_valid_spanish_tax_id(c["tax_id"]) for c in clients)
    tariffs = {c["client_id"]: c["tariff"] for c in clients}
    known = tariffs.keys() | {p["provider_id"] for p in _rows(tmp_path, "providers", day)}

    [path] = _files(tmp_path, "transactions", day)
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    found[contract.DUPLICATE_EXACT] = len(lines) - len(set(lines))
    rows = list(csv.reader(lines))
    found["transactions.row.field_count"] = sum(len(r) != len(contract.TRANSACTIONS.columns) for r in rows)
    whole = [
        dict(zip(contract.TRANSACTIONS.column_names, r, strict=True))
        for r in set(map(tuple, rows))
        if len(r) == 9
    ]
    found[contract.DUPLICATE_KEY] = len(whole) - len({t["transaction_id"] for t in whole})
    for t in whole:
        energy, price, amount = (Decimal(t[k]) for k in ("energy_kwh", "price_eur_mwh", "amount_eur"))
        found["transactions.counterparty_id.unknown"] += t["counterparty_id"] not in known
        found["transactions.amount_eur.consistency"] += abs(amount - energy / 1000 * price) > Decimal("0.01")
        found["transactions.price_eur_mwh.range"] += price > contract.PRICE_MAX_EUR_MWH
        tariff = tariffs.get(t["counterparty_id"])
        found["transactions.tariff_period.tariff"] += bool(
            tariff and t["tariff_period"] not in contract.PERIODS_BY_TARIFF[tariff]
        )
    assert found == expected
    # Well below the quarantine threshold of 5 %.
    assert sum(expected.values()) < 0.02 * (len(rows) + len(clients))


def test_big_exports_are_split_into_numbered_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gen_files, "ROWS_PER_FILE", 1000)
    summary = gen.generate("2026-03-30", clients=100, providers=5, out=tmp_path, error_rate=0.01)
    files = _files(tmp_path, "transactions", "2026-03-30")
    assert [p.name for p in files] == [f"transactions_20260330_{n}.csv" for n in (1, 2, 3)]
    assert sum(len(_rows_of(p)) for p in files) == summary["rows"]["2026-03-30"]["transactions"]
    assert capsys.readouterr().out.count("transactions_20260330_") == 3

    monkeypatch.setattr(gen_files, "ROWS_PER_FILE", 500_000)
    gen.generate("2026-03-30", clients=100, providers=5, out=tmp_path, progress=None)
    # Re-generating a date replaces its files: no stale part is left.
    assert [p.name for p in _files(tmp_path, "transactions", "2026-03-30")] == ["transactions_20260330.csv"]


def _rows_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))[1:]


def test_cli_generate(tmp_path, capsys):
    out = tmp_path / "raw"
    argv = ["generate", "--date", "2026-03-30", "--clients", "30", "--providers", "4", "--out", str(out)]
    assert cli.main([*argv, "--error-rate", "0.01"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 files" in printed and "duplicate.exact" in printed
    assert (out / "transactions/year=2026/month=03/day=30/_SUCCESS").exists()
    assert cli.main([*argv, "--error-rate", "0.2"]) == 2
    assert "error_rate" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--date", "2026-02-30"], "'2026-02-30'"),
        (["--date", "29/03/2026"], "'29/03/2026'"),
        (["--days", "0"], "days must be at least 1, not 0"),
        (["--providers", "-1"], "providers must be at least 1, not -1"),
        (["--error-rate", "0.2"], "not 0.2"),
    ],
)
def test_cli_generate_bad_arguments_give_one_line_naming_the_value(tmp_path, capsys, extra, named):
    argv = ["generate", "--date", "2026-03-30", "--clients", "3", "--out", str(tmp_path / "raw"), *extra]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("datalake generate: ") and named in captured.out
    assert captured.out.count("\n") == 1 and captured.err == ""
    assert not (tmp_path / "raw").exists()


def test_cli_generate_out_that_cannot_be_written_gives_one_line(tmp_path, capsys):
    not_a_folder = tmp_path / "raw"
    not_a_folder.write_text("a file, not a folder")
    argv = ["generate", "--date", "2026-03-30", "--clients", "3", "--out", str(not_a_folder)]
    assert cli.main(argv) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"datalake generate: cannot write {not_a_folder}") and out.count("\n") == 1


def test_default_out_is_the_local_lake_raw_zone(datalake_home):
    from energy_datalake import templates

    summary = gen.generate("2026-03-30", clients=5, providers=2, progress=None)
    assert Path(summary["out"]) == datalake_home / "s3" / templates.load().lake_bucket / "raw"
    assert (Path(summary["out"]) / contract.raw_key("clients", date(2026, 3, 30))).exists()


def test_small_days_keep_broken_rows_under_one_percent(tmp_path):
    summary = gen.generate("2026-03-30", clients=3, providers=2, out=tmp_path, progress=None)
    errors, rows = summary["errors"]["2026-03-30"], summary["rows"]["2026-03-30"]
    broken_clients = sum(n for rule, n in errors.items() if rule.startswith("clients."))
    assert broken_clients <= 0.01 * rows["clients"]
    assert 0 < sum(errors.values()) - broken_clients <= 0.01 * rows["transactions"]
