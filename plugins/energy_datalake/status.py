"""``datalake status``: what the local lake holds, in ten seconds of reading.

Per zone and table: rows, files and bytes (row counts from Parquet footers, and CSV lines for raw);
quarantined rows by rule; the quality checks of the date with their result and the data they scanned;
warehouse rows per table (with a date: the rows that date's load staged); the last DAG run's task states
and durations. ``--json`` prints the same as one JSON document.

With ``--date`` only that date's partitions are listed and read, so the daily status costs the same
whatever the lake holds; without it, every file is (the inventory of the whole lake).
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from energy_datalake import airflow_env, config
from energy_datalake.formatting import format_bytes
from glue_jobs.lib.contract import partition_path, partition_values

ZONES = ("raw", "processed", "curated")


def main(args) -> int:
    report = collect(args.date)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0


def collect(run_date: str | None = None) -> dict:
    from energy_datalake import templates

    lake = config.s3_root() / templates.load().lake_bucket
    day = date.fromisoformat(run_date) if run_date else None
    last_run = last_dag_run(day)
    checks_date = run_date or (last_run or {}).get("run_date")
    return {
        "date": run_date,
        "lake": str(lake),
        "zones": {zone: zone_tables(lake / zone, day) for zone in ZONES},
        "quarantine": quarantined_by_rule(lake / "processed" / "quarantine", day),
        "checks": checks(checks_date),
        "warehouse": warehouse_rows(day),
        "last_run": last_run,
    }


def zone_tables(zone: Path, day: date | None) -> dict[str, dict[str, int]]:
    if not zone.is_dir():
        return {}
    # Folders starting with "_" are the jobs' scratch space (staging), not tables.
    return {
        folder.name: table_stats(folder, day)
        for folder in sorted(zone.iterdir())
        if folder.is_dir() and not folder.name.startswith(("_", "."))
    }


def table_stats(folder: Path, day: date | None) -> dict[str, int]:
    files = data_files(folder, day)
    return {
        "rows": sum(file_rows(f) for f in files),
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
    }


def data_files(folder: Path, day: date | None) -> list[Path]:
    """The table's data files, or with ``day`` those of its ``year=/month=/day=`` partition of that date.

    With a date, a ``year=``, ``month=`` or ``day=`` folder of another date is never entered (other
    ``key=value`` levels, such as the quarantine's ``entity=``, are), so the files of the other days are
    not even listed: a daily status costs the same on a lake of one day and of a year.
    """
    wanted = {f"{key}=": f"{key}={value}" for key, value in partition_values(day).items()} if day else {}
    partition = f"{partition_path(day)}/" if day else ""
    files = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.startswith(("_", ".")):
                    continue
                if entry.is_dir():
                    key = entry.name.split("=", 1)[0] + "=" if "=" in entry.name else None
                    if key not in wanted or wanted[key] == entry.name:
                        pending.append(Path(entry.path))
                elif entry.name.endswith((".csv", ".parquet")) and entry.is_file():
                    path = Path(entry.path)
                    if partition in path.relative_to(folder).as_posix():
                        files.append(path)
    return sorted(files)


def file_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as f:
        # The header is not a row; quoted line breaks are rare enough in the exports for a status figure.
        return max(sum(1 for _ in f) - 1, 0)


def quarantined_by_rule(quarantine: Path, day: date | None) -> dict[str, dict[str, int]]:
    files = data_files(quarantine, day) if quarantine.is_dir() else []
    if not files:
        return {}
    import duckdb

    sources = ", ".join(f"'{f}'" for f in files)
    rows = duckdb.sql(
        f"SELECT entity, rule, count(*) FROM read_parquet([{sources}], hive_partitioning = true) "
        "GROUP BY ALL ORDER BY entity, rule"
    ).fetchall()
    result: dict[str, dict[str, int]] = {}
    for entity, rule, count in rows:
        result.setdefault(entity, {})[rule] = count
    return result


def checks(run_date: str | None) -> dict | None:
    from energy_datalake.checks import read_results

    return read_results(run_date) if run_date else None


def warehouse_rows(day: date | None = None) -> dict[str, int] | None:
    """Rows per table of schema ``energy``; with ``day``, the rows the date's latest load staged per table
    (its ``load_audit`` rows), so a daily status does not count the warehouse's history. None when the
    warehouse was never created."""
    from energy_datalake.emulator import redshift

    warehouse = redshift.Warehouse()
    if not warehouse.pgdata.exists():
        return None
    with redshift.serving(warehouse), warehouse.connect() as conn:
        if day is not None:
            if not conn.execute("SELECT to_regclass('energy.load_audit')").fetchone()[0]:
                return {}
            return dict(
                conn.execute(
                    "SELECT DISTINCT ON (table_name) table_name, rows_staged FROM energy.load_audit "
                    "WHERE run_date = %s ORDER BY table_name, loaded_at DESC",
                    (day,),
                ).fetchall()
            )
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'energy' AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        ]
        return {t: conn.execute(f'SELECT count(*) FROM energy."{t}"').fetchone()[0] for t in tables}


def last_dag_run(day: date | None = None) -> dict | None:
    """The run of the DAG (for ``day`` if given) that finished last, with its tasks' states and durations;
    ``now_running``: a newer run that has not finished, if any (run_id, run_date, state, start_date)."""
    finished = airflow_env.latest_run(day, finished=True)
    newest = airflow_env.latest_run(day)
    pending = newest if newest is not None and newest.state not in airflow_env.FINISHED_RUN_STATES else None
    if finished is None and pending is None:
        return None
    run = finished or pending
    report = {
        "run_id": run.run_id,
        "run_date": run.run_date,
        "state": run.state,
        "start_date": run.start_date,
        "end_date": run.end_date,
        "tasks": [
            {
                "task_id": t.task_id,
                "state": t.state,
                "seconds": round(t.duration, 1) if t.duration is not None else None,
                "tries": t.try_number,
            }
            for t in run.tasks
        ],
        "now_running": None,
    }
    if pending is not None and finished is not None:
        report["now_running"] = {
            "run_id": pending.run_id,
            "run_date": pending.run_date,
            "state": pending.state,
            "start_date": pending.start_date,
        }
    return report


def render(report: dict) -> str:
    lines = [f"Lake {report['lake']}" + (f"  (date {report['date']})" if report["date"] else "  (all dates)")]
    lines.append(f"  {'zone':<10}{'table':<28}{'rows':>12}{'files':>7}{'size':>11}")
    for zone, tables in report["zones"].items():
        for table, stats in tables.items():
            lines.append(
                f"  {zone:<10}{table:<28}{stats['rows']:>12,}{stats['files']:>7}{format_bytes(stats['bytes']):>11}"
            )
    lines.append("Quarantine (rows by rule)")
    quarantine = report["quarantine"]
    lines += [f"  {e:<14}{rule:<44}{n:>8,}" for e, rules in quarantine.items() for rule, n in rules.items()]
    if not quarantine:
        lines.append("  none")
    lines += _render_checks(report["checks"])
    warehouse = report["warehouse"]
    if report["date"]:
        lines.append(f"Warehouse (rows per table loaded for {report['date']})")
        empty = "  not created yet" if warehouse is None else "  nothing loaded for this date"
    else:
        lines.append("Warehouse (rows per table in schema energy)")
        empty = "  not created yet"
    lines += [f"  {t:<38}{n:>10,}" for t, n in (warehouse or {}).items()] or [empty]
    lines += _render_run(report["last_run"])
    return "\n".join(lines)


def _render_checks(document: dict | None) -> list[str]:
    if not document:
        return ["Checks: none run"]
    results = document["results"]
    passed = sum(r["passed"] for r in results)
    # Results from one query share its bytes: count each query once, as Athena bills it.
    scanned = sum({r["query"]: r["bytes_scanned"] for r in results}.values())
    lines = [
        f"Checks of {document['run_date']}: {passed}/{len(results)} passed, {format_bytes(scanned)} scanned"
    ]
    lines += [
        f"  FAILED {r['name']} on {r['table']}: {r['error'] or str(r['failures']) + ' offending'}"
        for r in results
        if not r["passed"]
    ]
    return lines


def _render_run(run: dict | None) -> list[str]:
    if not run:
        return ["Last run: none"]
    lines = [f"Last run: {run['run_date']} {run['state']} ({run['run_id']})"]
    pending = run.get("now_running")
    if pending:
        lines.insert(
            0,
            f"Now {pending['state']}: {pending['run_date']} ({pending['run_id']}, since {pending['start_date']})",
        )
    lines += [
        f"  {t['task_id']:<22}{t['state'] or 'not run':<18}"
        + (f"{t['seconds']:>8.1f}s" if t["seconds"] is not None else "")
        for t in run["tasks"]
    ]
    return lines
