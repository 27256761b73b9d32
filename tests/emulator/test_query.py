"""Athena SQL on DuckDB: translation, Lake Formation grants per workgroup, data scanned and its cutoff."""

from __future__ import annotations

import re
from argparse import Namespace
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energy_datalake import templates
from energy_datalake.emulator.athena import (
    ETL,
    AccessDenied,
    BytesScannedCutoffExceeded,
    QueryEngine,
    QueryError,
    QuerySyntaxError,
)
from energy_datalake.emulator.athena import main as query_main
from energy_datalake.emulator.glue_crawler import run_crawler
from energy_datalake.formatting import format_bytes

PERSONAL = ("tax_id", "full_name", "email")
DAYS = ("29", "30")
ROWS_PER_DAY = 2_000


@dataclass(frozen=True)
class Environment:
    """What the engine reads from the templates: the workgroups and the grants."""

    workgroups: dict
    grants: list


# The grants of docs/design.md §7 as the templates declare them.
TEMPLATES = templates.load()
PERSONAS = tuple(TEMPLATES.workgroups)


def engine(workgroup: str, environment=None) -> QueryEngine:
    return QueryEngine(workgroup, environment=environment)


def transactions(day: str) -> pa.Table:
    start = datetime(2026, 3, int(day) - 1, 23, tzinfo=UTC)
    n = ROWS_PER_DAY
    return pa.table(
        {
            "transaction_id": [f"T{day}-{i}" for i in range(n)],
            "transaction_type": ["SALE" if i % 4 else "PURCHASE" for i in range(n)],
            "counterparty_id": [f"C{i % 50}" for i in range(n)],
            "delivery_start": pa.array(
                [start + timedelta(hours=i % 24) for i in range(n)], pa.timestamp("us", "UTC")
            ),
            "energy_kwh": pa.array([Decimal(i % 7) for i in range(n)], pa.decimal128(14, 3)),
        }
    )


@pytest.fixture
def lake(datalake_home):
    bucket = datalake_home / "s3" / TEMPLATES.lake_bucket
    for day in DAYS:
        write_day(bucket, day)
    for crawler in ("processed-data-crawler", "curated-data-crawler", "raw-data-crawler"):
        run_crawler(crawler)
    return bucket


def write_day(bucket, day):
    partition = f"year=2026/month=03/day={day}"
    folder = bucket / "processed/transactions" / partition
    folder.mkdir(parents=True)
    pq.write_table(transactions(day), folder / "part-00000.snappy.parquet")
    folder = bucket / "processed/clients" / partition
    folder.mkdir(parents=True)
    clients = pa.table(
        {
            "client_id": ["C1", "C2"],
            "tax_id": ["12345678Z", "X1234567L"],
            "full_name": ["Muñoz, Begoña", "Ana"],
            "email": ["b@x.es", None],
            "tariff": ["2.0TD", "3.0TD"],
        }
    )
    pq.write_table(clients, folder / "part-00000.snappy.parquet")
    folder = bucket / "curated/daily_energy_balance" / partition
    folder.mkdir(parents=True)
    balance = pa.table({"sold_kwh": pa.array([Decimal("10.5")], pa.decimal128(18, 3))})
    pq.write_table(balance, folder / "part-00000.snappy.parquet")
    folder = bucket / "raw/clients" / partition
    folder.mkdir(parents=True)
    (folder / f"clients_202603{day}.csv").write_text(
        '\ufeffclient_id,full_name,note\r\nC1,"Muñoz, Begoña","two\r\nlines"\r\nC2,short\r\n',
        encoding="utf-8",
    )
    (folder / "_SUCCESS").write_text("")


def scalar(result):
    (row,) = result.rows
    return row[0] if len(row) == 1 else row


def test_athena_functions_are_translated_and_give_trino_answers(lake):
    result = engine("analysts").execute(
        """
        SELECT approx_distinct(counterparty_id) AS clients,
               count(*) FILTER (WHERE transaction_type = 'PURCHASE') AS purchases,
               count_if(energy_kwh > 100) AS none_over_100,
               count(DISTINCT date_trunc('hour', delivery_start)) AS hours
        FROM awsdatacatalog.processed.transactions
        WHERE year = '2026' AND month = '03' AND day = '29'
        """
    )
    assert result.columns == ["clients", "purchases", "none_over_100", "hours"]
    clients, *exact = scalar(result)
    assert abs(clients - 50) <= 2  # approx_distinct: HyperLogLog, about 2 % standard error on both engines
    assert exact == [ROWS_PER_DAY // 4, 0, 24]
    assert "APPROX_COUNT_DISTINCT" in result.executed_sql


def test_reporting_reads_curated_but_not_processed(lake):
    assert scalar(
        engine("reporting").execute("SELECT sum(sold_kwh) FROM curated.daily_energy_balance")
    ) == Decimal("21.000")
    for table in ("transactions", "clients", "providers", "load_manifest", "quarantine"):
        with pytest.raises(AccessDenied, match=f"processed.{table}"):
            engine("reporting").execute(f"SELECT count(*) FROM processed.{table}")
    with pytest.raises(AccessDenied, match="processed.clients"):
        engine("reporting").execute(
            "WITH c AS (SELECT client_id FROM processed.clients) SELECT * FROM curated.daily_energy_balance, c"
        )


@pytest.mark.parametrize("workgroup", ["analysts", "data-science"])
def test_select_star_expands_to_the_granted_columns_only(lake, workgroup):
    sql = "SELECT * FROM processed.clients WHERE day = '29' ORDER BY client_id"
    persona = engine(workgroup).execute(sql)
    everything = engine(ETL).execute(sql)

    assert persona.columns == [c for c in everything.columns if c not in PERSONAL]
    assert set(everything.columns) - set(persona.columns) == set(PERSONAL)
    row = dict(zip(persona.columns, persona.rows[0], strict=True))
    # cups is declared in the template but absent from these files: NULL, as Athena reads it.
    assert (row["client_id"], row["tariff"], row["cups"], row["day"]) == ("C1", "2.0TD", None, "29")


@pytest.mark.parametrize(
    "sql,column",
    [
        ("SELECT email FROM processed.clients", "email"),
        ("SELECT c.full_name FROM processed.clients AS c", "full_name"),
        ("SELECT client_id FROM processed.clients WHERE tax_id LIKE 'X%'", "tax_id"),
        ('SELECT count(DISTINCT "TAX_ID") FROM processed.clients', "tax_id"),
    ],
)
def test_an_excluded_column_is_denied_by_name(lake, sql, column):
    with pytest.raises(AccessDenied, match=f"column {column} of table processed.clients"):
        engine("analysts").execute(sql)


def test_nobody_but_etl_reads_raw_and_etl_reads_the_csv_exactly(lake):
    for workgroup in PERSONAS:
        with pytest.raises(AccessDenied, match="raw.clients"):
            engine(workgroup).execute("SELECT count(*) FROM raw.clients")

    result = engine(ETL).execute(
        "SELECT client_id, full_name, note FROM raw.clients WHERE day = '29' ORDER BY 1"
    )
    # The BOM, the quoted comma and the quoted CRLF survive; the short row is a row with a null field.
    assert result.rows == [("C1", "Muñoz, Begoña", "two\r\nlines"), ("C2", "short", None)]


def test_data_scanned_is_reported_and_shrinks_with_partition_and_column_pruning(lake):
    import time

    analysts = engine("analysts")
    before = time.perf_counter()
    whole = analysts.execute("SELECT * FROM processed.transactions")
    wall = time.perf_counter() - before
    one_column = analysts.execute("SELECT sum(energy_kwh) FROM processed.transactions")
    one_day = analysts.execute("SELECT sum(energy_kwh) FROM processed.transactions WHERE day = '30'")

    assert len(whole.rows) == 2 * ROWS_PER_DAY
    assert whole.bytes_scanned > one_column.bytes_scanned > one_day.bytes_scanned > 0
    assert one_day.bytes_scanned < 0.7 * one_column.bytes_scanned
    # Catches an elapsed time that is not the query's own (an int, a constant, milliseconds, or a clock
    # started elsewhere): it must be a positive float no longer than the call it measures.
    assert isinstance(whole.elapsed_seconds, float)
    assert 0 < whole.elapsed_seconds <= wall


def test_a_query_over_the_workgroup_cutoff_fails_like_athena(lake):
    full = engine("analysts").execute("SELECT * FROM processed.transactions").bytes_scanned
    analysts = replace(TEMPLATES.workgroups["analysts"], bytes_scanned_cutoff=full - 1)
    tight = Environment({"analysts": analysts}, TEMPLATES.grants)

    with pytest.raises(BytesScannedCutoffExceeded, match="bytes scanned limit was exceeded"):
        engine("analysts", tight).execute("SELECT * FROM processed.transactions")
    assert (
        engine("analysts", tight).execute("SELECT count(*) FROM processed.transactions WHERE day = '29'").rows
    )


def test_a_query_filtered_on_its_day_never_opens_the_other_days(lake):
    """Athena prunes partitions from the catalog: a daily query costs the same on a lake of a year. The
    other day's file made unreadable proves it is never opened (not even for its schema)."""
    other = lake / "processed/transactions/year=2026/month=03/day=29/part-00000.snappy.parquet"
    other.write_bytes(b"not parquet")
    analysts = engine("analysts")

    day_30 = "year = '2026' AND month = '03' AND day = '30'"
    assert (
        scalar(analysts.execute(f"SELECT count(*) FROM processed.transactions WHERE {day_30}"))
        == ROWS_PER_DAY
    )
    assert (
        scalar(
            analysts.execute(
                "SELECT count(*) FROM processed.transactions t JOIN processed.clients c "
                "ON t.counterparty_id = c.client_id WHERE t.day IN ('30') AND c.day = '30'"
            )
        )
        > 0
    )
    # A filter that is not a plain conjunction on the keys prunes nothing: the broken file is read.
    with pytest.raises(QueryError):
        analysts.execute("SELECT count(*) FROM processed.transactions WHERE day = '30' OR energy_kwh > 0")


def test_only_registered_partitions_are_visible(lake):
    write_day(lake, "31")

    before = scalar(engine(ETL).execute("SELECT count(*) FROM processed.transactions"))
    run_crawler("processed-data-crawler")
    after = scalar(engine(ETL).execute("SELECT count(*) FROM processed.transactions"))

    assert (before, after) == (2 * ROWS_PER_DAY, 3 * ROWS_PER_DAY)


@pytest.mark.parametrize(
    "sql,error,message",
    [
        ("SELECT * FROM read_parquet('/etc/hosts')", AccessDenied, "table functions are not allowed"),
        ("SELECT read_text('/etc/hosts') FROM curated.daily_energy_balance", AccessDenied, "read_text"),
        ("SELECT 1; SELECT 2", QueryError, "exactly one SQL statement"),
        ("DROP TABLE curated.daily_energy_balance", QueryError, "only queries"),
        ("SELECT * FROM daily_energy_balance", QueryError, "qualified"),
        ("SELECT * FROM curated.nope", QueryError, "curated.nope does not exist"),
        ("SELECT * FROM other.curated.daily_energy_balance", AccessDenied, "unknown catalog"),
    ],
)
def test_what_is_not_one_query_over_granted_tables_is_refused(lake, sql, error, message):
    with pytest.raises(error, match=message):
        engine("reporting").execute(sql)


def test_unknown_workgroup_is_an_error():
    with pytest.raises(QueryError, match="unknown workgroup 'finance'"):
        engine("finance")


def test_data_scanned_reads_like_athena():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1_289_748) == "1.23 MB"


def test_datalake_query_prints_the_table_and_data_scanned(lake, capsys):
    args = Namespace(
        workgroup="reporting", sql="SELECT sum(sold_kwh) AS sold FROM curated.daily_energy_balance"
    )

    assert query_main(args) == 0
    out = capsys.readouterr().out
    assert "sold" in out and "21.000" in out
    assert re.search(r"Data scanned: \d+(\.\d\d)? (B|KB|MB)", out)


def test_datalake_query_denied_names_the_table_and_exits_1(lake, capsys):
    args = Namespace(workgroup="analysts", sql="SELECT count(*) FROM raw.clients")

    assert query_main(args) == 1
    assert "raw.clients" in capsys.readouterr().err


def test_unnamed_result_columns_are_named_like_athena(lake):
    result = engine("reporting").execute(
        "SELECT sum(sold_kwh), count(*) AS n, 1 + 1 FROM curated.daily_energy_balance"
    )

    assert result.columns == ["_col0", "n", "_col2"]


def test_an_alias_named_like_an_excluded_column_is_not_that_column(lake):
    result = engine("analysts").execute(
        "SELECT client_id AS email FROM processed.clients WHERE day = '29' ORDER BY email"
    )

    assert result.rows == [("C1",), ("C2",)]


def test_the_views_never_expose_an_excluded_column_even_past_the_name_check(lake):
    result = engine("analysts").execute("SELECT client_id AS email, email AS leaked FROM processed.clients")

    assert "b@x.es" not in {value for row in result.rows for value in row}


def test_madrid_business_dates_come_out_as_on_athena(lake):
    # 2026-03-28T23:00Z is midnight of the 29th in Madrid (UTC+1 until 01:00Z that day, then UTC+2).
    result = engine("analysts").execute(
        """
        SELECT min(CAST(delivery_start AT TIME ZONE 'Europe/Madrid' AS date)) AS first_day,
               date_diff('hour', min(delivery_start), max(delivery_start)) AS span_hours,
               date_format(min(delivery_start), '%Y-%m-%d %H:%i') AS first_utc
        FROM processed.transactions
        WHERE day = '29'
        """
    )
    assert result.rows == [(date(2026, 3, 29), 23, "2026-03-28 23:00")]


# Discovering tables and columns: SHOW, DESCRIBE, information_schema, within the grants


def rows_of(result) -> list:
    return [row[0] if len(row) == 1 else row for row in result.rows]


def test_show_tables_lists_only_the_tables_the_workgroup_may_read(lake):
    # processed.quarantine is declared and crawled, but granted to the ETL role and the quality gate only.
    assert "quarantine" in rows_of(engine(ETL).execute("SHOW TABLES IN processed"))
    assert rows_of(engine("analysts").execute("SHOW TABLES IN processed")) == [
        "clients",
        "load_manifest",
        "providers",
        "transactions",
    ]
    assert rows_of(engine("reporting").execute("SHOW TABLES")) == ["curated.daily_energy_balance"]
    assert rows_of(engine("reporting").execute("SHOW DATABASES")) == ["curated"]
    with pytest.raises(AccessDenied, match="workgroup 'reporting' .* database processed"):
        engine("reporting").execute("SHOW TABLES FROM awsdatacatalog.processed")


@pytest.mark.parametrize(
    "sql",
    [
        "DESCRIBE processed.clients",
        "desc awsdatacatalog.processed.clients;",
        "SHOW COLUMNS IN processed.clients",
        'SHOW COLUMNS FROM "clients" FROM processed',
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'processed' "
        "AND table_name = 'clients' ORDER BY ordinal_position",
    ],
)
def test_the_columns_a_workgroup_may_not_read_are_not_listed(lake, sql):
    analysts = {row[0] for row in engine("analysts").execute(sql).rows}
    everything = {row[0] for row in engine(ETL).execute(sql).rows}

    assert everything - analysts == set(PERSONAL)
    assert {"client_id", "tariff", "year"} <= analysts


def test_describe_gives_hive_types_and_the_partition_keys_as_athena_does(lake):
    result = engine("analysts").execute("DESCRIBE processed.transactions")

    assert result.columns == ["col_name", "data_type", "comment"]
    names = [row[0] for row in result.rows]
    assert names[-4:] == ["# Partition Information", "year", "month", "day"]
    assert ("energy_kwh", "decimal(14,3)", "") in result.rows
    assert ("delivery_start", "timestamp", "") in result.rows


def test_information_schema_holds_the_readable_tables_with_trino_types(lake):
    analysts = engine("analysts")
    tables = analysts.execute("SELECT table_schema, table_name, table_type FROM information_schema.tables")
    columns = analysts.execute(
        "SELECT column_name, data_type, extra_info FROM awsdatacatalog.information_schema.columns "
        "WHERE table_name = 'transactions' AND column_name IN ('transaction_id', 'delivery_start', 'day')"
    )

    assert {(s, t) for s, t, _ in tables.rows} == {
        ("curated", "daily_energy_balance"),
        ("processed", "clients"),
        ("processed", "load_manifest"),
        ("processed", "providers"),
        ("processed", "transactions"),
    }
    assert {kind for *_, kind in tables.rows} == {"BASE TABLE"}
    assert sorted(columns.rows) == [
        ("day", "varchar", "partition key"),
        ("delivery_start", "timestamp(3)", None),
        ("transaction_id", "varchar", None),
    ]
    assert rows_of(engine("reporting").execute("SELECT schema_name FROM information_schema.schemata")) == [
        "curated"
    ]


def test_information_schema_joins_the_granted_tables_it_describes(lake):
    result = engine("analysts").execute(
        "SELECT c.column_name, count(*) AS n FROM information_schema.columns c "
        "JOIN processed.clients p ON c.column_name = 'tariff' AND p.tariff = '2.0TD' "
        "WHERE c.table_name = 'clients' GROUP BY 1"
    )

    assert result.rows == [("tariff", 2)]


def test_a_comment_in_the_catalog_shows_in_describe_and_information_schema(lake):
    from energy_datalake.emulator.glue_catalog import Catalog

    catalog = Catalog()
    table = catalog.get_table("curated", "daily_energy_balance")
    table["StorageDescriptor"]["Columns"][0]["Comment"] = "kWh sold to clients"
    catalog.create_or_update_table(
        "curated", {k: table[k] for k in ("Name", "StorageDescriptor", "PartitionKeys")}
    )

    described = engine("reporting").execute("DESCRIBE curated.daily_energy_balance")
    listed = engine("reporting").execute(
        "SELECT column_name, comment FROM information_schema.columns WHERE comment IS NOT NULL"
    )

    assert described.rows[0] == ("sold_kwh", "decimal(18,3)", "kWh sold to clients")
    assert listed.rows == [("sold_kwh", "kWh sold to clients")]


@pytest.mark.parametrize(
    "sql",
    [
        "DESCRIBE processed.clients",
        "SHOW COLUMNS IN processed.transactions",
        "SHOW PARTITIONS processed.transactions",
        "SELECT * FROM information_schema.columns, processed.clients",
    ],
)
def test_metadata_of_a_table_not_granted_is_denied_by_name(lake, sql):
    with pytest.raises(
        AccessDenied, match=r"workgroup 'reporting' has no SELECT permission on table processed\."
    ):
        engine("reporting").execute(sql)


def test_information_schema_never_lists_what_is_not_granted(lake):
    rows = engine("reporting").execute("SELECT DISTINCT table_schema FROM information_schema.columns").rows

    assert rows == [("curated",)]


@pytest.mark.parametrize(
    "sql,names",
    [
        ("SHOW TABLES IN processed 'tr*'", ["transactions"]),
        ("SHOW TABLES IN processed LIKE 'CL*|load.*'", ["clients", "load_manifest"]),
        ("SHOW TABLES IN processed 'client'", []),
        ("SHOW SCHEMAS LIKE 'cur*'", ["curated"]),
    ],
)
def test_show_patterns_match_whole_names_with_stars_and_alternatives(lake, sql, names):
    assert rows_of(engine("analysts").execute(sql)) == names


def test_show_partitions_lists_the_registered_partitions(lake):
    result = engine("analysts").execute("SHOW PARTITIONS processed.transactions")

    assert result.columns == ["partition"]
    assert rows_of(result) == ["year=2026/month=03/day=29", "year=2026/month=03/day=30"]


@pytest.mark.parametrize(
    "sql,message",
    [
        ("SHOW CREATE TABLE processed.clients", "SHOW CREATE is not available .* SHOW TABLES"),
        ("DESCRIBE FORMATTED processed.clients", "DESCRIBE FORMATTED is not available"),
        ("DESCRIBE processed.clients client_id", "one column or partition is not available"),
        ("DESCRIBE clients", "'clients' must be qualified"),
        ("SHOW TABLES IN nope", "Database nope does not exist"),
        ("SHOW TABLES; SHOW DATABASES", "exactly one SQL statement"),
        ("SELECT * FROM information_schema.views", "information_schema.views is not available"),
    ],
)
def test_metadata_statements_the_local_engine_does_not_run_say_so(lake, sql, message):
    with pytest.raises(QueryError, match=message):
        engine("analysts").execute(sql)


# Syntax errors: where, in the statement's own terms


@pytest.mark.parametrize(
    "sql,line,column,description",
    [
        ("SELECT * FORM curated.x", 1, 15, "unexpected 'curated'"),
        ("SELECT a,\n  b FROM curated.x WHERE", 2, 20, "the statement ends too early, after 'WHERE'"),
        ("SELECT (1", 1, 9, "expected ) before '1'"),
        ("SELECT 'abc FROM curated.x", 1, 8, "unterminated string (no closing ')"),
        ("SHOW TABLES IN", 1, 15, "expected a name"),
        ("SHOW COLUMNS processed.clients", 1, 14, "expected IN or FROM"),
        ("-- the tables\nSHOW TABLES IN processed 'x' extra", 2, 30, "unexpected 'extra'"),
    ],
)
def test_a_syntax_error_names_its_line_and_column_without_terminal_codes(sql, line, column, description):
    with pytest.raises(QuerySyntaxError) as raised:
        engine("analysts").execute(sql)

    error = raised.value
    assert (error.line, error.column, error.description) == (line, column, description)
    assert str(error) == f"syntax error at line {line}, column {column}: {description}"
    assert "\x1b" not in str(error) and "sqlglot" not in str(error)


def test_an_engine_error_is_one_line_without_duckdbs_translated_sql(lake):
    with pytest.raises(QueryError) as raised:
        engine("analysts").execute("SELECT nope FROM processed.clients")

    message = str(raised.value)
    assert "\n" not in message
    assert 'column "nope" not found' in message and "Candidate bindings" in message
    # The candidates come from the view of the granted columns: the message leaks no excluded name.
    assert not any(column in message for column in PERSONAL)
