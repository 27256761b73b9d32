"""`datalake query` as users and scripts run it: the display limit, csv and json, syntax errors, discovery."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from decimal import Decimal

import pytest

# The lake of tests/emulator/test_query.py: two days of 2,000 transactions, two clients a day, curated balance.
from emulator.test_query import DAYS, PERSONAL, ROWS_PER_DAY, lake  # noqa: F401

from energy_datalake import cli

TRANSACTIONS = len(DAYS) * ROWS_PER_DAY
ALL_TRANSACTIONS = "SELECT transaction_id, energy_kwh, delivery_start FROM processed.transactions ORDER BY 1"


def query(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["query", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_rows(out: str) -> list[list[str]]:
    """The data rows of the table format: between the rule under the header and the first note."""
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) <= {"-", "+"})
    data = []
    for line in lines[rule + 1 :]:
        if line.startswith("("):
            break
        data.append([cell.strip() for cell in line.split(" | ")])
    return data


@pytest.mark.usefixtures("lake")
def test_the_table_format_prints_100_rows_and_says_how_many_there_are(capsys):
    code, out, _ = query(capsys, "--workgroup", "analysts", ALL_TRANSACTIONS)

    assert code == 0
    rows = table_rows(out)
    assert len(rows) == 100
    assert [r[0] for r in rows] == sorted(f"T{d}-{i}" for d in DAYS for i in range(ROWS_PER_DAY))[:100]
    assert f"(showing 100 of {TRANSACTIONS:,} rows in " in out
    assert "--max-rows 0 or --format csv for all)" in out
    assert "Data scanned: " in out


@pytest.mark.usefixtures("lake")
@pytest.mark.parametrize(
    "limit,shown", [("7", 7), ("0", TRANSACTIONS), (str(TRANSACTIONS + 1), TRANSACTIONS)]
)
def test_max_rows_sets_the_limit_and_0_prints_every_row(capsys, limit, shown):
    code, out, _ = query(capsys, "--workgroup", "analysts", "--max-rows", limit, ALL_TRANSACTIONS)

    assert code == 0
    assert len(table_rows(out)) == shown
    assert ("(showing" in out) == (shown < TRANSACTIONS)


@pytest.mark.usefixtures("lake")
def test_csv_writes_every_row_and_nothing_else_on_stdout(capsys):
    code, out, err = query(
        capsys,
        "--workgroup",
        "etl",
        "--format",
        "csv",
        "SELECT client_id, full_name, email FROM processed.clients WHERE day = '29' ORDER BY client_id",
    )

    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        ["client_id", "full_name", "email"],
        ["C1", "Muñoz, Begoña", "b@x.es"],
        ["C2", "Ana", ""],
    ]
    assert "(2 rows in " in err and "Data scanned: " in err


@pytest.mark.usefixtures("lake")
def test_csv_prints_all_rows_past_the_table_limit(capsys):
    code, out, err = query(capsys, "--workgroup", "analysts", "--format", "csv", ALL_TRANSACTIONS)

    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["transaction_id", "energy_kwh", "delivery_start"]
    assert len(rows) == 1 + TRANSACTIONS
    assert "showing" not in err and f"({TRANSACTIONS:,} rows in " in err


@pytest.mark.usefixtures("lake")
def test_json_lines_keep_decimals_dates_and_nulls_exact(capsys):
    code, out, err = query(
        capsys,
        "--workgroup",
        "analysts",
        "--format",
        "json",
        "SELECT transaction_id, energy_kwh, delivery_start, "
        "CAST(delivery_start AT TIME ZONE 'Europe/Madrid' AS date) AS business_day, "
        "count(*) OVER () AS n, NULL AS nothing FROM processed.transactions WHERE day = '29' "
        "ORDER BY transaction_id",
    )

    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == ROWS_PER_DAY
    first = records[0]
    assert first["transaction_id"] == "T29-0"
    assert first["energy_kwh"] == "0.000" and Decimal(records[1]["energy_kwh"]) == Decimal("1.000")
    assert datetime.fromisoformat(first["delivery_start"]) == datetime.fromisoformat(
        "2026-03-28T23:00:00+00:00"
    )
    assert first["business_day"] == "2026-03-29"
    assert first["n"] == ROWS_PER_DAY and first["nothing"] is None
    assert "Data scanned: " in err and "Data scanned" not in out


@pytest.mark.usefixtures("lake")
def test_a_limit_on_csv_is_said_on_stderr(capsys):
    code, out, err = query(
        capsys, "--workgroup", "analysts", "--format", "csv", "--max-rows", "3", ALL_TRANSACTIONS
    )

    assert code == 0
    assert len(list(csv.reader(io.StringIO(out)))) == 1 + 3
    assert f"(showing 3 of {TRANSACTIONS:,} rows in " in err and "--max-rows 0 for all)" in err


@pytest.mark.usefixtures("lake")
def test_discovery_runs_through_the_command_within_the_grants(capsys):
    code, out, _ = query(capsys, "--workgroup", "analysts", "DESCRIBE processed.clients")
    assert code == 0
    described = {row[0] for row in table_rows(out)}
    assert {"client_id", "tariff", "# Partition Information"} <= described
    assert not described & set(PERSONAL)

    code, out, _ = query(capsys, "--workgroup", "reporting", "--format", "csv", "SHOW TABLES")
    assert (code, out) == (0, "tab_name\ncurated.daily_energy_balance\n")

    code, _, err = query(capsys, "--workgroup", "reporting", "SHOW COLUMNS IN processed.clients")
    assert code == 1 and err.strip() == (
        "Access denied: workgroup 'reporting' has no SELECT permission on table processed.clients"
    )


@pytest.mark.parametrize(
    "sql,expected",
    [
        (
            "SELECT * FORM curated.daily_energy_balance",
            [
                "datalake query: syntax error at line 1, column 15: unexpected 'curated'",
                "  SELECT * FORM curated.daily_energy_balance",
                "                ^",
            ],
        ),
        (
            "SELECT sold_kwh\n\tFROM curated.daily_energy_balance\n\tWHERE day = = '29'",
            [
                "datalake query: syntax error at line 3, column 14: unexpected '='",
                "  \tWHERE day = = '29'",
                "  \t            ^",
            ],
        ),
    ],
)
def test_a_syntax_error_is_one_line_and_a_caret_exit_2(datalake_home, capsys, sql, expected):
    code, out, err = query(capsys, "--workgroup", "reporting", sql)

    assert code == 2
    assert out == ""
    assert err.splitlines() == expected


def test_max_rows_refuses_a_negative_number_naming_it(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["query", "--workgroup", "analysts", "--max-rows", "-3", "SELECT 1"])

    assert exited.value.code == 2
    assert "argument --max-rows: '-3' is not a number of rows" in capsys.readouterr().err
