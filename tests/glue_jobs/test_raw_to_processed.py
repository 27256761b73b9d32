"""raw-to-processed on a small day that breaks every rule of the contract once, and on a clean day.

One run of the job serves most tests (module fixture ``bad_day``): Spark is shared, runs are the slow part.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from glue_jobs.lib import contract
from glue_jobs.lib.processed_writer import STAGING
from glue_jobs.lib.raw_processing import EntityReport, FileReport, RunReport, process_run_date

DAY = dt.date(2026, 3, 29)
# As the job argument and the load manifest write it.
RUN_DATE = DAY.isoformat()
PARTITION = "year=2026/month=03/day=29"
FIXTURES = Path(__file__).parent / "fixtures" / RUN_DATE
TS = "2026-03-28T10:00:00+01:00"
CUPS = [
    "ES0063588990769089JL", "ES0026725809314354RV", "ES0066956443808194QR", "ES0086408857386617WD",
    "ES0026202706315347EY", "ES0062848660699539WP", "ES0019955721155713JD", "ES0075810857168677WW",
    "ES0089291053412135ZW", "ES0083799286786919HG", "ES0055757188958004AV", "ES0063754343177656WK",
]  # fmt: skip


def provider_row(pid="P100", name="N", tax="B36174555", kind="GENERATOR", tech="WIND", country="ES", active="true",
              updated=TS):  # fmt: skip
    return f"{pid},{name},{tax},{kind},{tech},{country},{active},{updated}"


def client_row(cid, cups, tax="59202938H", name="N", email="a@example.es", tariff="2.0TD", power="4.600",
            province="28", segment="RESIDENTIAL", signup="2020-01-15", updated=TS):  # fmt: skip
    return f"{cid},{tax},{name},{email},{cups},{tariff},{power},{province},{segment},{signup},{updated}"


def sale_row(tid, kind="SALE", party="C001", start="2026-03-29T10:00:00+02:00", period="P1", energy="2.500",
          price="120.00", amount="0.30", created="2026-03-29T10:05:00+02:00"):  # fmt: skip
    return f"{tid},{kind},{party},{start},{period},{energy},{price},{amount},{created}"


# (rule, entity, raw record): each record breaks its rule and no rule checked before it.
BAD_ROWS = [
    ("providers.provider_id.required", "providers", provider_row(pid="")),
    ("providers.legal_name.required", "providers", provider_row("P101", name="")),
    ("providers.tax_id.required", "providers", provider_row("P102", tax="")),
    ("providers.provider_type.required", "providers", provider_row("P103", kind="")),
    ("providers.provider_type.enum", "providers", provider_row("P104", kind="BROKER")),
    ("providers.technology.enum", "providers", provider_row("P105", tech="COAL")),
    ("providers.country_code.required", "providers", provider_row("P106", country="")),
    ("providers.active.required", "providers", provider_row("P107", active="")),
    ("providers.active.enum", "providers", provider_row("P108", active="TRUE")),
    ("providers.updated_at.required", "providers", provider_row("P109", updated="")),
    ("providers.updated_at.type", "providers", provider_row("P110", updated="2026-03-28T10:00:00")),
    ("providers.row.field_count", "providers", provider_row("P111").rsplit(",", 1)[0]),
    ("providers.row.field_count", "providers", provider_row("P114") + ",surplus"),
    ("providers.tax_id.format", "providers", provider_row("P112", tax="B36174556")),
    ("providers.country_code.format", "providers", provider_row("P113", country="XX")),
    ("clients.client_id.required", "clients", client_row("", CUPS[0])),
    ("clients.tax_id.required", "clients", client_row("C101", CUPS[0], tax="")),
    ("clients.full_name.required", "clients", client_row("C102", CUPS[0], name=" ")),
    ("clients.cups.required", "clients", client_row("C103", "")),
    ("clients.tariff.required", "clients", client_row("C104", CUPS[0], tariff="")),
    ("clients.tariff.enum", "clients", client_row("C105", CUPS[0], tariff="2.1TD")),
    ("clients.contracted_power_kw.required", "clients", client_row("C106", CUPS[0], power="")),
    ("clients.contracted_power_kw.type", "clients", client_row("C107", CUPS[0], power="4.6001")),
    ("clients.province_code.required", "clients", client_row("C108", CUPS[0], province="")),
    ("clients.segment.required", "clients", client_row("C109", CUPS[0], segment="")),
    ("clients.segment.enum", "clients", client_row("C110", CUPS[0], segment="HOME")),
    ("clients.signup_date.required", "clients", client_row("C111", CUPS[0], signup="")),
    ("clients.signup_date.type", "clients", client_row("C112", CUPS[0], signup="2026-02-30")),
    ("clients.updated_at.required", "clients", client_row("C113", CUPS[0], updated="")),
    ("clients.updated_at.type", "clients", client_row("C114", CUPS[0], updated="2026-03-28T09:00+01:00")),
    ("clients.row.field_count", "clients", client_row("C115", CUPS[0]).rsplit(",", 1)[0]),
    ("clients.tax_id.format", "clients", client_row("C116", CUPS[0], tax="59202938X")),
    ("clients.email.format", "clients", client_row("C117", CUPS[0], email="not-an-email")),
    ("clients.cups.format", "clients", client_row("C118", CUPS[0][:-1] + "X")),
    ("clients.cups.duplicate", "clients", client_row("C119", "ES0055564639800631GY")),
    (
        "clients.contracted_power_kw.range",
        "clients",
        client_row("C120", CUPS[1], tariff="6.1TD", power="0.000"),
    ),
    ("clients.contracted_power_kw.tariff", "clients", client_row("C121", CUPS[2], power="15.001")),
    ("clients.province_code.format", "clients", client_row("C122", CUPS[3], province="53")),
    ("clients.signup_date.range", "clients", client_row("C123", CUPS[4], signup="2026-03-30")),
    ("transactions.transaction_id.required", "transactions", sale_row("")),
    ("transactions.transaction_type.required", "transactions", sale_row("T101", kind="")),
    ("transactions.transaction_type.enum", "transactions", sale_row("T102", kind="REFUND")),
    ("transactions.counterparty_id.required", "transactions", sale_row("T103", party="")),
    ("transactions.delivery_start.required", "transactions", sale_row("T104", start="")),
    ("transactions.delivery_start.type", "transactions", sale_row("T105", start="2026-03-29T10:00:00")),
    ("transactions.tariff_period.enum", "transactions", sale_row("T106", period="P7")),
    ("transactions.energy_kwh.required", "transactions", sale_row("T107", energy="")),
    ("transactions.energy_kwh.type", "transactions", sale_row("T108", energy="2.5.0")),
    ("transactions.price_eur_mwh.required", "transactions", sale_row("T109", price="")),
    ("transactions.price_eur_mwh.type", "transactions", sale_row("T110", price="120.001")),
    ("transactions.amount_eur.required", "transactions", sale_row("T111", amount="")),
    ("transactions.amount_eur.type", "transactions", sale_row("T112", amount="0.30€")),
    ("transactions.created_at.required", "transactions", sale_row("T113", created="")),
    ("transactions.created_at.type", "transactions", sale_row("T114", created="yesterday")),
    ("transactions.row.field_count", "transactions", sale_row("T115") + ",surplus"),
    ("transactions.counterparty_id.unknown", "transactions", sale_row("T116", party="C999")),
    ("transactions.counterparty_id.unknown", "transactions", sale_row("T122", party="C101")),
    (
        "transactions.counterparty_id.unknown",
        "transactions",
        sale_row("T123", kind="PURCHASE", party="C001", period=""),
    ),
    (
        "transactions.delivery_start.export_date",
        "transactions",
        sale_row("T117", start="2026-03-28T23:30:00+01:00"),
    ),
    ("transactions.tariff_period.tariff", "transactions", sale_row("T118", period="P4")),
    (
        "transactions.tariff_period.tariff",
        "transactions",
        sale_row("T124", kind="PURCHASE", party="P001", period="P1"),
    ),
    ("transactions.energy_kwh.range", "transactions", sale_row("T119", energy="-2.500", amount="-0.30")),
    ("transactions.price_eur_mwh.range", "transactions", sale_row("T120", price="4000.01", amount="10.00")),
    ("transactions.amount_eur.consistency", "transactions", sale_row("T121", amount="0.32")),
]

TRANSACTIONS_HEADER = (FIXTURES / "transactions_20260329.csv").read_text().splitlines()[0]
# Later copies of T001 (exact) and T002 (same key, other content) in the main file, T003 again in another.
DUPLICATES = ["T001,PURCHASE,P001,2026-03-29T00:00:00+01:00,,1000.000,55.20,55.20,2026-03-29T00:05:00+01:00",
              sale_row("T002", period="P2")]  # fmt: skip
DRIFT_FILE = (
    TRANSACTIONS_HEADER + ",channel\n"
    + sale_row("T201") + ",web\n"
    + "T003,SALE,C002,2026-03-29T21:00:00Z,P6,10.000,95.50,0.96,2026-03-29T21:05:00Z,app\n"
)  # fmt: skip
WHOLE_FILES = {
    "providers_20260329_2.csv": (
        (FIXTURES / "providers_20260329.csv").read_text().splitlines()[0]
        + "\n"
        + provider_row("P301", name="Compañía")
    ).encode("latin-1"),
    "providers_20260329_3.csv": b"",
    "clients_20260329_2.csv": b"client_id,tax_id,full_name\nC301,59202938H,Ana\n",
    "transactions_20260329_3.csv": (
        TRANSACTIONS_HEADER + ",energy_kwh\n" + sale_row("T301") + ",1\n"
    ).encode(),
}
WHOLE_FILE_RULES = {
    "providers_20260329_2.csv": ("file.not_utf8", 1),
    "providers_20260329_3.csv": ("file.empty", 0),
    "clients_20260329_2.csv": ("file.missing_required_column", 1),
    "transactions_20260329_3.csv": ("file.duplicate_column", 1),
}


def lay_out(raw: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        folder = raw / name.split("_")[0] / PARTITION
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)


def fixture_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in FIXTURES.glob("*.csv")}


def with_rows(content: bytes, rows: list[str]) -> tuple[bytes, list[int]]:
    """The file with rows appended (in the file's own line separator) and the line where each starts."""
    text = content.decode("utf-8")
    sep = "\r\n" if "\r\n" in text else "\n"
    lines = []
    for row in rows:
        lines.append(text.count("\n") + 1)
        text += row + sep
    return text.encode("utf-8"), lines


def read_table(spark, processed: Path, table: str) -> list[dict]:
    return [r.asDict() for r in spark.read.parquet(str(processed / table)).collect()]


@pytest.fixture(scope="module")
def bad_day(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_day")
    files = fixture_files()
    expected_lines = {}
    for entity in contract.ENTITIES:
        name = f"{entity}_20260329.csv"
        rows = [line for _, e, line in BAD_ROWS if e == entity] + (
            DUPLICATES if entity == "transactions" else []
        )
        files[name], lines = with_rows(files[name], rows)
        expected_lines.update({(entity, row): line for row, line in zip(rows, lines, strict=True)})
    files["transactions_20260329_2.csv"] = DRIFT_FILE.encode()
    files.update(WHOLE_FILES)
    lay_out(root / "raw", files)
    report = process_run_date(spark, str(root / "raw"), str(root / "processed"), DAY, "jr_test")
    tables = {
        t: read_table(spark, root / "processed", t)
        for t in ("providers", "clients", "transactions", "quarantine", "load_manifest")
    }
    return {"root": root, "report": report, "tables": tables, "lines": expected_lines}


@pytest.mark.parametrize(
    ("rule", "entity", "record"), BAD_ROWS, ids=[f"{r}:{row[:12]}" for r, _, row in BAD_ROWS]
)
def test_a_row_breaking_a_rule_is_quarantined_under_it(bad_day, rule, entity, record):
    matches = [q for q in bad_day["tables"]["quarantine"] if q["raw_record"] == record]
    assert len(matches) == 1, matches
    row = matches[0]
    assert (row["rule"], row["entity"]) == (rule, entity)
    assert row["source_file"] == f"{entity}/{PARTITION}/{entity}_20260329.csv"
    assert row["line_number"] == bad_day["lines"][(entity, record)]
    assert row["detail"]


@pytest.mark.parametrize("entity", contract.ENTITIES)
def test_every_row_rule_of_the_contract_has_a_breaking_row(entity):
    tested = {rule for rule, e, _ in BAD_ROWS if e == entity}
    assert tested == {r.name for r in contract.rules_for(entity)}


def test_every_file_rule_has_a_breaking_file():
    tested = {rule for rule, _ in WHOLE_FILE_RULES.values()}
    assert tested == {name for name in contract.RULES if name.startswith("file.")}


def test_details_name_the_offending_value(bad_day):
    by_rule = {q["rule"]: q["detail"] for q in bad_day["tables"]["quarantine"]}
    assert by_rule["clients.tariff.enum"] == "tariff='2.1TD'"
    assert by_rule["transactions.amount_eur.consistency"] == "amount_eur='0.32', expected 0.30"
    assert by_rule["transactions.delivery_start.export_date"].endswith(
        "is on 2026-03-28 in Madrid, not 2026-03-29"
    )
    assert by_rule["clients.cups.duplicate"].startswith("cups='ES0055564639800631GY' already belongs")
    field_counts = sorted(
        q["detail"] for q in bad_day["tables"]["quarantine"] if q["rule"].endswith("field_count")
    )
    assert field_counts == [
        "10 fields, the header has 11", "10 fields, the header has 9", "7 fields, the header has 8",
        "9 fields, the header has 8",
    ]  # fmt: skip


def test_valid_rows_are_accepted_exactly(bad_day):
    tables = bad_day["tables"]
    providers = {r["provider_id"]: r for r in tables["providers"]}
    clients = {r["client_id"]: r for r in tables["clients"]}
    transactions = {r["transaction_id"]: r for r in tables["transactions"]}
    assert sorted(providers) == ["P001", "P002", "P003"]
    assert sorted(clients) == ["C001", "C002", "C003"]
    assert sorted(transactions) == ["T001", "T002", "T003", "T004", "T005", "T201"]
    assert providers["P001"]["legal_name"] == "Eólica del Norte, S.A."
    assert providers["P003"]["legal_name"] == 'OMIE "Mercado" Ibérico'
    assert providers["P002"]["technology"] is None
    assert clients["C001"]["full_name"] == "Muñoz Pérez, José"
    assert clients["C002"]["full_name"] == 'Günter "Gü" Müller'
    assert clients["C002"]["email"] is None
    # A quoted CRLF inside a CRLF file (with a BOM) stays a CRLF.
    assert clients["C003"]["full_name"] == "Industrias\r\nÑandú, S.L."
    assert str(clients["C003"]["contracted_power_kw"]) == "450.000"
    assert str(clients["C001"]["signup_date"]) == "2020-01-15"
    assert str(transactions["T004"]["price_eur_mwh"]) == "-10.00"
    assert transactions["T001"]["tariff_period"] is None
    assert transactions["T001"]["source_file"] == f"transactions/{PARTITION}/transactions_20260329.csv"
    assert transactions["T201"]["source_file"] == f"transactions/{PARTITION}/transactions_20260329_2.csv"


def test_timestamps_are_utc_instants(spark, bad_day):
    first = spark.read.parquet(str(bad_day["root"] / "processed" / "transactions")).where(
        "transaction_id = 'T004'"
    )
    # 03:00 in Madrid on the day clocks go forward (+02:00) is 01:00 UTC.
    assert first.selectExpr("cast(delivery_start as string)").first()[0] == "2026-03-29 01:00:00"


def test_whole_files_are_quarantined_with_a_reason_and_copied(bad_day):
    root = bad_day["root"]
    manifest = {m["source_file"].rsplit("/", 1)[1]: m for m in bad_day["tables"]["load_manifest"]}
    whole = {
        q["source_file"].rsplit("/", 1)[1]: q
        for q in bad_day["tables"]["quarantine"]
        if q["line_number"] is None
    }
    assert set(whole) == set(WHOLE_FILES)
    for name, (rule, records) in WHOLE_FILE_RULES.items():
        assert whole[name]["rule"] == rule
        assert manifest[name]["status"] == "quarantined"
        assert manifest[name]["reason"].startswith(rule)
        assert (manifest[name]["rows_read"], manifest[name]["rows_quarantined"]) == (records, records)
        entity = name.split("_")[0]
        copy = root / "processed" / "quarantine_files" / entity / PARTITION / name
        assert copy.read_bytes() == WHOLE_FILES[name]
    assert "cups" in whole["clients_20260329_2.csv"]["detail"]
    assert "energy_kwh" in whole["transactions_20260329_3.csv"]["detail"]


def test_schema_drift_is_recorded_and_the_extra_column_dropped(bad_day):
    manifest = {m["source_file"].rsplit("/", 1)[1]: m for m in bad_day["tables"]["load_manifest"]}
    assert manifest["transactions_20260329_2.csv"]["extra_columns"] == "channel"
    assert manifest["transactions_20260329.csv"]["extra_columns"] is None
    assert "channel" not in bad_day["tables"]["transactions"][0]


def test_duplicates_are_removed_counted_and_the_first_kept(bad_day):
    manifest = {m["source_file"].rsplit("/", 1)[1]: m for m in bad_day["tables"]["load_manifest"]}
    assert manifest["transactions_20260329.csv"]["rows_duplicate"] == 2
    assert manifest["transactions_20260329_2.csv"]["rows_duplicate"] == 1
    transactions = {r["transaction_id"]: r for r in bad_day["tables"]["transactions"]}
    assert transactions["T002"]["tariff_period"] == "P1"
    assert transactions["T003"]["source_file"].endswith("transactions_20260329.csv")
    assert not any(q["raw_record"] in DUPLICATES for q in bad_day["tables"]["quarantine"])


def test_manifest_rows_add_up_for_every_file(bad_day):
    tables = bad_day["tables"]
    manifest = tables["load_manifest"]
    assert len(manifest) == len(fixture_files()) + 1 + len(WHOLE_FILES)
    for m in manifest:
        assert m["rows_read"] == m["rows_accepted"] + m["rows_quarantined"] + m["rows_duplicate"]
        assert (m["run_date"], m["job_run_id"]) == (RUN_DATE, "jr_test")
    for entity in contract.ENTITIES:
        rows = [m for m in manifest if m["entity"] == entity]
        accepted = len(tables[entity])
        quarantined = sum(
            1 for q in tables["quarantine"] if q["entity"] == entity and q["line_number"] is not None
        )
        assert sum(m["rows_accepted"] for m in rows) == accepted
        assert sum(m["rows_quarantined"] for m in rows if m["status"] == "accepted") == quarantined
    main = {m["source_file"].rsplit("/", 1)[1]: m for m in manifest}["transactions_20260329.csv"]
    bad = sum(1 for _, e, _ in BAD_ROWS if e == "transactions")
    assert main["rows_read"] == 5 + bad + len(DUPLICATES)


def test_threshold_failures_name_entity_share_and_threshold(bad_day):
    report = bad_day["report"]
    failures = report.failures(0.05)
    assert len(failures) == 3
    assert failures[0].startswith("providers: ")
    assert "passes the threshold of 5.00%" in failures[0]
    assert report.failures(1.0) == []


def test_an_entity_without_a_readable_row_fails_the_run():
    empty = FileReport("clients", "clients/x.csv", "quarantined", "file.empty: empty", 0, 0, 0, 0, None)
    report = RunReport(
        DAY, {"clients": EntityReport("clients", [empty]), "providers": EntityReport("providers")}
    )
    assert report.failures(0.05) == [
        "clients: 100.00% of rows quarantined (no readable row) passes the threshold of 5.00%",
        "providers: 100.00% of rows quarantined (no readable row) passes the threshold of 5.00%",
    ]


def test_a_file_whose_counts_do_not_add_up_is_refused():
    with pytest.raises(AssertionError, match="rows read != accepted"):
        FileReport("clients", "clients/x.csv", "accepted", None, 3, 1, 1, 0, None)


@pytest.fixture
def clean_day(tmp_path):
    lay_out(tmp_path / "raw", fixture_files())
    return tmp_path


def _snapshot(spark, processed: Path) -> dict:
    tables = ("providers", "clients", "transactions", "quarantine", "load_manifest")
    return {t: sorted(map(str, spark.read.parquet(str(processed / t)).collect())) for t in tables}


def _data_files(processed: Path) -> list[str]:
    return sorted(
        str(p.relative_to(processed)) for p in processed.rglob("*.parquet") if STAGING not in p.parts
    )


@pytest.mark.slow
def test_rerun_changes_nothing_and_touches_only_the_run_date(spark, clean_day):
    raw, processed = clean_day / "raw", clean_day / "processed"
    process_run_date(spark, str(raw), str(processed), DAY)
    other_day = processed / "transactions" / "year=2026" / "month=03" / "day=28"
    shutil.copytree(processed / "transactions" / PARTITION, other_day)
    kept = {p.name: p.read_bytes() for p in other_day.iterdir()}
    first, first_files = _snapshot(spark, processed), _data_files(processed)
    process_run_date(spark, str(raw), str(processed), DAY)
    assert _snapshot(spark, processed) == first
    assert len(_data_files(processed)) == len(first_files)
    assert {p.name: p.read_bytes() for p in other_day.iterdir()} == kept
    assert len(first["transactions"]) == 2 * 5


@pytest.mark.slow
def test_a_run_killed_mid_write_is_repaired_by_the_rerun(spark, clean_day):
    raw, processed = clean_day / "raw", clean_day / "processed"
    process_run_date(spark, str(raw), str(processed), DAY)
    expected = _snapshot(spark, processed)
    # The states a kill leaves: a half-written staging folder, and a partition renamed aside but not yet
    # replaced (killed between the two renames of the swap).
    staging = processed / STAGING / "transactions" / PARTITION
    staging.mkdir(parents=True)
    shutil.copy(
        next((processed / "transactions" / PARTITION).glob("*.parquet")), staging / "part-half.parquet"
    )
    partition = processed / "clients" / PARTITION
    partition.rename(processed / STAGING / "clients" / (PARTITION + ".previous"))
    process_run_date(spark, str(raw), str(processed), DAY)
    assert _snapshot(spark, processed) == expected
    assert not (processed / STAGING / "clients" / (PARTITION + ".previous")).exists()
