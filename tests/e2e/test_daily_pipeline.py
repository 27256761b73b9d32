"""The daily DAG end to end through real Airflow, Spark, DuckDB and PostgreSQL, on generated exports.

One lake for the module: two dates are generated and run once (that is the slow part); each test then
reads what the runs left, or runs one more date. The two dates are the days of Europe/Madrid that are not
24 hours long, where hour arithmetic breaks: the generator's summary of each (rows written, rows broken by
rule) is the oracle the zones are held to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from glue_jobs.lib.contract import DUPLICATE_EXACT, DUPLICATE_KEY, ENTITIES, partition_path
from glue_jobs.lib.curated_tables import CURATED_TABLES

pytestmark = pytest.mark.slow

# The spring day (23 hours: 02:00 never happens) and the autumn day (25 hours: 02:00 happens twice).
FIRST = date(2026, 3, 29)
SECOND = date(2026, 10, 25)
HOURS = {FIRST: 23, SECOND: 25}
# The autumn day's Madrid hour labels in order: summer time up to the first 02:00, winter time from the second.
AUTUMN_LOCAL_HOURS = [f"{h:02d}:00+02:00" for h in range(3)] + [f"{h:02d}:00+01:00" for h in range(2, 24)]
CLIENTS = 200
PROVIDERS = 10
# Removed and counted in the manifest's rows_duplicate, never quarantined.
DUPLICATE_RULES = (DUPLICATE_EXACT, DUPLICATE_KEY)


@dataclass
class Lake:
    home: Path
    results: list
    progress: list[str]
    # generate()'s summary per date: {"rows": {entity: rows written}, "errors": {rule: rows broken}}.
    generated: dict[date, dict]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    from energy_datalake import runner
    from energy_datalake.emulator import glue_runtime, redshift
    from energy_datalake.generator import generate

    home = tmp_path_factory.mktemp("datalake")
    patch = pytest.MonkeyPatch()
    patch.setenv("DATALAKE_HOME", str(home))
    patch.setenv("DATALAKE_SPARK_DRIVER_MEMORY", "1g")
    patch.setenv("DATALAKE_SPARK_MASTER", "local[2]")
    generated = {}
    for day in (FIRST, SECOND):
        summary = generate(day.isoformat(), clients=CLIENTS, providers=PROVIDERS, seed=7, progress=None)
        generated[day] = {
            "rows": summary["rows"][day.isoformat()],
            "errors": summary["errors"][day.isoformat()],
        }
    progress: list[str] = []
    results = []
    # The dates are months apart: one `datalake run` each, the second only if the first succeeded.
    for day in (FIRST, SECOND):
        results += runner.run_dates(day, day, echo=progress.append)
        if results[-1].state != "success":
            break
    yield Lake(home, results, progress, generated)
    # The tests' own runner.run_date calls start the Glue runtime without an owner: it would idle for minutes.
    glue_runtime.stop(home)
    redshift.stop()
    patch.undo()


def _partition(day: date) -> list[str]:
    return [f"{day:%Y}", f"{day:%m}", f"{day:%d}"]


def _lake_root() -> Path:
    from energy_datalake import config, templates

    return config.s3_root() / templates.load().lake_bucket


def _parquet(folder: Path, query: str) -> list[tuple]:
    """``query`` over the Parquet files of one partition ``folder``, read as table ``t``."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{folder}/*.parquet')")
    return con.execute(query).fetchall()


def _injected(lake: Lake, day: date) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """What the generator broke on ``day``: quarantined rows by entity and rule, duplicates by entity."""
    quarantine: dict[str, dict[str, int]] = {}
    duplicates = dict.fromkeys(ENTITIES, 0)
    for rule, count in lake.generated[day]["errors"].items():
        if rule in DUPLICATE_RULES:
            # The generator only repeats transactions.
            duplicates["transactions"] += count
        else:
            quarantine.setdefault(rule.split(".")[0], {})[rule] = count
    return quarantine, duplicates


def test_both_dates_run_every_step_in_order(lake):
    from energy_datalake.pipeline import STEPS

    assert [r.run_date for r in lake.results] == [FIRST, SECOND], lake.progress
    for result in lake.results:
        assert result.state == "success", "\n".join(lake.progress)
        assert [(t.task_id, t.state) for t in result.tasks] == [(step, "success") for step in STEPS]
        assert result.log.is_file()
    # One progress line per date and task, and a verdict per date.
    for step in STEPS:
        assert sum(line.split()[1:3] == [step, "success"] for line in lake.progress) == 2


def test_every_zone_holds_each_date(lake):
    from energy_datalake.status import collect

    for day in (FIRST, SECOND):
        report = collect(day.isoformat())
        zones = report["zones"]
        quarantine, duplicates = _injected(lake, day)
        # Without broken rows the exact comparisons below would hold on an empty quarantine.
        assert quarantine and duplicates["transactions"], lake.generated[day]
        # The generator breaks a few rows on purpose: each is quarantined under the rule it breaks, none
        # more (a valid row quarantined) and none less (a broken row published or lost).
        assert report["quarantine"] == quarantine, day
        manifest = dict(
            _parquet(
                _lake_root() / "processed" / "load_manifest" / partition_path(day),
                "SELECT entity, sum(rows_duplicate) FROM t GROUP BY entity",
            )
        )
        # The injected exact and same-key copies, and only they, are removed as duplicates.
        assert manifest == duplicates, day
        for entity in ENTITIES:
            written = lake.generated[day]["rows"][entity]
            assert zones["raw"][entity]["rows"] == written, (day, entity)
            # Every row written is published unless it is quarantined or a duplicate.
            expected = written - sum(quarantine.get(entity, {}).values()) - duplicates[entity]
            assert zones["processed"][entity]["rows"] == expected, (day, entity)
        for table in CURATED_TABLES:
            assert zones["curated"][table]["rows"] > 0, table
        assert zones["curated"]["daily_energy_balance"]["rows"] == 1
        # One point per hour of the Madrid day: a day assumed 24 hours long would show here.
        assert zones["curated"]["hourly_price_curve"]["rows"] == HOURS[day], day
        assert report["checks"]["passed"] is True
        assert report["last_run"]["run_date"] == day.isoformat()


def test_catalog_has_the_tables_and_both_partitions(lake):
    from energy_datalake.emulator.glue_catalog import Catalog

    catalog = Catalog()
    for database, tables in {
        "raw": ENTITIES,
        "processed": (*ENTITIES, "quarantine", "load_manifest"),
        "curated": CURATED_TABLES,
    }.items():
        names = {t["Name"] for t in catalog.get_tables(database)}
        assert set(tables) <= names, (database, names)
    for database, table in (
        ("raw", "transactions"),
        ("processed", "transactions"),
        ("curated", "hourly_price_curve"),
    ):
        values = [p["Values"][-3:] for p in catalog.get_partitions(database, table)]
        assert _partition(FIRST) in values and _partition(SECOND) in values, (database, table, values)


def test_warehouse_holds_both_dates(lake):
    from energy_datalake.emulator import redshift

    redshift.start()
    with redshift.connect() as conn:
        days = [
            r[0] for r in conn.execute("SELECT delivery_date FROM energy.daily_energy_balance ORDER BY 1")
        ]
        clients = conn.execute("SELECT count(*) FROM energy.client_daily_consumption").fetchone()[0]
        audited = conn.execute("SELECT count(DISTINCT run_date) FROM energy.load_audit").fetchone()[0]
    assert days == [FIRST, SECOND]
    assert clients > CLIENTS  # about every client on each of the two days
    assert audited == 2


def _utc(instant: datetime) -> datetime:
    """A naive UTC datetime: the warehouse's TIMESTAMP, and a Parquet instant read either way."""
    return instant.astimezone(UTC).replace(tzinfo=None) if instant.tzinfo else instant


def test_the_autumn_day_curve_tells_the_two_02_hours_apart(lake):
    from energy_datalake.emulator import redshift

    # Catches an hour keyed by Madrid wall clock anywhere on the way: the two 02:00 would share a row
    # (24 points), or one would carry both hours' energy and the other none.
    columns = "delivery_start, local_hour, hour_index, sold_kwh, purchased_kwh"
    curated = [
        (_utc(start), *rest)
        for start, *rest in _parquet(
            _lake_root() / "curated" / "hourly_price_curve" / partition_path(SECOND),
            f"SELECT {columns} FROM t ORDER BY hour_index",
        )
    ]
    first_hour = datetime(2026, 10, 24, 22)  # 00:00+02:00 of the 25th
    assert [row[:3] for row in curated] == [
        (first_hour + timedelta(hours=i), label, i + 1) for i, label in enumerate(AUTUMN_LOCAL_HOURS)
    ]
    # Every generated hour has sales and purchases.
    assert all(sold > 0 and purchased > 0 for *_, sold, purchased in curated), curated
    redshift.start()
    with redshift.connect() as conn:
        warehouse = conn.execute(
            f"SELECT {columns} FROM energy.hourly_price_curve WHERE delivery_date = %s ORDER BY hour_index",
            (SECOND,),
        ).fetchall()
    assert [(_utc(start), *rest) for start, *rest in warehouse] == curated


def _lake_contents(day: date) -> dict[str, list[tuple]]:
    """Every row of the date's processed and curated partitions, its quarantine and load manifest (but the
    job's run id), and every warehouse row but the audit."""
    import duckdb

    from energy_datalake.emulator import redshift

    lake_root = _lake_root()
    partition = partition_path(day)
    contents = {}
    for folder in [lake_root / "processed" / e / partition for e in ENTITIES] + [
        lake_root / "curated" / t / partition for t in CURATED_TABLES
    ]:
        rows = duckdb.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet') ORDER BY ALL").fetchall()
        contents[str(folder.relative_to(lake_root))] = rows
    # The quarantine is one folder per entity (entity=...), each partitioned by date.
    contents["processed/quarantine"] = duckdb.sql(
        f"SELECT * FROM read_parquet('{lake_root}/processed/quarantine/*/{partition}/*.parquet', "
        "hive_partitioning = true) ORDER BY ALL"
    ).fetchall()
    contents["processed/load_manifest"] = duckdb.sql(
        f"SELECT * EXCLUDE (job_run_id) FROM read_parquet('{lake_root}/processed/load_manifest/{partition}/"
        "*.parquet') ORDER BY ALL"
    ).fetchall()
    redshift.start()
    with redshift.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'energy' "
                "AND table_type = 'BASE TABLE' AND table_name <> 'load_audit'"
            )
        ]
        for table in tables:
            contents[f"warehouse.{table}"] = conn.execute(
                f"SELECT * FROM energy.{table} ORDER BY 1, 2"
            ).fetchall()
    return contents


def _last_loads(day: date) -> dict[str, tuple]:
    """The warehouse audit of the date's latest load per table: (run_id, loaded_at, inserted, updated,
    deleted, and the dim_client history's versions opened, closed, merged)."""
    from energy_datalake.emulator import redshift

    redshift.start()
    with redshift.connect() as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (table_name) table_name, run_id, loaded_at, rows_inserted, rows_updated, rows_deleted, "
            "versions_opened, versions_closed, versions_merged FROM energy.load_audit WHERE run_date = %s "
            "ORDER BY table_name, loaded_at DESC",
            (day,),
        ).fetchall()
    return {table: tuple(rest) for table, *rest in rows}


def test_rerunning_a_date_changes_nothing(lake):
    from energy_datalake import runner

    before = _lake_contents(SECOND)
    assert all(before.values())
    first_loads = _last_loads(SECOND)
    # As `datalake run` re-runs it: the Glue runtime starts in the background while Airflow does.
    [result] = runner.run_dates(SECOND, SECOND, echo=lake.progress.append)
    assert result.state == "success", "\n".join(lake.progress)
    after = _lake_contents(SECOND)
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], key
    # The re-run loaded every table again and its audit says it changed nothing: a load that deletes and
    # re-inserts the same rows (or churns dim_client's history) leaves equal tables but not these counts.
    reloads = _last_loads(SECOND)
    assert reloads.keys() == first_loads.keys() and reloads, reloads
    for table, (run_id, loaded_at, *counts) in reloads.items():
        # Each load is recorded under its Airflow run, so the audit tells the re-run from the first load.
        assert run_id and run_id != first_loads[table][0], (table, run_id)
        assert loaded_at > first_loads[table][1], table
        assert counts == [0, 0, 0, 0, 0, 0], table


def test_workgroup_grants_are_enforced(lake):
    from energy_datalake.emulator.athena import AccessDenied, QueryEngine

    assert QueryEngine("reporting").execute("SELECT count(*) FROM curated.daily_energy_balance").rows == [
        (2,)
    ]
    with pytest.raises(AccessDenied, match="processed.clients|clients"):
        QueryEngine("reporting").execute("SELECT count(*) FROM processed.clients")
    with pytest.raises(AccessDenied, match="tax_id"):
        QueryEngine("analysts").execute("SELECT tax_id FROM processed.clients")
    assert QueryEngine("analysts").execute("SELECT count(*) FROM processed.clients").rows[0][0] > 0
    with pytest.raises(AccessDenied, match="raw"):
        QueryEngine("data-science").execute("SELECT count(*) FROM raw.transactions")


def test_a_failing_check_stops_the_run_before_the_warehouse(lake):
    from energy_datalake import airflow_env, runner
    from energy_datalake.emulator import redshift
    from energy_datalake.generator import generate

    third = SECOND + timedelta(days=1)
    generate(third.isoformat(), days=1, clients=CLIENTS, providers=PROVIDERS, seed=7, progress=None)
    # The jobs are marked done without running: the date's processed and curated partitions never appear,
    # which the partition check must catch.
    result = runner.run_date(
        third,
        airflow_env.airflow_environ(),
        echo=lake.progress.append,
        mark_success="raw_to_processed|processed_to_curated",
    )
    states = {t.task_id: t.state for t in result.tasks}
    assert result.state == "failed"
    assert result.failed_task == "athena_checks"
    assert states["athena_checks"] == "failed"
    assert states["load_redshift"] == "upstream_failed"
    assert "quality check(s) failed" in result.error and "offending" in result.error
    assert any("FAILED at task athena_checks" in line for line in lake.progress)
    redshift.start()
    with redshift.connect() as conn:
        loaded = conn.execute(
            "SELECT count(*) FROM energy.daily_energy_balance WHERE delivery_date = %s", (third,)
        ).fetchone()[0]
    assert loaded == 0


def test_a_missing_export_times_out_naming_what_is_missing(lake):
    from energy_datalake import airflow_env, runner

    never_exported = SECOND + timedelta(days=10)
    env = airflow_env.airflow_environ()
    env.update({"DATALAKE_EXPORT_TIMEOUT_SECONDS": "4", "DATALAKE_EXPORT_POKE_SECONDS": "1"})
    result = runner.run_date(never_exported, env, echo=lake.progress.append)
    states = {t.task_id: t.state for t in result.tasks}
    assert result.failed_task == "wait_for_exports"
    assert states["crawl_raw"] == "upstream_failed"
    partition = f"year={never_exported:%Y}/month={never_exported:%m}/day={never_exported:%d}"
    assert "missing" in result.error
    for entity in ENTITIES:
        assert f"raw/{entity}/{partition}/_SUCCESS" in result.error
    waiting = [line for line in lake.progress if line.startswith(f"{never_exported} waiting for the exports")]
    assert len(waiting) == 1 and "up to 4 s (DATALAKE_EXPORT_TIMEOUT_SECONDS)" in waiting[0]
    assert waiting[0].endswith(f"datalake generate --date {never_exported}")
    # While the sensor waits Airflow logs "No tasks to run" every second: the log keeps one of a series.
    lines = result.log.read_text().splitlines()
    assert any(line.startswith("  [the line above repeated") for line in lines)
    idle = [i for i, line in enumerate(lines) if "No tasks to run" in line]
    assert idle and all(b - a > 1 for a, b in zip(idle, idle[1:], strict=False)), idle


def test_a_run_shows_its_real_start_and_names_its_business_date(lake):
    import sqlite3

    from energy_datalake import airflow_env

    with sqlite3.connect(airflow_env.database_path()) as conn:
        rows = conn.execute(
            "SELECT r.logical_date, r.created_at, r.start_date, r.end_date, r.conf, n.content "
            "FROM dag_run r LEFT JOIN dag_run_note n ON n.dag_run_id = r.id WHERE r.logical_date LIKE ?",
            (f"{FIRST} %",),
        ).fetchall()
    assert rows
    for logical, created, start, end, conf, note in rows:
        assert start >= created[:19] and end > start, (logical, created, start, end)
        assert f'"run_date": "{FIRST}"' in conf
        assert note.startswith(f"Business date {FIRST} (datalake run): ")


@pytest.mark.parametrize(
    ("sig", "said", "code"), [(signal.SIGINT, "Ctrl-C", 130), (signal.SIGTERM, "SIGTERM", 143)]
)
def test_stopping_a_waiting_run_stops_airflow_and_marks_the_run(lake, sig, said, code):
    import psutil

    from energy_datalake import airflow_env

    day = SECOND + timedelta(days=20 + code)
    env = {**os.environ, "DATALAKE_HOME": str(lake.home)}
    with subprocess.Popen(
        [sys.executable, "-m", "energy_datalake.cli", "run", "--date", day.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "wait_for_exports" in line and "up_for_reschedule" in line:
                break
        assert any(f"{day} waiting for the exports of providers, clients, transactions" in s for s in seen), (
            seen
        )
        # A run waiting for its exports holds no JVM: the Glue runtime starts with the first job.
        started = [" ".join(p.cmdline()) for p in psutil.Process(proc.pid).children(recursive=True)]
        assert not [c for c in started if "glue_runtime" in c or "java" in c], started
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [
        f"datalake run: stopped by {said} during the run of {day} at task wait_for_exports; the run is marked "
        f"failed (log {lake.home / 'logs' / f'run-{day}.log'})"
    ]
    assert "Traceback" not in out + err
    leftover = subprocess.run(["pgrep", "-f", f"dags test energy_datalake_daily {day}"], capture_output=True)
    assert leftover.returncode == 1, leftover.stdout
    run = airflow_env.latest_run(day)
    assert run.state == "failed"
    assert {t.task_id: t.state for t in run.tasks}["wait_for_exports"] == "failed"
