"""Does the daily run stay the same size as the lake grows? Day 1 on an empty lake against day 91 on a 90-day lake.

    .venv/bin/python benchmarks/incremental.py [--date 2026-05-04] [--history 90] [--repeat 1] [--work /tmp/...]

The daily run is what a business day costs: ``datalake run --date D`` (the whole DAG through Airflow:
deploy check, export sensor, crawlers, the three Glue jobs, the catalog refresh, the quality gate, the
warehouse load) then ``datalake status --date D``, both through the real CLI with ``DATALAKE_HOME`` in
``--work``. Goal: day 91 costs at most 1.1 x day 1.

The two lakes, built once per run of this script:

- empty: ``datalake deploy`` (the stacks provisioned: databases, declared tables, warehouse schema) and
  ``datalake generate --date D``; no day has run. Deploying first, untimed, keeps the first deploy's one-off
  provisioning (cfn-lint, the warehouse's initdb) out of day 1, where it would flatter the ratio.
- 90 days: the empty lake after day 1 ran for real, then its run-date partitions replicated over the
  ``history - 1`` days before D in every zone (raw exports with their ``_SUCCESS`` and dated file names,
  processed entities, quarantine, whole-file quarantine, load manifest, curated KPIs) as hard links; the
  catalog brought up to date by the templates' own crawlers (as the daily crawls would have left it); the
  warehouse's facts and ``load_audit`` rows of D copied to each earlier date (dates shifted), then ANALYZEd;
  the check results copied per date. Then ``datalake generate --date D+1``: day 91.

Why replicate instead of running 89 more days: a day costs about 80 s here, so 89 runs would take two
hours, and the daily path must not read history at all, so what matters is that history is there in the
right places and sizes, not what its rows say. What replication leaves out: every past day holds day 1's
bytes (the partition columns come from the paths, so queries see the right dates), and ``dim_client`` has
day 1's versions only (a real history adds about 0.5 % of the clients per day as new versions; the SCD2
statements read the dimension whole, see the report of issue 9). Hard links make the history cost no disk
and share the page cache, which would hide a step that re-reads history only if that step were I/O bound;
a step that re-reads it still parses every file it opens.

Each repetition restores both lakes from their snapshots (hard links for the lake's objects, which the
pipeline only ever replaces, copies for the catalog, Airflow's database and the warehouse, which it
updates in place) and times day 1 then day 91, so the two runs see the same machine load. Recorded per
run: wall seconds of ``run`` and ``status``, the CPU seconds of every process they waited for (Spark's
JVMs included; the warehouse server, a daemon, not), and Airflow's task durations; then the ratios and the
per-task differences. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import Figure, positive, write_results

REPO = Path(__file__).resolve().parents[1]
DATALAKE = str(Path(sys.executable).parent / "datalake")
# Neither day 1 nor day 91 is a clock-change day (23 or 25 delivery hours): the two days are the same size.
RUN_DATE = dt.date(2026, 5, 4)
GOAL_RATIO = 1.1
ZONES = ("raw", "processed", "curated")
# What the pipeline updates in place: copied for each repetition, never hard-linked.
MUTABLE = ("catalog", "airflow", "postgres", "checks", "deploy", "logs")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--date", type=dt.date.fromisoformat, default=RUN_DATE, help="day 1 (YYYY-MM-DD)")
    parser.add_argument("--history", type=positive, default=90, help="days in the lake before the timed day")
    parser.add_argument("--repeat", type=positive, default=1, help="timed (day 1, day N+1) pairs")
    parser.add_argument("--clients", type=positive, default=5000, help="clients of the generated days")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/energy-datalake-bench/incremental"), help="scratch folder"
    )
    return parser.parse_args()


# Running the CLI


def datalake(home: Path, *args: str, log: Path | None = None) -> dict:
    """Run ``datalake ARGS`` with ``DATALAKE_HOME=home``; wall and CPU seconds, and its output."""
    env = {**os.environ, "DATALAKE_HOME": str(home)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([DATALAKE, *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if log is not None:
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(
            f"datalake {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": seconds, "cpu_seconds": cpu, "stdout": result.stdout}


def daily_run(home: Path, day: dt.date, label: str) -> dict:
    """The day's run and its status, as an operator runs them; the figures of both."""
    load_before = os.getloadavg()[0]
    run = datalake(home, "run", "--date", day.isoformat(), log=home.parent / f"{label}-run.log")
    status = datalake(home, "status", "--date", day.isoformat(), "--json")
    report = json.loads(status["stdout"])
    tasks = {t["task_id"]: t["seconds"] for t in report["last_run"]["tasks"]}
    if report["last_run"]["state"] != "success":
        raise RuntimeError(f"the run of {day} in {home} did not succeed: {report['last_run']}")
    return {
        "date": day.isoformat(),
        "seconds": round(run["seconds"] + status["seconds"], 2),
        "cpu_seconds": round(run["cpu_seconds"] + status["cpu_seconds"], 2),
        "run_seconds": round(run["seconds"], 2),
        "status_seconds": round(status["seconds"], 2),
        "tasks": tasks,
        "raw_rows": {entity: stats["rows"] for entity, stats in report["zones"]["raw"].items()},
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


# Building the lakes


def lake_bucket(home: Path) -> Path:
    buckets = [p for p in (home / "s3").iterdir() if (p / "raw").is_dir()]
    if len(buckets) != 1:
        raise RuntimeError(f"expected one lake bucket with a raw zone under {home / 's3'}, found {buckets}")
    return buckets[0]


def empty_lake(home: Path, day: dt.date, clients: int) -> None:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    datalake(home, "deploy")
    # The deploy leaves the warehouse server running (a run stops it at its end): stop it, so that the
    # snapshots copy a warehouse at rest and each copy starts its own server.
    stop_warehouse(home)
    datalake(home, "generate", "--date", day.isoformat(), "--clients", str(clients))


def stop_warehouse(home: Path) -> None:
    os.environ["DATALAKE_HOME"] = str(home)
    from energy_datalake.emulator import redshift

    redshift.stop()


def snapshot(source: Path, target: Path) -> None:
    """A copy of a DATALAKE_HOME: the lake's objects hard-linked, the state the pipeline updates copied.

    ``cp -a`` keeps the owners: the warehouse's files belong to the server's user when this runs as root.
    """
    if (source / "postgres" / "postmaster.pid").exists():
        raise RuntimeError(f"the warehouse server of {source} is running: a copy would share it")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for child in source.iterdir():
        if child.name == "postgres.lock":
            continue
        link = [] if child.name in MUTABLE else ["--link"]
        subprocess.run(["cp", "-a", *link, str(child), str(target / child.name)], check=True)
    # Airflow's configuration names its home; the environment overrides the rest, not the log folder.
    cfg = target / "airflow" / "airflow.cfg"
    if cfg.exists():
        cfg.write_text(cfg.read_text().replace(str(source), str(target)))


def partition_folders(bucket: Path, day: dt.date) -> list[Path]:
    """The run date's partition folders in every zone, whatever their depth (quarantine is entity=/year=/...)."""
    from glue_jobs.lib.contract import partition_path

    leaf = partition_path(day)
    folders = []
    for zone in ZONES:
        for folder in (bucket / zone).rglob("day=*"):
            relative = folder.relative_to(bucket).as_posix()
            if relative.endswith(leaf) and not any(p.startswith(("_", ".")) for p in relative.split("/")):
                folders.append(folder)
    return sorted(folders)


def replicate_partitions(bucket: Path, day: dt.date, earlier: list[dt.date]) -> int:
    """Hard-link every file of ``day``'s partitions into the same partition of each earlier date."""
    from glue_jobs.lib.contract import partition_path, partition_values

    stamp = "".join(partition_values(day).values())
    leaf = partition_path(day)
    linked = 0
    for folder in partition_folders(bucket, day):
        table_folder = str(folder)[: -len(leaf)]
        for other in earlier:
            target = Path(table_folder + partition_path(other))
            target.mkdir(parents=True, exist_ok=True)
            other_stamp = "".join(partition_values(other).values())
            for file in folder.iterdir():
                if file.is_file():
                    os.link(file, target / file.name.replace(stamp, other_stamp))
                    linked += 1
    return linked


def crawl_history(home: Path) -> list[str]:
    """The templates' crawlers over the replicated lake: the catalog the daily crawls would have left."""
    os.environ["DATALAKE_HOME"] = str(home)
    from energy_datalake import templates
    from energy_datalake.emulator.glue_crawler import run_crawler

    return [str(run_crawler(name)) for name in sorted(templates.load().crawlers)]


def warehouse_history(home: Path, day: dt.date, earlier: list[dt.date]) -> dict[str, int]:
    """Copy the warehouse rows of ``day`` (facts, load audit) to each earlier date; rows per table after."""
    os.environ["DATALAKE_HOME"] = str(home)
    from energy_datalake.emulator import redshift
    from glue_jobs.lib import warehouse

    offsets = sorted((day - other).days for other in earlier)
    counts = {}
    warehouse_server = redshift.Warehouse()
    with redshift.serving(warehouse_server), warehouse_server.connect() as conn:
        for table in (*warehouse.FACT_KEYS, warehouse.LOAD_AUDIT):
            columns = [
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position",
                    (warehouse.SCHEMA, table),
                )
            ]
            date_column = "run_date" if table == warehouse.LOAD_AUDIT else warehouse.DAY_COLUMN
            shifted = {
                date_column: f"{date_column} - k",
                "delivery_start": "delivery_start - k * INTERVAL '1 day'",
                "run_id": "run_id || ':history-' || k",
            }
            select = ", ".join(shifted.get(c, c) for c in columns)
            conn.execute(
                f"INSERT INTO {warehouse.SCHEMA}.{table} ({', '.join(columns)}) "
                f"SELECT {select} FROM {warehouse.SCHEMA}.{table} CROSS JOIN unnest(%s::int[]) AS k "
                f"WHERE {date_column} = %s",
                (offsets, day),
            )
            counts[table] = conn.execute(f"SELECT count(*) FROM {warehouse.SCHEMA}.{table}").fetchone()[0]
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return counts


def copy_check_results(home: Path, day: dt.date, earlier: list[dt.date]) -> None:
    source = home / "checks" / f"{day.isoformat()}.json"
    document = json.loads(source.read_text())
    for other in earlier:
        document["run_date"] = other.isoformat()
        (source.parent / f"{other.isoformat()}.json").write_text(json.dumps(document))


def history_lake(empty: Path, home: Path, day: dt.date, history: int, clients: int) -> dict:
    """The empty lake after day 1, grown to ``history`` days, with day ``history + 1``'s exports."""
    snapshot(empty, home)
    started = time.perf_counter()
    datalake(home, "run", "--date", day.isoformat(), log=home.parent / "history-day1-run.log")
    day1_seconds = time.perf_counter() - started
    earlier = [day - dt.timedelta(days=k) for k in range(1, history)]
    started = time.perf_counter()
    linked = replicate_partitions(lake_bucket(home), day, earlier)
    crawls = crawl_history(home)
    rows = warehouse_history(home, day, earlier)
    copy_check_results(home, day, earlier)
    build_seconds = time.perf_counter() - started
    next_day = day + dt.timedelta(days=1)
    datalake(home, "generate", "--date", next_day.isoformat(), "--clients", str(clients))
    return {
        "days": history,
        "next_day": next_day.isoformat(),
        "day1_seconds": round(day1_seconds, 1),
        "replication_seconds": round(build_seconds, 1),
        "files_linked": linked,
        "crawls": crawls,
        "warehouse_rows": rows,
    }


# The figures


def figures_of(pairs: list[tuple[dict, dict]], lake: dict) -> list[Figure]:
    def ratio(key: str) -> list[float]:
        return [round(late[key] / first[key], 3) for first, late in pairs]

    wall, cpu = ratio("seconds"), ratio("cpu_seconds")
    tasks = sorted(set(pairs[0][0]["tasks"]) | set(pairs[0][1]["tasks"]))
    per_task = {
        task: {
            "day_1": [first["tasks"].get(task) for first, _ in pairs],
            f"day_{lake['days'] + 1}": [late["tasks"].get(task) for _, late in pairs],
        }
        for task in tasks
    }
    goal = f"<= {GOAL_RATIO} x day 1"
    return [
        Figure(
            f"daily run (run + status) of day {lake['days'] + 1} on a {lake['days']}-day lake / day 1 on an empty lake, wall",
            statistics.median(wall),
            "ratio",
            goal,
            {"ratios": wall, "runs": [{"day_1": a, f"day_{lake['days'] + 1}": b} for a, b in pairs]},
            target=GOAL_RATIO,
            better="lower",
        ),
        Figure(
            f"daily run (run + status) of day {lake['days'] + 1} / day 1, CPU of the processes waited for",
            statistics.median(cpu),
            "ratio",
            goal,
            {"ratios": cpu},
            target=GOAL_RATIO,
            better="lower",
        ),
        Figure(
            "day 1 daily run on an empty lake",
            statistics.median(first["seconds"] for first, _ in pairs),
            "s",
            detail={"cpu_seconds": [first["cpu_seconds"] for first, _ in pairs]},
        ),
        Figure(
            f"day {lake['days'] + 1} daily run on a {lake['days']}-day lake",
            statistics.median(late["seconds"] for _, late in pairs),
            "s",
            detail={"cpu_seconds": [late["cpu_seconds"] for _, late in pairs], "lake": lake},
        ),
        Figure("Airflow task durations, day 1 vs day N+1", len(pairs), "pairs", detail=per_task),
    ]


def main() -> None:
    args = parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    empty, history = work / "empty", work / "history"
    print(f"building the lakes under {work} (load {os.getloadavg()[0]:.2f})", flush=True)
    empty_lake(empty, args.date, args.clients)
    lake = history_lake(empty, history, args.date, args.history, args.clients)
    print(
        f"{args.history}-day lake: {json.dumps({k: v for k, v in lake.items() if k != 'crawls'})}", flush=True
    )
    next_day = dt.date.fromisoformat(lake["next_day"])
    pairs = []
    for repetition in range(1, args.repeat + 1):
        snapshot(empty, work / "timed-empty")
        first = daily_run(work / "timed-empty", args.date, f"day1-{repetition}")
        snapshot(history, work / "timed-history")
        late = daily_run(work / "timed-history", next_day, f"day{args.history + 1}-{repetition}")
        pairs.append((first, late))
        print(
            f"#{repetition}: day 1 {first['seconds']:.1f} s ({first['cpu_seconds']:.1f} s CPU), "
            f"day {args.history + 1} {late['seconds']:.1f} s ({late['cpu_seconds']:.1f} s CPU), "
            f"ratio {late['seconds'] / first['seconds']:.3f} (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
        for task in first["tasks"]:
            print(f"    {task:<22}{first['tasks'][task] or 0:>8.1f}{late['tasks'].get(task) or 0:>8.1f}")
        print(f"    {'status --date':<22}{first['status_seconds']:>8.1f}{late['status_seconds']:>8.1f}")
    print(f"wrote {write_results('incremental', figures_of(pairs, lake))}")


if __name__ == "__main__":
    main()
