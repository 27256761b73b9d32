"""The warehouse load against a real embedded PostgreSQL: idempotent MERGE, honest counts, SCD2 history."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import struct
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from glue_jobs.lib import warehouse as wh
from glue_jobs.warehouse_writers import PostgresWriter

REPO = Path(__file__).resolve().parents[2]
DAY1 = dt.date(2026, 3, 28)
DAY2 = dt.date(2026, 3, 29)
_databases = itertools.count()


def run_of(day: dt.date, run_id: str = "run-1") -> wh.Run:
    return wh.Run(run_id=run_id, run_date=day, loaded_at=dt.datetime.now(dt.UTC))


def contents(url: str, table: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return sorted(conn.execute(f"SELECT * FROM energy.{table}").fetchall(), key=repr)


def audit(url: str, table: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT run_date, rows_staged, rows_inserted, rows_updated FROM energy.load_audit "
            "WHERE table_name = %s ORDER BY loaded_at",
            (table,),
        ).fetchall()


def sales(spark, rows):
    schema = (
        "delivery_date date, tariff string, province_code string, segment string, clients bigint, "
        "sold_kwh decimal(18,3), revenue_eur decimal(18,2), avg_price_eur_mwh decimal(12,2), "
        "year string, month string, day string"
    )
    return spark.createDataFrame(rows, schema)


SALES = [
    (
        DAY2,
        "2.0TD",
        "28",
        "RESIDENTIAL",
        2,
        Decimal("10.500"),
        Decimal("1.50"),
        Decimal("142.86"),
        "2026",
        "03",
        "29",
    ),
    (DAY2, "3.0TD", "08", "SME", 1, Decimal("40.000"), Decimal("4.00"), None, "2026", "03", "29"),
]


def load_sales(spark, url, rows, run):
    table = "daily_sales_by_segment"
    frame = wh.fact_rows(table, sales(spark, rows))
    return wh.load_table(PostgresWriter(url), run, table, frame, wh.FACT_KEYS[table])


def test_first_load_inserts_and_a_rerun_changes_nothing(spark, url):
    first = load_sales(spark, url, SALES, run_of(DAY2))
    after_first = contents(url, "daily_sales_by_segment")
    second = load_sales(spark, url, SALES, run_of(DAY2))

    assert (first.rows_staged, first.rows_inserted, first.rows_updated) == (2, 2, 0)
    assert (second.rows_staged, second.rows_inserted, second.rows_updated) == (2, 0, 0)
    # A fact has no history.
    assert (first.versions_opened, first.versions_closed, first.versions_merged) == (0, 0, 0)
    assert "versions" not in str(first)
    assert contents(url, "daily_sales_by_segment") == after_first
    assert len(after_first) == 2
    # The partition columns are folders in the lake, not warehouse columns.
    assert len(after_first[0]) == 8
    assert audit(url, "daily_sales_by_segment") == [(DAY2, 2, 2, 0), (DAY2, 2, 0, 0)]


def test_a_changed_value_of_an_existing_key_is_updated(spark, url):
    load_sales(spark, url, SALES, run_of(DAY2))
    # A null that gets a value and a value that changes: each is a change of its row (NULL-safe compare).
    changed = [
        SALES[0][:7] + (Decimal("150.00"),) + SALES[0][8:],
        SALES[1][:7] + (Decimal("100.00"),) + SALES[1][8:],
    ]

    result = load_sales(spark, url, changed, run_of(DAY2, "run-2"))

    assert (result.rows_inserted, result.rows_updated) == (0, 2)
    prices = {row[1]: row[7] for row in contents(url, "daily_sales_by_segment")}
    assert prices == {"2.0TD": Decimal("150.00"), "3.0TD": Decimal("100.00")}

    one_back_to_null = [changed[0], SALES[1]]
    result = load_sales(spark, url, one_back_to_null, run_of(DAY2, "run-3"))
    assert (result.rows_inserted, result.rows_updated) == (0, 1)
    prices = {row[1]: row[7] for row in contents(url, "daily_sales_by_segment")}
    assert prices == {"2.0TD": Decimal("150.00"), "3.0TD": None}


def test_a_key_gone_from_a_rerun_date_is_deleted_and_other_days_stay(spark, url):
    other_day = [(DAY1,) + SALES[0][1:]]
    load_sales(spark, url, other_day, run_of(DAY1))
    load_sales(spark, url, SALES, run_of(DAY2))

    result = load_sales(spark, url, SALES[:1], run_of(DAY2, "corrected"))

    assert (result.rows_staged, result.rows_inserted, result.rows_updated, result.rows_deleted) == (
        1,
        0,
        0,
        1,
    )
    keys = [(row[0], row[1]) for row in contents(url, "daily_sales_by_segment")]
    assert sorted(keys) == [(DAY1, "2.0TD"), (DAY2, "2.0TD")]


def test_a_new_day_inserts_beside_the_previous_one(spark, url):
    load_sales(spark, url, SALES, run_of(DAY2))
    next_day = [(DAY2 + dt.timedelta(days=1),) + SALES[0][1:]]

    result = load_sales(spark, url, next_day, run_of(DAY2 + dt.timedelta(days=1)))

    assert (result.rows_inserted, result.rows_updated) == (1, 0)
    assert len(contents(url, "daily_sales_by_segment")) == 3


def test_a_new_kpi_column_is_added_to_the_table(spark, url):
    table = "daily_energy_balance"
    writer = PostgresWriter(url)
    before = spark.createDataFrame(
        [(DAY2, Decimal("10.000"))], "delivery_date date, purchased_kwh decimal(18,3)"
    )
    wh.load_table(writer, run_of(DAY2), table, before, ("delivery_date",))
    after = spark.createDataFrame(
        [(DAY2, Decimal("10.000"), 7)],
        "delivery_date date, purchased_kwh decimal(18,3), transaction_count bigint",
    )

    result = wh.load_table(writer, run_of(DAY2), table, after, ("delivery_date",))

    assert (result.rows_inserted, result.rows_updated) == (0, 1)
    assert contents(url, table) == [(DAY2, Decimal("10.000"), 7)]


def test_timestamps_keep_their_utc_instant(spark, url):
    table = "hourly_price_curve"
    frame = spark.sql(
        "SELECT TIMESTAMP '2026-03-28 23:00:00' AS delivery_start, 1 AS hour_index "
        "UNION ALL SELECT TIMESTAMP '2026-03-29 00:00:00', 2"
    )

    wh.load_table(PostgresWriter(url), run_of(DAY2), table, frame, wh.FACT_KEYS[table])

    assert contents(url, table) == [
        (dt.datetime(2026, 3, 28, 23, 0), 1),
        (dt.datetime(2026, 3, 29, 0, 0), 2),
    ]


def test_a_repeated_or_null_key_stops_the_load(spark):
    repeated = sales(spark, [SALES[0], SALES[0]])
    with pytest.raises(ValueError, match="daily_sales_by_segment: key .* repeated"):
        wh.fact_rows("daily_sales_by_segment", repeated)
    null_key = sales(spark, [SALES[0][:2] + (None,) + SALES[0][3:]])
    with pytest.raises(ValueError, match="1 row\\(s\\) with a null key"):
        wh.fact_rows("daily_sales_by_segment", null_key)


CLIENT_SCHEMA = (
    "client_id string, tax_id string, full_name string, email string, cups string, tariff string, "
    "contracted_power_kw decimal(8,3), province_code string, segment string, signup_date date, "
    "updated_at timestamp, source_file string"
)


def client(client_id, tariff="2.0TD", power="4.600", province="28", segment="RESIDENTIAL"):
    return (
        client_id,
        "12345678Z",
        "Nombre Apellido",
        "a@example.com",
        f"ES00210000000000{client_id[-2:]}XY",
        tariff,
        Decimal(power),
        province,
        segment,
        dt.date(2025, 1, 1),
        dt.datetime(2026, 3, 1, 10, 0),
        "clients.csv",
    )


def load_clients(spark, url, day, rows, run_id="run-1"):
    return wh.load_dim_client(
        PostgresWriter(url), run_of(day, run_id), spark.createDataFrame(rows, CLIENT_SCHEMA)
    )


def versions(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT client_id, tariff, contracted_power_kw, valid_from, valid_to, is_current "
            "FROM energy.dim_client ORDER BY client_id, valid_from"
        ).fetchall()


def test_dim_client_opens_a_version_on_change_and_closes_the_old_one(spark, url):
    first = load_clients(spark, url, DAY1, [client("C01"), client("C02")])
    second = load_clients(
        spark, url, DAY2, [client("C01", tariff="3.0TD", power="20.000"), client("C02"), client("C03")]
    )

    assert (first.rows_inserted, first.rows_updated) == (2, 0)
    # C01 gets a new version (inserted) and its old one is closed (updated); C03 appears; C02 is unchanged.
    assert (second.rows_staged, second.rows_inserted, second.rows_updated) == (3, 2, 1)
    assert (second.versions_opened, second.versions_closed, second.versions_merged) == (2, 1, 0)
    assert str(second) == (
        "energy.dim_client: staged 3, inserted 2, updated 1, deleted 0; versions opened 2, closed 1, merged 0"
    )
    assert versions(url) == [
        ("C01", "2.0TD", Decimal("4.600"), DAY1, DAY2, False),
        ("C01", "3.0TD", Decimal("20.000"), DAY2, None, True),
        ("C02", "2.0TD", Decimal("4.600"), DAY1, None, True),
        ("C03", "2.0TD", Decimal("4.600"), DAY2, None, True),
    ]


def test_dim_client_rerunning_a_date_changes_nothing(spark, url):
    day1 = [client("C01"), client("C02")]
    day2 = [client("C01", segment="SME"), client("C02")]
    load_clients(spark, url, DAY1, day1)
    load_clients(spark, url, DAY2, day2)
    history = contents(url, "dim_client")

    rerun_day2 = load_clients(spark, url, DAY2, day2, "run-again")
    rerun_day1 = load_clients(spark, url, DAY1, day1, "backfill-again")

    assert (rerun_day2.rows_inserted, rerun_day2.rows_updated) == (0, 0)
    assert (rerun_day1.rows_inserted, rerun_day1.rows_updated) == (0, 0)
    assert contents(url, "dim_client") == history
    assert [row[1:] for row in audit(url, "dim_client")] == [(2, 2, 0), (2, 1, 1), (2, 0, 0), (2, 0, 0)]


def test_dim_client_backfill_of_an_earlier_date_slots_in_before_the_known_version(spark, url):
    load_clients(spark, url, DAY2, [client("C01", tariff="3.0TD", power="20.000")])

    backfill = load_clients(spark, url, DAY1, [client("C01")], "backfill")

    assert (backfill.rows_inserted, backfill.rows_updated) == (1, 0)
    assert (backfill.versions_opened, backfill.versions_closed, backfill.versions_merged) == (1, 0, 0)
    assert versions(url) == [
        ("C01", "2.0TD", Decimal("4.600"), DAY1, DAY2, False),
        ("C01", "3.0TD", Decimal("20.000"), DAY2, None, True),
    ]


def test_dim_client_correction_of_the_same_day_is_made_in_place(spark, url):
    load_clients(spark, url, DAY1, [client("C01")])
    load_clients(spark, url, DAY2, [client("C01", province="08")])

    corrected = load_clients(spark, url, DAY2, [client("C01", province="41")], "corrected-export")

    assert (corrected.rows_inserted, corrected.rows_updated) == (0, 1)
    # Corrected in place: no version opened, closed or merged.
    assert (corrected.versions_opened, corrected.versions_closed, corrected.versions_merged) == (0, 0, 0)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT province_code, valid_from, valid_to, is_current FROM energy.dim_client ORDER BY valid_from"
        ).fetchall()
    assert rows == [("28", DAY1, DAY2, False), ("41", DAY2, None, True)]


def test_dim_client_holds_no_personal_data(spark, url):
    load_clients(spark, url, DAY1, [client("C01")])
    with psycopg.connect(url) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'energy' AND table_name = 'dim_client'"
            ).fetchall()
        }
    assert columns.isdisjoint({"tax_id", "full_name", "email"})
    assert {"client_id", "cups", "valid_from", "valid_to", "is_current"} <= columns


PROVIDER_SCHEMA = (
    "provider_id string, legal_name string, tax_id string, provider_type string, technology string, "
    "country_code string, active boolean, updated_at timestamp, source_file string"
)


def test_dim_provider_is_upserted(spark, url):
    writer = PostgresWriter(url)
    updated_at = dt.datetime(2026, 3, 1, 8, 0)
    day1 = [("P01", "Solar SA", "A58818501", "GENERATOR", "SOLAR", "ES", True, updated_at, "p.csv")]
    day2 = [("P01", "Solar SA", "A58818501", "GENERATOR", "SOLAR", "ES", False, updated_at, "p.csv")]

    def load(rows, day):
        frame = wh.provider_rows(spark.createDataFrame(rows, PROVIDER_SCHEMA))
        return wh.load_table(writer, run_of(day), wh.DIM_PROVIDER, frame, wh.DIM_PROVIDER_KEY)

    assert (load(day1, DAY1).rows_inserted, load(day1, DAY1).rows_inserted) == (1, 0)
    result = load(day2, DAY2)

    assert (result.rows_inserted, result.rows_updated) == (0, 1)
    assert [row[6] for row in contents(url, wh.DIM_PROVIDER)] == [False]


def test_ensure_schema_is_idempotent(url):
    with psycopg.connect(url) as conn:
        wh.ensure_schema(conn)
        wh.ensure_schema(conn)
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'energy'"
            ).fetchall()
        }
    assert tables == {"dim_client", "dim_client_seen", "dim_provider", "load_audit"}


def admin_setup_sql() -> list[str]:
    """The admin's SQL of docs/deployment.md, statement by statement, as a user would paste it."""
    blocks = re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "deployment.md").read_text(), re.S)
    [setup] = [b for b in blocks if "CREATE USER etl_loader" in b]
    setup = re.sub(r"PASSWORD '<[^']*>'", "PASSWORD 'loader-secret'", setup)
    return [statement.strip() for statement in setup.split(";") if statement.strip()]


def test_the_load_runs_with_only_the_documented_etl_loader_grants(spark, bare_url):
    # The loader gets CREATE and USAGE on the schema, never CREATE on the database: a CREATE SCHEMA of its
    # own, even IF NOT EXISTS, is "permission denied for database".
    setup = admin_setup_sql()
    assert any(s.startswith("GRANT CREATE, USAGE ON SCHEMA energy TO etl_loader") for s in setup), setup
    with psycopg.connect(bare_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS etl_loader")
        for statement in setup:
            conn.execute(statement)
    try:
        loader_url = bare_url.replace("postgresql://postgres@", "postgresql://etl_loader:loader-secret@")
        writer = PostgresWriter(loader_url)
        providers = [
            ("P01", "Solar SA", "A58818501", "GENERATOR", "SOLAR", "ES", True, dt.datetime(2026, 3, 1), "p")
        ]
        results = wh.load_all(
            writer,
            run_of(DAY2),
            {"daily_sales_by_segment": sales(spark, SALES)},
            spark.createDataFrame([client("C01")], CLIENT_SCHEMA),
            spark.createDataFrame(providers, PROVIDER_SCHEMA),
        )
        assert [(r.table, r.rows_inserted) for r in results] == [
            ("dim_client", 1),
            ("dim_provider", 1),
            ("daily_sales_by_segment", 2),
        ]
        # The Glue branch's actions, as the connector runs them, need no more.
        plan = wh.plan_upsert("t", (wh.Column("k", "INTEGER"),), ("k",), run_of(DAY2), "energy.stg_t", set())
        with psycopg.connect(loader_url, autocommit=True) as conn:
            for statement in wh.glue_connection_options(plan, "dev")["preactions"].rstrip(";").split(";"):
                conn.execute(statement)
            with psycopg.connect(bare_url) as admin:
                owner = admin.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'stg_t'").fetchone()
            assert owner == ("etl_loader",)
    finally:
        with psycopg.connect(bare_url, autocommit=True) as conn:
            conn.execute("DROP OWNED BY etl_loader")
            conn.execute("DROP ROLE etl_loader")


def test_a_missing_schema_stops_the_load_naming_it_and_the_set_up_sql(spark, bare_url):
    with pytest.raises(wh.SchemaMissing) as missing:
        wh.load_all(
            PostgresWriter(bare_url),
            run_of(DAY2),
            {"daily_sales_by_segment": sales(spark, SALES)},
            spark.createDataFrame([client("C01")], CLIENT_SCHEMA),
            spark.createDataFrame([], PROVIDER_SCHEMA),
        )
    message = str(missing.value)
    assert "'energy' does not exist" in message and "docs/deployment.md" in message
    assert "\n" not in message
    with psycopg.connect(bare_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'energy'").fetchone() is None


# --- the COPY of the local writer ----------------------------------------------------------------------

AWKWARD_STRINGS = [
    "tab\there",
    "new\nline",
    "carriage\rreturn\r\n",
    "back\\slash",
    "trailing backslash\\",
    "\\N",
    "\\.",
    "\\t is not a tab",
    "",
    " spaces kept ",
    "ünïcødé € 電",
    "quote ' and \" and ; and ,",
    None,
]


def test_every_value_survives_the_copy_exactly(spark, url):
    table = "copy_round_trip"
    frame = spark.sql(
        "SELECT * FROM VALUES "
        "(1, 'a', CAST(-12345678901234.567 AS DECIMAL(18,3)), DATE '0001-01-01', "
        " TIMESTAMP '2026-03-28 23:00:00', TIMESTAMP_NTZ '2026-03-29 01:02:03.000004', "
        " true, CAST('NaN' AS DOUBLE), CAST(0.1 AS FLOAT), 9223372036854775807, CAST(-32768 AS SMALLINT)), "
        "(2, 'b', CAST(0.001 AS DECIMAL(18,3)), DATE '2026-03-29', "
        " TIMESTAMP '2026-10-25 00:59:59.999999', TIMESTAMP_NTZ '1970-01-01 00:00:00', "
        " false, CAST('Infinity' AS DOUBLE), CAST(-1.5e-7 AS FLOAT), -9223372036854775808, CAST(7 AS SMALLINT)), "
        "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        "(4, 'd', CAST(0 AS DECIMAL(18,3)), DATE '9999-12-31', TIMESTAMP '1900-01-01 00:00:00.5', "
        " TIMESTAMP_NTZ '2026-03-29 23:59:59', true, 1e-5, CAST(3e38 AS FLOAT), 0, CAST(0 AS SMALLINT)) "
        "AS t(id, text, amount, day, instant, wall_time, flag, ratio, rate, counter, small)"
    )
    strings = spark.createDataFrame(
        [(100 + i, value) for i, value in enumerate(AWKWARD_STRINGS)], "id int, text string"
    )
    frame = frame.unionByName(strings, allowMissingColumns=True)
    # PySpark collects a TIMESTAMP in the Python process's local time zone: that column is checked apart.
    expected = [comparable(row) for row in sorted(frame.drop("instant").collect(), key=lambda row: row[0])]

    first = wh.load_table(PostgresWriter(url), run_of(DAY2), table, frame, ("id",))
    loaded = sorted(contents(url, table), key=lambda row: row[0])
    rerun = wh.load_table(PostgresWriter(url), run_of(DAY2, "run-2"), table, frame, ("id",))

    assert first.rows_inserted == len(expected) == 4 + len(AWKWARD_STRINGS)
    assert [comparable(row[:4] + row[5:]) for row in loaded] == expected
    # TIMESTAMP holds the instant's UTC wall time, to the microsecond.
    assert [row[4] for row in loaded[:4]] == [
        dt.datetime(2026, 3, 28, 23, 0),
        dt.datetime(2026, 10, 25, 0, 59, 59, 999999),
        None,
        dt.datetime(1900, 1, 1, 0, 0, 0, 500000),
    ]
    assert [row[1] for row in loaded[4:]] == AWKWARD_STRINGS
    assert (rerun.rows_inserted, rerun.rows_updated, rerun.rows_deleted) == (0, 0, 0)
    assert repr(sorted(contents(url, table), key=lambda row: row[0])) == repr(loaded)


def comparable(row) -> tuple:
    """A row's values as text, so that NaN equals NaN, with the REAL (the 8th column once the instant is
    dropped) as the float32 it is: Spark hands it widened, psycopg parses PostgreSQL's shortest text of it."""
    values = list(row)
    if values[7] is not None:
        values[7] = struct.unpack("f", struct.pack("f", values[7]))[0]
    return tuple(repr(v) for v in values)


def test_copy_text_is_postgresql_text_format_also_for_a_sliced_batch():
    import pyarrow as pa

    from glue_jobs.warehouse_writers import _concatenated, copy_text

    batch = pa.RecordBatch.from_pydict(
        {
            "text": ["skipped", "a\tb\\c\nd\re", None, ""],
            "amount": pa.array([None, Decimal("-1.250"), Decimal("0.000"), None], pa.decimal128(18, 3)),
            "instant": pa.array(
                [None, dt.datetime(2026, 3, 28, 23, 0), None, dt.datetime(2026, 3, 29, 0, 0, 0, 7)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )

    text = bytes(copy_text(batch.slice(1, 3)))

    assert text == (
        b"a\\tb\\\\c\\nd\\re\t-1.250\t2026-03-28 23:00:00.000000\n"
        b"\\N\t0.000\t\\N\n"
        b"\t\\N\t2026-03-29 00:00:00.000007\n"
    )
    # Arrow's kernels return arrays of their own; a slice of one still starts and ends at its offsets.
    assert bytes(_concatenated(pa.array(["skipped", "ab", "c", "skipped"]).slice(1, 2))) == b"abc"


def test_the_staging_table_has_statistics_before_the_plan_runs(spark, url):
    # Without them the planner takes the staging table for a few rows (the scans estimate 16 or so) and
    # the audit of a re-run becomes a nested loop over both tables: quadratic in the rows.
    table = "many_rows"
    frame = spark.range(5000).selectExpr(
        f"DATE '{DAY2.isoformat()}' AS delivery_date",
        "concat('C', lpad(id, 7, '0')) AS client_id",
        "id AS kwh",
    )
    writer = PostgresWriter(url)
    wh.load_table(writer, run_of(DAY2), table, frame, ("delivery_date", "client_id"))
    plan = wh.plan_upsert(
        table,
        wh.columns_of(frame.schema),
        ("delivery_date", "client_id"),
        run_of(DAY2, "run-2"),
        writer.staging_name(table),
        writer.existing_columns(table),
    )
    from glue_jobs.warehouse_writers import _collect_arrow

    with psycopg.connect(url) as conn, conn.transaction():
        writer.stage(conn, plan, _collect_arrow(frame))
        estimated = conn.execute(
            "SELECT reltuples FROM pg_class WHERE relname = %s AND relpersistence = 't'", (plan.staging,)
        ).fetchone()
        audit_plan = [r[0] for r in conn.execute("EXPLAIN " + plan.statements[0]).fetchall()]

    assert estimated == (5000,)
    staging_scans = [line for line in audit_plan if f"Scan on {plan.staging}" in line]
    assert staging_scans and all(" rows=5000 " in line for line in staging_scans), "\n".join(audit_plan)
