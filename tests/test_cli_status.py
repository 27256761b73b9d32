"""``datalake status`` (text and ``--json``) through the CLI, on an empty home and on a tiny lake written with
pyarrow and plain CSV in the jobs' layout: no Spark, no Airflow, no PostgreSQL.

Oracles are the files written here (their rows, and their sizes read from the file system), never the status
module's own counting.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_report_html import QUARANTINE_SCHEMA, lake_path, write_parquet

from energy_datalake import checks, cli, runner
from energy_datalake.formatting import format_bytes
from glue_jobs.lib.contract import partition_path, raw_key

DAY = dt.date(2026, 3, 29)
OTHER_DAY = dt.date(2026, 3, 30)
HEADER = "  zone      table                               rows  files       size"
# Lines written per raw export (without the header), per day.
RAW_ROWS = {DAY: {"clients": 3, "providers": 2, "transactions": 1234}, OTHER_DAY: {"transactions": 5}}
QUARANTINED = {
    "clients": {"clients.cups.format": 1},
    "transactions": {"transactions.price_eur_mwh.range": 3, "transactions.row.field_count": 2},
}
TRANSACTIONS_SCHEMA = pa.schema([("transaction_id", pa.string()), ("energy_kwh", pa.float64())])


def write_csv(path: Path, rows: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,value\n" + "".join(f"{i},x\n" for i in range(rows)), encoding="utf-8")
    (path.parent / "_SUCCESS").touch()
    return path


def transactions(n: int) -> list[dict]:
    return [{"transaction_id": f"T{i}", "energy_kwh": i * 1.5} for i in range(n)]


def build_lake() -> dict[str, list[Path]]:
    """Two days of raw exports, processed transactions and quarantine, one curated table; {table: files of DAY}."""
    lake = lake_path()
    files: dict[str, list[Path]] = {}
    for day, entities in RAW_ROWS.items():
        for entity, rows in entities.items():
            path = write_csv(lake / "raw" / raw_key(entity, day), rows)
            if day == DAY:
                files[f"raw.{entity}"] = [path]
    processed = lake / "processed"
    # Two files in the day's partition (Spark writes one per task), one on the other day.
    first = write_parquet(
        processed / "transactions" / partition_path(DAY), transactions(700), TRANSACTIONS_SCHEMA
    )
    second = first.with_name("part-00001-test.snappy.parquet")
    pq.write_table(pa.Table.from_pylist(transactions(520), schema=TRANSACTIONS_SCHEMA), second)
    write_parquet(
        processed / "transactions" / partition_path(OTHER_DAY), transactions(5), TRANSACTIONS_SCHEMA
    )
    files["processed.transactions"] = [first, second]
    # A jobs' scratch folder (starting with "_") holds files that are no table.
    write_parquet(processed / "_staging" / "transactions", transactions(9), TRANSACTIONS_SCHEMA)
    files["processed.quarantine"] = []
    for entity, rules in QUARANTINED.items():
        rows = [
            {"source_file": f"{entity}.csv", "line_number": i, "raw_record": "x", "rule": rule, "detail": "d"}
            for rule, count in rules.items()
            for i in range(count)
        ]
        folder = processed / "quarantine" / f"entity={entity}"
        files["processed.quarantine"].append(
            write_parquet(folder / partition_path(DAY), rows, QUARANTINE_SCHEMA)
        )
        write_parquet(folder / partition_path(OTHER_DAY), rows[:1], QUARANTINE_SCHEMA)
    balance = pa.schema([("delivery_date", pa.date32()), ("balance_kwh", pa.float64())])
    files["curated.daily_energy_balance"] = [
        write_parquet(
            lake / "curated" / "daily_energy_balance" / partition_path(DAY),
            [{"delivery_date": DAY, "balance_kwh": 1.0}],
            balance,
        )
    ]
    checks.write_results(
        DAY.isoformat(),
        [
            checks.CheckResult("keys_unique", "processed.transactions", 0, 2048, True, query="keys_unique"),
            checks.CheckResult(
                "keys_unique", "curated.daily_energy_balance", 0, 2048, True, query="keys_unique"
            ),
            checks.CheckResult(
                "value_ranges", "processed.transactions", 3, 1024, False, query="value_ranges"
            ),
        ],
    )
    return files


def status(capsys, *argv: str) -> str:
    assert cli.main(["status", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def size(files: list[Path]) -> str:
    return f"{format_bytes(sum(f.stat().st_size for f in files)):>11}"


def test_an_empty_home_says_there_is_nothing_yet(datalake_home, capsys):
    # Catches a status that fails (or invents tables) before the first deploy: a new user's first command.
    assert status(capsys).splitlines() == [
        f"Lake {lake_path()}  (all dates)",
        HEADER,
        "Quarantine (rows by rule)",
        "  none",
        "Checks: none run",
        "Warehouse (rows per table in schema energy)",
        "  not created yet",
        "Last run: none",
    ]
    assert status(capsys, "--date", "2026-03-29").splitlines()[-4:] == [
        "Checks: none run",
        "Warehouse (rows per table loaded for 2026-03-29)",
        "  not created yet",
        "Last run: none",
    ]


def test_an_empty_home_as_json(datalake_home, capsys):
    # Catches a --json document that lacks a section, or is not JSON, when nothing exists yet.
    assert json.loads(status(capsys, "--json")) == {
        "date": None,
        "lake": str(lake_path()),
        "zones": {"raw": {}, "processed": {}, "curated": {}},
        "quarantine": {},
        "checks": None,
        "warehouse": None,
        "last_run": None,
    }


def test_the_status_of_a_date_counts_that_dates_files_rows_and_bytes(datalake_home, capsys):
    # Catches wrong counts (a header counted as a row, another day's partition or a scratch folder counted,
    # a file missed), a table in the wrong zone, and a lost thousands separator.
    files = build_lake()
    q = files["processed.quarantine"]
    assert status(capsys, "--date", "2026-03-29").splitlines() == [
        f"Lake {lake_path()}  (date 2026-03-29)",
        HEADER,
        "  raw       clients                                3      1" + size(files["raw.clients"]),
        "  raw       providers                              2      1" + size(files["raw.providers"]),
        "  raw       transactions                       1,234      1" + size(files["raw.transactions"]),
        "  processed quarantine                             6      2" + size(q),
        "  processed transactions                       1,220      2" + size(files["processed.transactions"]),
        "  curated   daily_energy_balance                   1      1"
        + size(files["curated.daily_energy_balance"]),
        "Quarantine (rows by rule)",
        "  clients       clients.cups.format                                1",
        "  transactions  transactions.price_eur_mwh.range                   3",
        "  transactions  transactions.row.field_count                       2",
        # One query's bytes counted once (2048 + 1024), as Athena bills it.
        "Checks of 2026-03-29: 2/3 passed, 3.00 KB scanned",
        "  FAILED value_ranges on processed.transactions: 3 offending",
        "Warehouse (rows per table loaded for 2026-03-29)",
        "  not created yet",
        "Last run: none",
    ]


def test_without_a_date_every_day_is_counted(datalake_home, capsys):
    # Catches an inventory that silently keeps to one day (or the newest) when no date is given.
    build_lake()
    lines = status(capsys).splitlines()
    assert lines[0] == f"Lake {lake_path()}  (all dates)"
    rows = {tuple(line.split()[:4]) for line in lines[2:8]}
    assert {
        ("raw", "transactions", "1,239", "2"),
        ("processed", "transactions", "1,225", "3"),
        ("processed", "quarantine", "8", "4"),
    } <= rows
    assert "  transactions  transactions.price_eur_mwh.range                   4" in lines
    # No date given and no DAG run to take one from: no check results are shown.
    assert "Checks: none run" in lines


def test_json_carries_the_same_numbers_as_the_text(datalake_home, capsys):
    # Catches a --json that drifts from the text (another count, bytes not the files' own, checks missing).
    files = build_lake()
    document = json.loads(status(capsys, "--date", "2026-03-29", "--json"))
    expected_zones = {"raw": {}, "processed": {}, "curated": {}}
    rows = {
        "raw.clients": 3,
        "raw.providers": 2,
        "raw.transactions": 1234,
        "processed.quarantine": 6,
        "processed.transactions": 1220,
        "curated.daily_energy_balance": 1,
    }
    for name, paths in files.items():
        zone, table = name.split(".")
        expected_zones[zone][table] = {
            "rows": rows[name],
            "files": len(paths),
            "bytes": sum(p.stat().st_size for p in paths),
        }
    assert document["date"] == "2026-03-29"
    assert document["zones"] == expected_zones
    assert document["quarantine"] == QUARANTINED
    assert [(r["name"], r["table"], r["passed"], r["failures"]) for r in document["checks"]["results"]] == [
        ("keys_unique", "processed.transactions", True, 0),
        ("keys_unique", "curated.daily_energy_balance", True, 0),
        ("value_ranges", "processed.transactions", False, 3),
    ]
    assert (document["warehouse"], document["last_run"]) == (None, None)


def test_a_bad_date_is_one_line_naming_it(datalake_home, capsys):
    # Catches a traceback (or a status of nothing) for a date typed the Spanish way.
    with pytest.raises(SystemExit) as exit_:
        cli.main(["status", "--date", "29/03/2026"])
    assert exit_.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith("argument --date: '29/03/2026' is not a date written YYYY-MM-DD")
    )


# `datalake run`'s failure message: the failed task's exception, read from the log `airflow dags test` wrote
# (the line Airflow writes as each task starts: airflow/sdk/definitions/dag.py, "[DAG TEST] starting ...").
RUN_LOG = """\
2026-03-30T00:00:01.000000Z [info     ] [DAG TEST] starting task_id=raw_to_processed map_index=-1
2026-03-30T00:00:05.000000Z [warning  ] Task failed, will retry
Traceback (most recent call last):
  File "/work/plugins/energy_datalake/pipeline/local.py", line 140, in run
    run_job(name, arguments)
ConnectionError: the local Glue runtime went away
2026-03-30T00:00:09.000000Z [info     ] [DAG TEST] starting task_id=athena_checks map_index=-1
2026-03-30T00:00:12.000000Z [error    ] Task failed with exception
Traceback (most recent call last):
  File "/work/plugins/energy_datalake/pipeline/local.py", line 168, in check
    results = run_checks(run_date)
energy_datalake.checks.CheckFailed: 1 quality check(s) failed for 2026-03-29:
  value_ranges on processed.transactions: 3 offending

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/work/plugins/energy_datalake/pipeline/local.py", line 171, in check
    raise AirflowFailException(str(failure)) from failure
airflow.sdk.exceptions.AirflowFailException: 1 quality check(s) failed for 2026-03-29:
  value_ranges on processed.transactions: 3 offending
2026-03-30T00:00:12.500000Z [info     ] Marking task as FAILED.
"""


def test_the_failed_tasks_message_is_its_own_last_exception_without_the_log_around_it():
    # Catches a message taken from another task's (retried) traceback, from the first exception of a chain
    # instead of the one that failed the task, or running on into the following log records.
    assert runner.task_error(RUN_LOG, "athena_checks") == (
        "airflow.sdk.exceptions.AirflowFailException: 1 quality check(s) failed for 2026-03-29:\n"
        "  value_ranges on processed.transactions: 3 offending"
    )
    assert runner.task_error(RUN_LOG, None) == ""
