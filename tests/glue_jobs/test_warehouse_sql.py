"""The SQL the warehouse load sends: portable to Redshift, and what the Glue branch would run."""

from __future__ import annotations

import datetime as dt
import re

import psycopg
import pytest
import sqlglot
from pyspark.sql import types as T
from sqlglot import exp
from warehouse_db import fresh_database, with_schema

from energy_datalake import templates
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


OLD_AUDIT = {"run_id", "run_date", "table_name", "rows_staged", "rows_inserted", "rows_updated"}
OLD_AUDIT |= {"rows_deleted", "loaded_at"}


def dim_client_plan(audit_existing=frozenset()):
    return wh.plan_dim_client(RUN, "energy.stg_dim_client", audit_existing)


def all_statements():
    """Every statement a load sends, DDL and audit migration included, in the text the Glue connector gets."""
    statements = []
    for plan in (sales_plan(), sales_plan(existing={"delivery_date"}), dim_client_plan(OLD_AUDIT)):
        options = wh.glue_connection_options(plan, "dev")
        for actions in ("preactions", "postactions"):
            statements += [s for s in options[actions].rstrip(";").split(";") if s not in ("BEGIN", "END")]
    return statements


def redshift_problems(statement: str) -> list[str]:
    """What in the statement's syntax tree (sqlglot, Redshift reader) Redshift does not run, though
    PostgreSQL does and sqlglot's Redshift reader accepts it. From Redshift's SQL reference: MERGE, UPDATE,
    DELETE, INSERT, SELECT."""
    problems = []
    for node in sqlglot.parse_one(statement, read="redshift").walk():
        if isinstance(node, exp.Returning):
            problems.append("RETURNING")
        elif isinstance(node, exp.NullSafeEQ | exp.NullSafeNEQ):
            problems.append("IS [NOT] DISTINCT FROM")
        elif isinstance(node, exp.OnConflict):
            problems.append("ON CONFLICT")
        elif isinstance(node, exp.Filter):
            problems.append("aggregate FILTER (WHERE ...)")
        elif isinstance(node, exp.Distinct) and node.args.get("on"):
            problems.append("DISTINCT ON")
        elif isinstance(node, exp.Merge):
            problems += _merge_problems(node)
        elif isinstance(node, exp.Update) and not isinstance(node.parent, exp.When):
            problems += _update_problems(node)
        elif isinstance(node, exp.Delete) and node.this.alias:
            problems.append("DELETE target alias")
    return problems


def _merge_problems(merge: exp.Merge) -> list[str]:
    problems = []
    if merge.this.alias:
        problems.append("MERGE target alias")
    if not isinstance(merge.args["using"], exp.Table):
        problems.append("MERGE source that is not a table")
    if merge.args.get("with_"):
        problems.append("MERGE with a WITH clause")
    whens = merge.args["whens"].expressions
    if any(w.args.get("condition") for w in whens):
        problems.append("WHEN [NOT] MATCHED AND <condition>")
    if any(w.args.get("source") for w in whens):
        problems.append("WHEN NOT MATCHED BY SOURCE")
    # Redshift's MERGE takes exactly one WHEN MATCHED and one WHEN NOT MATCHED clause.
    if sorted(bool(w.args.get("matched")) for w in whens) != [False, True]:
        problems.append("MERGE without exactly one WHEN MATCHED and one WHEN NOT MATCHED")
    return problems


def _update_problems(update: exp.Update) -> list[str]:
    problems = []
    target = update.this
    if target.alias:
        problems.append("UPDATE target alias")
    if any(isinstance(a.this, exp.Column) and a.this.table for a in update.expressions):
        problems.append("UPDATE SET of a qualified column")
    source = update.args.get("from_")
    if source is None:
        return problems
    if any(join.side for join in source.find_all(exp.Join) if join.parent_select is None):
        problems.append("outer join in UPDATE ... FROM")
    # "Target table must be part of an equijoin predicate".
    where = update.args.get("where")
    equalities = [] if where is None else [e for e in where.find_all(exp.EQ) if e.parent_select is None]

    def on_target(side):
        return isinstance(side, exp.Column) and side.table in {target.name, target.alias} - {""}

    if not any(on_target(e.this) != on_target(e.expression) for e in equalities):
        problems.append("UPDATE ... FROM without an equality between the target and the FROM list")
    return problems


@pytest.mark.parametrize("statement", all_statements())
def test_every_statement_keeps_to_redshift_syntax(statement):
    assert "\n" not in statement
    sqlglot.parse_one(statement, read="postgres")
    assert redshift_problems(statement) == []


def test_the_statements_checked_are_the_loads():
    statements = all_statements()
    for plan in (sales_plan(), dim_client_plan(OLD_AUDIT)):
        assert set(plan.statements) <= set(statements)
    migration = [s for s in statements if s.startswith("ALTER TABLE energy.load_audit ADD COLUMN")]
    assert migration == [f"ALTER TABLE energy.load_audit ADD COLUMN {n} BIGINT" for n in wh.HISTORY_COUNTS]
    kinds = {sqlglot.parse_one(s, read="redshift").key for s in statements}
    assert {"merge", "update", "delete", "insert", "create", "alter", "drop"} <= kinds


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE t SET a = 1 WHERE b = 2 RETURNING a", "RETURNING"),
        ("DELETE FROM t WHERE a IS DISTINCT FROM 1", "IS [NOT] DISTINCT FROM"),
        ("SELECT 1 FROM t WHERE a IS NOT DISTINCT FROM b", "IS [NOT] DISTINCT FROM"),
        ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING", "ON CONFLICT"),
        ("SELECT COUNT(*) FILTER (WHERE a > 1) FROM t", "aggregate FILTER (WHERE ...)"),
        ("SELECT DISTINCT ON (a) a, b FROM t", "DISTINCT ON"),
        (
            "MERGE INTO t AS x USING s ON x.a = s.a WHEN MATCHED THEN UPDATE SET b = s.b "
            "WHEN NOT MATCHED THEN INSERT (a, b) VALUES (s.a, s.b)",
            "MERGE target alias",
        ),
        (
            "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED AND s.b > 1 THEN UPDATE SET b = s.b "
            "WHEN NOT MATCHED THEN INSERT (a, b) VALUES (s.a, s.b)",
            "WHEN [NOT] MATCHED AND <condition>",
        ),
        (
            "MERGE INTO t USING (SELECT a, b FROM u) s ON t.a = s.a WHEN MATCHED THEN UPDATE SET b = s.b "
            "WHEN NOT MATCHED THEN INSERT (a, b) VALUES (s.a, s.b)",
            "MERGE source that is not a table",
        ),
        (
            "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE WHEN NOT MATCHED BY SOURCE THEN DELETE",
            "WHEN NOT MATCHED BY SOURCE",
        ),
        (
            "MERGE INTO t USING s ON t.a = s.a WHEN NOT MATCHED THEN INSERT (a) VALUES (s.a)",
            "MERGE without exactly one WHEN MATCHED and one WHEN NOT MATCHED",
        ),
        (
            "WITH c AS (SELECT a FROM u) MERGE INTO t USING c ON t.a = c.a WHEN MATCHED THEN DELETE "
            "WHEN NOT MATCHED THEN INSERT (a) VALUES (c.a)",
            "MERGE with a WITH clause",
        ),
        ("UPDATE t AS x SET a = s.a FROM s WHERE x.k = s.k", "UPDATE target alias"),
        ("UPDATE t SET t.a = 1", "UPDATE SET of a qualified column"),
        (
            "UPDATE t SET a = s.a FROM s LEFT JOIN u ON u.k = s.k WHERE t.k = s.k",
            "outer join in UPDATE ... FROM",
        ),
        (
            "UPDATE t SET a = s.a FROM s WHERE s.k > 1",
            "UPDATE ... FROM without an equality between the target and the FROM list",
        ),
        ("DELETE FROM t AS x USING s WHERE x.k = s.k", "DELETE target alias"),
    ],
)
def test_the_walker_catches_what_redshift_does_not_run(statement, problem):
    # sqlglot's Redshift reader takes each of these: parsing alone proves nothing.
    sqlglot.parse_one(statement, read="redshift")
    assert redshift_problems(statement) == [problem]


def test_the_walker_passes_the_same_constructs_written_for_redshift():
    fine = [
        "UPDATE t SET a = s.a FROM s WHERE t.k = s.k",
        "UPDATE t SET a = 1 WHERE k IN (SELECT k FROM s WHERE s.b = t.b)",
        "DELETE FROM t USING s WHERE t.k = s.k AND NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.k)",
        "MERGE INTO t USING s AS x ON t.a = x.a WHEN MATCHED THEN UPDATE SET b = x.b "
        "WHEN NOT MATCHED THEN INSERT (a, b) VALUES (x.a, x.b)",
        "SELECT a, LEAD(a) OVER (PARTITION BY b ORDER BY a) FROM t",
    ]
    assert [redshift_problems(s) for s in fine] == [[]] * len(fine)


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
    # No rows deleted, and a fact's load changes no history.
    assert "0, CAST('2026-03-30 01:02:03' AS TIMESTAMP), 0, 0, 0 FROM s " in plan.statements[0]


def test_no_statement_of_a_load_creates_the_schema():
    # The loader has CREATE and USAGE on the schema only (docs/deployment.md); on PostgreSQL and Redshift even
    # CREATE SCHEMA IF NOT EXISTS of an existing schema needs CREATE on the database.
    statements = all_statements()
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
def postgres_url(server):
    return with_schema(fresh_database(server, "sql"))


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
