"""The SQL the warehouse load sends: portable to Redshift, and what the Glue branch would run."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
import sqlglot
from pyspark.sql import types as T

from energy_datalake import templates
from energy_datalake.emulator.redshift import Warehouse
from glue_jobs.lib import warehouse as wh

RUN = wh.Run(
    "manual__2026-03-29T00:00:00+00:00",
    dt.date(2026, 3, 29),
    dt.datetime(2026, 3, 30, 1, 2, 3, tzinfo=dt.UTC),
)
SALES_COLUMNS = (
    wh.Column("delivery_date", "DATE"),
    wh.Column("tariff", wh.VARCHAR),
    wh.Column("province_code", wh.VARCHAR),
    wh.Column("segment", wh.VARCHAR),
    wh.Column("revenue_eur", "DECIMAL(18,2)"),
)
SALES_KEY = wh.FACT_KEYS["daily_sales_by_segment"]


def sales_plan(staging="energy.stg_daily_sales_by_segment", existing=frozenset()):
    return wh.plan_upsert("daily_sales_by_segment", SALES_COLUMNS, SALES_KEY, RUN, staging, set(existing))


@pytest.mark.parametrize(
    ("spark_type", "sql"),
    [
        (T.StringType(), "VARCHAR(256)"),
        (T.BooleanType(), "BOOLEAN"),
        (T.IntegerType(), "INTEGER"),
        (T.LongType(), "BIGINT"),
        (T.DoubleType(), "DOUBLE PRECISION"),
        (T.DecimalType(18, 3), "DECIMAL(18,3)"),
        (T.DateType(), "DATE"),
        (T.TimestampType(), "TIMESTAMP"),
    ],
)
def test_spark_types_map_to_warehouse_types(spark_type, sql):
    assert wh.sql_type(spark_type) == sql


def test_an_unsupported_type_or_odd_column_name_is_an_error():
    with pytest.raises(TypeError, match="array<string>"):
        wh.sql_type(T.ArrayType(T.StringType()))
    with pytest.raises(ValueError, match="not a plain lower-case SQL identifier"):
        wh.columns_of(T.StructType([T.StructField("Revenue; DROP", T.StringType())]))


def test_the_columns_follow_the_dataframe_schema():
    schema = T.StructType(
        [T.StructField("delivery_date", T.DateType()), T.StructField("new_kpi", T.DecimalType(9, 4))]
    )
    assert wh.columns_of(schema) == (wh.Column("delivery_date", "DATE"), wh.Column("new_kpi", "DECIMAL(9,4)"))


def test_the_schema_is_the_templates_warehouse_schema():
    assert templates.load().warehouse["schema"] == wh.SCHEMA


def test_schema_ddl_keeps_personal_data_out():
    ddl = wh.schema_ddl()
    assert all("IF NOT EXISTS" in statement for statement in ddl)
    dim_client = next(s for s in ddl if "energy.dim_client " in s)
    for personal in ("tax_id", "full_name", "email"):
        assert personal not in dim_client
    assert "PRIMARY KEY (client_id, valid_from)" in dim_client


def test_only_new_columns_are_added_to_an_existing_table():
    assert wh.add_columns_sql("t", SALES_COLUMNS, existing=set()) == []
    existing = {"delivery_date", "tariff", "province_code", "segment"}
    assert wh.add_columns_sql("t", SALES_COLUMNS, existing) == [
        "ALTER TABLE energy.t ADD COLUMN revenue_eur DECIMAL(18,2)"
    ]


def all_statements():
    return [
        *sales_plan().ddl,
        *sales_plan().statements,
        *wh.plan_dim_client(RUN, "energy.stg_dim_client").statements,
    ]


@pytest.mark.parametrize("statement", all_statements())
def test_every_statement_keeps_to_redshift_syntax(statement):
    # What Redshift's MERGE, UPDATE and comparison syntax lack; see the module docstring.
    assert "IS DISTINCT FROM" not in statement
    assert "RETURNING" not in statement
    assert "WHEN MATCHED AND" not in statement
    assert "\n" not in statement
    sqlglot.parse_one(statement, read="redshift")


def test_merge_matches_on_the_natural_key_without_a_target_alias():
    merge = sales_plan().statements[-1]
    target = "energy.daily_sales_by_segment"
    assert merge.startswith(f"MERGE INTO {target} USING energy.stg_daily_sales_by_segment AS s ON ")
    on = merge.split(" ON ", 1)[1].split(" WHEN ", 1)[0]
    assert sorted(re.findall(r"s\.(\w+) = " + re.escape(target) + r"\.(\w+)", on)) == sorted(
        (k, k) for k in SALES_KEY
    )
    assert "WHEN MATCHED THEN UPDATE SET revenue_eur = s.revenue_eur" in merge
    assert "WHEN NOT MATCHED THEN INSERT" in merge


def test_the_audit_is_counted_before_the_staged_rows_change():
    statements = sales_plan().statements
    assert statements[0].startswith("INSERT INTO energy.load_audit")
    assert "'manual__2026-03-29T00:00:00+00:00'" in statements[0]
    assert "CAST('2026-03-30 01:02:03' AS TIMESTAMP)" in statements[0]
    assert statements[1].startswith(
        "DELETE FROM energy.daily_sales_by_segment WHERE energy.daily_sales_by_segment.delivery_date = "
        "CAST('2026-03-29' AS DATE) AND NOT EXISTS"
    )
    assert statements[2].startswith("DELETE FROM energy.stg_daily_sales_by_segment USING")


def test_a_fact_without_delivery_date_deletes_no_vanished_rows():
    plan = wh.plan_upsert(
        "hourly_price_curve", [wh.Column("delivery_start", "TIMESTAMP")], ("delivery_start",), RUN, "s", set()
    )
    assert [s.split(" ", 1)[0] for s in plan.statements] == ["INSERT", "DELETE", "MERGE"]
    assert "0, CAST('2026-03-30 01:02:03' AS TIMESTAMP) FROM s " in plan.statements[0]


def test_no_statement_of_a_load_creates_the_schema():
    # The loader has CREATE and USAGE on the schema only (docs/deployment.md); on PostgreSQL and Redshift even
    # CREATE SCHEMA IF NOT EXISTS of an existing schema needs CREATE on the database.
    dim_client = wh.plan_dim_client(RUN, "energy.stg_dim_client")
    glue = [wh.glue_connection_options(plan, "dev") for plan in (sales_plan(), dim_client)]
    statements = [*sales_plan().ddl, *dim_client.ddl, *all_statements()]
    statements += [o[actions] for o in glue for actions in ("preactions", "postactions")]
    assert not [s for s in statements if "CREATE SCHEMA" in s.upper()]
    assert wh.create_schema_sql() == "CREATE SCHEMA IF NOT EXISTS energy"


def test_glue_actions_wrap_the_same_sql_in_one_transaction():
    plan = sales_plan()
    options = wh.glue_connection_options(plan, "dev")

    assert options["dbtable"] == "energy.stg_daily_sales_by_segment"
    assert options["database"] == "dev"
    post = options["postactions"].rstrip(";").split(";")
    assert post == ["BEGIN", *plan.statements, "DROP TABLE energy.stg_daily_sales_by_segment", "END"]
    pre = options["preactions"].rstrip(";").split(";")
    assert pre[-2:] == [
        "DROP TABLE IF EXISTS energy.stg_daily_sales_by_segment",
        plan.staging_ddl(temporary=False),
    ]
    assert "\n" not in options["preactions"] + options["postactions"]


def test_a_semicolon_in_a_literal_cannot_split_the_glue_actions():
    plan = wh.plan_upsert(
        "daily_sales_by_segment",
        SALES_COLUMNS,
        SALES_KEY,
        wh.Run("a;b", RUN.run_date, RUN.loaded_at),
        "s",
        set(),
    )
    with pytest.raises(ValueError, match="semicolon"):
        wh.glue_connection_options(plan, "dev")


@pytest.fixture(scope="module")
def postgres_url():
    home = Path(tempfile.mkdtemp(prefix="dl-warehouse-sql-test-"))
    url = Warehouse(home).start()
    # The admin's part (docs/deployment.md): the loader's actions never create the schema.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(wh.create_schema_sql())
    yield url
    Warehouse(home).stop()
    shutil.rmtree(home)


def test_the_glue_actions_run_on_postgresql_as_they_would_on_redshift(postgres_url):
    """The Glue branch cannot run here; its actions, split the way the connector splits them, can."""
    rows = [
        ("2026-03-29", "2.0TD", "28", "RESIDENTIAL", "1.50"),
        ("2026-03-29", "3.0TD", "08", "SME", None),
    ]

    def run_glue_load(plan):
        options = wh.glue_connection_options(plan, "dev")
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for statement in options["preactions"].rstrip(";").split(";"):
                conn.execute(statement)
            with conn.cursor().copy(f"COPY {options['dbtable']} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            for statement in options["postactions"].rstrip(";").split(";"):
                conn.execute(statement)
            return conn.execute(
                "SELECT rows_staged, rows_inserted, rows_updated FROM energy.load_audit ORDER BY loaded_at"
            ).fetchall(), conn.execute("SELECT count(*) FROM energy.daily_sales_by_segment").fetchone()

    first = run_glue_load(sales_plan())
    again = run_glue_load(
        wh.plan_upsert(
            "daily_sales_by_segment",
            SALES_COLUMNS,
            SALES_KEY,
            wh.Run("again", RUN.run_date, RUN.loaded_at + dt.timedelta(seconds=1)),
            "energy.stg_daily_sales_by_segment",
            {c.name for c in SALES_COLUMNS},
        )
    )

    assert first == ([(2, 2, 0)], (2,))
    assert again == ([(2, 2, 0), (2, 0, 0)], (2,))
