"""dim_client stays the canonical SCD2 of the snapshots loaded so far, whatever order the days come in.

The plans run straight through psycopg on the embedded PostgreSQL (the staging table filled by the local
writer's COPY from Arrow batches built here), so that every order of four days, with a corrected
re-export, is a few hundred loads in seconds, without Spark.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

from glue_jobs.lib import warehouse as wh
from glue_jobs.warehouse_writers import PostgresWriter

DAY1, DAY2, DAY3, DAY4 = (dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(4))

# The attributes (DIM_CLIENT_ATTRIBUTES' order) of a client in a variant; N has a NULL segment, so that
# equality must be NULL-safe.
VARIANTS = {
    "A": ("2.0TD", Decimal("4.600"), "RESIDENTIAL"),
    "B": ("3.0TD", Decimal("20.000"), "SME"),
    "C": ("3.0TD", Decimal("15.000"), "SME"),
    "D": ("6.1TD", Decimal("450.000"), "INDUSTRIAL"),
    "N": ("2.0TD", Decimal("4.600"), None),
}


def attributes(client: str, variant: str) -> tuple:
    tariff, power, segment = VARIANTS[variant]
    return (f"ES0021000000000000{client[-2:]}XY", tariff, power, "28", segment, dt.date(2025, 1, 1))


# A client missing from a day is absent from that snapshot (a quarantined row, say).
SNAPSHOTS = {
    DAY1: {"C01": "A", "C02": "A", "C03": "A", "C04": "A", "C05": "A", "C07": "A", "C08": "A", "C09": "A"},
    DAY2: {
        "C01": "B",
        "C02": "A",
        "C03": "A",
        "C04": "B",
        "C05": "A",
        "C06": "A",
        "C07": "B",
        "C08": "A",
        "C09": "N",
    },
    DAY3: {"C01": "B", "C02": "B", "C03": "A", "C04": "A", "C06": "A", "C07": "C", "C08": "A", "C09": "N"},
    DAY4: {
        "C01": "B",
        "C02": "B",
        "C03": "B",
        "C04": "A",
        "C05": "B",
        "C06": "A",
        "C07": "D",
        "C08": "A",
        "C09": "A",
    },
}
# C01: a change on day 2; C02 on day 3; C03 on day 4; C04 changed on day 2 and reverted on day 3; C05 absent
# on day 3; C06 new on day 2; C07 changes every day; C08 never; C09 a NULL that comes and goes.
# The corrected re-export of day 2: C01 and C04 now equal their day 1 (the versions they opened go), C07
# equals its day 3 (its day-3 version starts on day 2), C08 gets a one-day version, C05 one from day 2 that
# runs into its day-4 one, and C06 is missing from it (its day 2 stays as first exported).
CORRECTED_DAY2 = {
    "C01": "A",
    "C02": "A",
    "C03": "A",
    "C04": "A",
    "C05": "B",
    "C07": "C",
    "C08": "B",
    "C09": "N",
}

VERSION_COLUMNS = ("client_id", *wh.DIM_CLIENT_ATTRIBUTES, "valid_from", "valid_to", "is_current")


def canonical(loads: list[tuple[dt.date, dict[str, str]]]) -> list[tuple]:
    """The SCD2 of the loads, as dim_client's rows: per client, its days in a snapshot with the attributes of
    the latest export of each day; a version starts on each such day that differs from the one before."""
    latest = {}
    for day, snapshot in loads:
        for client, variant in snapshot.items():
            latest[client, day] = attributes(client, variant)
    rows = []
    for client in sorted({c for c, _ in latest}):
        starts = []
        for day in sorted(d for c, d in latest if c == client):
            if not starts or starts[-1][1] != latest[client, day]:
                starts.append((day, latest[client, day]))
        for (start, values), following in itertools.zip_longest(starts, starts[1:]):
            end = following[0] if following else None
            rows.append((client, *values, start, end, end is None))
    return rows


def seen_runs(loads: list[tuple[dt.date, dict[str, str]]]) -> list[tuple]:
    """Per client, its days in a loaded snapshot as runs of consecutive days (first, last)."""
    days = sorted({(c, d) for d, snapshot in loads for c in snapshot})
    runs = []
    for client, day in days:
        if runs and runs[-1][0] == client and runs[-1][2] == day - dt.timedelta(days=1):
            runs[-1] = (client, runs[-1][1], day)
        else:
            runs.append((client, day, day))
    return runs


def batch(snapshot: dict[str, str]) -> pa.RecordBatch:
    rows = [(client, *attributes(client, variant)) for client, variant in sorted(snapshot.items())]
    types = (
        pa.string(),
        pa.string(),
        pa.string(),
        pa.decimal128(8, 3),
        pa.string(),
        pa.string(),
        pa.date32(),
    )
    names = [c.name for c in wh.dim_client_columns()]
    return pa.RecordBatch.from_arrays(
        [pa.array([row[i] for row in rows], kind) for i, kind in enumerate(types)], names=names
    )


_runs = itertools.count()


def load(conn, day: dt.date, snapshot: dict[str, str], audit_existing=()) -> tuple:
    """One load of ``day``'s snapshot on an autocommit connection, in one transaction as PostgresWriter.load
    runs it; its load_audit row."""
    writer = PostgresWriter(conn.info.dsn)
    run = wh.Run(f"run-{next(_runs)}", day, dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    plan = wh.plan_dim_client(run, writer.staging_name(wh.DIM_CLIENT), audit_existing)
    with conn.transaction():
        writer.stage(conn, plan, [batch(snapshot)])
        for statement in plan.statements:
            conn.execute(statement)
        return conn.execute(
            "SELECT rows_staged, rows_inserted, rows_updated, versions_opened, versions_closed, versions_merged "
            "FROM energy.load_audit WHERE run_id = %s",
            (run.run_id,),
        ).fetchone()


def versions(conn) -> list[tuple]:
    return conn.execute(
        f"SELECT {', '.join(VERSION_COLUMNS)} FROM energy.dim_client ORDER BY client_id, valid_from"
    ).fetchall()


def runs_seen(conn) -> list[tuple]:
    return conn.execute(
        "SELECT client_id, seen_from, seen_to FROM energy.dim_client_seen ORDER BY client_id, seen_from"
    ).fetchall()


def history_changes(before: list[tuple], after: list[tuple]) -> tuple[int, int, int]:
    """(opened, closed, merged) from the two tables: new (client, valid_from), kept ones that now end earlier,
    removed ones."""
    far = dt.date.max

    def ends(rows):
        return {(r[0], r[-3]): r[-2] or far for r in rows}

    old, new = ends(before), ends(after)
    closed = sum(1 for k in old.keys() & new.keys() if new[k] < old[k])
    return len(new.keys() - old.keys()), closed, len(old.keys() - new.keys())


def assert_canonical(rows: list[tuple]) -> None:
    """Contiguous versions, exactly one current (the last), no two consecutive ones equal."""
    for client, group in itertools.groupby(rows, key=lambda r: r[0]):
        group = list(group)
        for version, following in itertools.pairwise(group):
            assert version[-2] == following[-3] and not version[-1], (client, group)
            assert version[1:-3] != following[1:-3], (client, group)
        assert group[-1][-2] is None and group[-1][-1], (client, group)


def orders() -> list[list[tuple[dt.date, dict[str, str]]]]:
    """Every order of the four days, with day 2's corrected re-export at every place after its first
    export: 60 sequences of five loads."""
    sequences = []
    for days in itertools.permutations(SNAPSHOTS):
        first = days.index(DAY2)
        for place in range(first + 1, len(days) + 1):
            loads = [(d, SNAPSHOTS[d]) for d in days]
            loads.insert(place, (DAY2, CORRECTED_DAY2))
            sequences.append(loads)
    return sequences


def empty_history(conn) -> None:
    for statement in wh.schema_ddl():
        conn.execute(statement)
    conn.execute("TRUNCATE energy.dim_client, energy.dim_client_seen, energy.load_audit")


def test_every_order_of_the_days_gives_the_same_canonical_history(url):
    expected = canonical(orders()[0])
    finals = set()
    with psycopg.connect(url, autocommit=True) as conn:
        for sequence in orders():
            empty_history(conn)
            for done in range(1, len(sequence) + 1):
                before = versions(conn)
                day, snapshot = sequence[done - 1]
                counts = load(conn, day, snapshot)
                after = versions(conn)
                where = f"after loading {[d.day for d, _ in sequence[:done]]}"
                assert after == canonical(sequence[:done]), where
                assert counts[0] == len(snapshot), where
                assert counts[3:] == history_changes(before, after), where
            assert runs_seen(conn) == seen_runs(sequence)
            # A re-run of the last load changes nothing.
            rerun = load(conn, *sequence[-1])
            assert rerun[1:] == (0, 0, 0, 0, 0)
            assert versions(conn) == after
            finals.add(tuple(after))
    assert finals == {tuple(expected)}
    assert_canonical(expected)
    # What the loads must have done: the corrected day 2 took C01's day-2 change back, split C08, ...
    by_client = {
        c: [(r[2], r[-3].day, r[-2] and r[-2].day) for r in expected if r[0] == c] for c in ("C01", "C08")
    }
    assert by_client == {
        "C01": [("2.0TD", 1, 3), ("3.0TD", 3, None)],
        "C08": [("2.0TD", 1, 2), ("3.0TD", 2, 3), ("2.0TD", 3, None)],
    }


def test_the_canonical_check_rejects_what_the_issue_saw():
    # The history loading days 1, 2, 4 and then 3 left before: two consecutive equal versions.
    a, b = attributes("C01", "A"), attributes("C01", "B")
    duplicated = [
        ("C01", *a, DAY1, DAY3, False),
        ("C01", *b, DAY3, DAY4, False),
        ("C01", *b, DAY4, None, True),
    ]
    with pytest.raises(AssertionError):
        assert_canonical(duplicated)
    assert_canonical([duplicated[0], ("C01", *b, DAY3, None, True)])


def test_a_late_day_equal_to_the_next_version_moves_it_back(url):
    """The issue's case: days 1, 2 and 4, then day 3 late, equal to day 4."""
    with psycopg.connect(url, autocommit=True) as conn:
        for day in (DAY1, DAY2, DAY4):
            load(conn, day, {"C01": "B" if day == DAY4 else "A"})

        counts = load(conn, DAY3, {"C01": "B"})

        rows = [(r[2], r[-3], r[-2], r[-1]) for r in versions(conn)]
    assert rows == [("2.0TD", DAY1, DAY3, False), ("3.0TD", DAY3, None, True)]
    # One version opened on day 3, the day-1 one closed on it, the day-4 one merged into it.
    assert counts == (1, 1, 1, 1, 1, 1)


def test_a_late_day_between_two_equal_days_holds_for_that_day_only(url):
    with psycopg.connect(url, autocommit=True) as conn:
        load(conn, DAY1, {"C01": "A"})
        load(conn, DAY3, {"C01": "A"})

        counts = load(conn, DAY2, {"C01": "B"})

        rows = [(r[2], r[-3], r[-2]) for r in versions(conn)]
    assert rows == [("2.0TD", DAY1, DAY2), ("3.0TD", DAY2, DAY3), ("2.0TD", DAY3, None)]
    assert counts == (1, 1, 1, 2, 1, 0)


def test_a_corrected_export_equal_to_both_neighbours_merges_them(url):
    with psycopg.connect(url, autocommit=True) as conn:
        load(conn, DAY1, {"C01": "A"})
        load(conn, DAY2, {"C01": "B"})
        load(conn, DAY3, {"C01": "A"})

        counts = load(conn, DAY2, {"C01": "A"})

        rows = [(r[2], r[-3], r[-2], r[-1]) for r in versions(conn)]
    assert rows == [("2.0TD", DAY1, None, True)]
    # Corrected in place (updated, nothing opened), then the day-3 and the day-2 versions merged away.
    assert counts == (1, 0, 1, 0, 0, 2)


def test_a_warehouse_from_before_the_seen_days_and_the_history_counts_is_migrated(url):
    # The tables as the previous release made them: no dim_client_seen, an audit without the new columns.
    old_audit = (
        "run_id, run_date, table_name, rows_staged, rows_inserted, rows_updated, rows_deleted, loaded_at"
    )
    a, b = attributes("C01", "A"), attributes("C01", "B")
    with psycopg.connect(url) as conn:
        conn.execute(wh.schema_ddl()[0])
        conn.execute(
            "CREATE TABLE energy.load_audit (run_id VARCHAR(256) NOT NULL, run_date DATE NOT NULL, "
            "table_name VARCHAR(256) NOT NULL, rows_staged BIGINT NOT NULL, rows_inserted BIGINT NOT NULL, "
            "rows_updated BIGINT NOT NULL, rows_deleted BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL)"
        )
        conn.execute(
            f"INSERT INTO energy.load_audit ({old_audit}) VALUES ('old', %s, 'dim_client', 1, 1, 0, 0, %s)",
            (DAY1, dt.datetime(2026, 3, 2)),
        )
        conn.execute(
            f"INSERT INTO energy.dim_client ({', '.join(VERSION_COLUMNS)}) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, FALSE), (%s, %s, %s, %s, %s, %s, %s, %s, NULL, TRUE)",
            ("C01", *a, DAY1, DAY3, "C01", *b, DAY3),
        )
    existing = PostgresWriter(url).existing_columns(wh.LOAD_AUDIT)
    assert existing == set(old_audit.split(", "))

    # Day 3 again, now equal to day 1: the known days of C01 are its versions' first days, 1 and 3.
    with psycopg.connect(url, autocommit=True) as conn:
        counts = load(conn, DAY3, {"C01": "A"}, existing)
        rows = [(r[2], r[-3], r[-2]) for r in versions(conn)]
        audit = conn.execute(
            f"SELECT run_id, {', '.join(wh.HISTORY_COUNTS)} FROM energy.load_audit ORDER BY loaded_at, run_id"
        ).fetchall()
        seen = runs_seen(conn)
    assert rows == [("2.0TD", DAY1, None)]
    assert counts == (1, 0, 1, 0, 0, 1)
    assert audit[0] == ("old", None, None, None)
    assert seen == [("C01", DAY1, DAY1), ("C01", DAY3, DAY3)]
