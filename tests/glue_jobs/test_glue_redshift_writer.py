"""GlueRedshiftWriter, the Glue branch of the warehouse load, without Glue: a stand-in GlueContext.

The writer's calls go through awsglue's own Python layer (``$AWSGLUE_LIB``: ``DynamicFrame.fromDF`` and
``DynamicFrameWriter.from_jdbc_conf``) down to where Glue would hand over to its JVM. There the stand-in
records what it is given and does the Redshift connector's part on the embedded PostgreSQL: the preactions,
a COPY of the frame's rows into ``dbtable``, the postactions, each list split on ``;`` as the connector splits
it. Its JDBC reads (``schema_exists``, ``existing_columns``) run their query there too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sys
from pathlib import Path

import psycopg
import pytest
import test_warehouse_load as warehouse_load
from warehouse_db import fresh_database, with_schema

from glue_jobs.lib import warehouse as wh
from glue_jobs.warehouse_writers import GlueRedshiftWriter, PostgresWriter

REPO = Path(__file__).resolve().parents[2]
CONNECTION = "energy-redshift"
TMP_DIR = "s3://aws-glue-assets-123456789012-eu-west-1/temporary/redshift/"
JDBC = {
    "url": "jdbc:redshift://energy.abc123.eu-west-1.redshift.amazonaws.com:5439",
    "fullUrl": "jdbc:redshift://energy.abc123.eu-west-1.redshift.amazonaws.com:5439/dev",
    "user": "etl_loader",
    "password": "loader-secret",
    "vendor": "redshift",
}

client, CLIENT_SCHEMA, PROVIDER_SCHEMA = (
    warehouse_load.client,
    warehouse_load.CLIENT_SCHEMA,
    warehouse_load.PROVIDER_SCHEMA,
)
_databases = itertools.count()


@pytest.fixture(scope="module")
def awsglue():
    """awsglue's DynamicFrame and DynamicFrameWriter, importable for this module only: other tests check what
    happens without the library."""
    lib = Path(os.environ.get("AWSGLUE_LIB", REPO / ".venv" / "awsglue-dataplane"))
    if not (lib / "awsglue" / "dynamicframe.py").is_file():
        pytest.fail(f"Glue's Python library (awsglue) is not in {lib}: run make setup")
    sys.path.insert(0, str(lib))
    try:
        from awsglue.dynamicframe import DynamicFrame, DynamicFrameWriter

        yield DynamicFrame, DynamicFrameWriter
    finally:
        sys.path.remove(str(lib))
        for name in [m for m in sys.modules if m == "awsglue" or m.startswith("awsglue.")]:
            del sys.modules[name]


class StandInGlueContext:
    """What GlueRedshiftWriter and awsglue's Python layer use of a GlueContext."""

    def __init__(self, awsglue, spark, postgres_url: str):
        dynamic_frame, dynamic_frame_writer = awsglue
        self._dynamic_frame = dynamic_frame
        self._spark = spark
        self._postgres_url = postgres_url
        self._sc = spark.sparkContext
        self._ssql_ctx = "the JVM GlueContext"
        # Glue's JVM DynamicFrame of a DataFrame: here the DataFrame's own JVM object.
        self._jvm = type("Jvm", (), {"DynamicFrame": type("Apply", (), {"apply": staticmethod(self._wrap)})})
        self.write_dynamic_frame = dynamic_frame_writer(self)
        self.spark_session = type("Session", (), {"read": property(lambda _: StandInJdbcReader(self))})()
        self.writes: list[dict] = []
        self.queries: list[str] = []

    def _wrap(self, jdf, ssql_ctx):
        assert ssql_ctx == self._ssql_ctx
        return jdf

    def extract_jdbc_conf(self, connection_name, catalog_id=None):
        assert connection_name == CONNECTION
        return dict(JDBC)

    def write_dynamic_frame_from_jdbc_conf(
        self, frame, catalog_connection, connection_options, redshift_tmp_dir, transformation_ctx
    ):
        # awsglue's DynamicFrameWriter.from_jdbc_conf passes all five; GlueContext's own method then goes to
        # the JVM.
        assert isinstance(frame, self._dynamic_frame), type(frame)
        self.writes.append(
            {
                "frame": frame,
                "catalog_connection": catalog_connection,
                "connection_options": dict(connection_options),
                "redshift_tmp_dir": redshift_tmp_dir,
            }
        )
        rows = frame_rows(self._spark, frame)
        with psycopg.connect(self._postgres_url, autocommit=True) as conn:
            for statement in split_actions(connection_options["preactions"]):
                conn.execute(statement)
            with conn.cursor().copy(
                f"COPY {connection_options['dbtable']} ({', '.join(rows.columns)}) FROM STDIN"
            ) as copy:
                for row in rows.collect():
                    copy.write_row(tuple(row))
            for statement in split_actions(connection_options["postactions"]):
                conn.execute(statement)


class StandInJdbcReader:
    """``spark.read.format("jdbc")...load().collect()`` against the embedded PostgreSQL."""

    def __init__(self, context: StandInGlueContext):
        self._context = context
        self._options: dict[str, str] = {}

    def format(self, source):
        assert source == "jdbc"
        return self

    def option(self, key, value):
        self._options[key] = value
        return self

    def load(self):
        assert self._options["url"] == JDBC["url"] + "/dev", self._options
        assert (self._options["user"], self._options["password"]) == (JDBC["user"], JDBC["password"])
        self._context.queries.append(self._options["query"])
        return self

    def collect(self):
        with psycopg.connect(self._context._postgres_url) as conn:
            return conn.execute(self._options["query"]).fetchall()


def frame_rows(spark, frame):
    """The DataFrame a stand-in DynamicFrame wraps (its JVM object is the DataFrame's, see ``_wrap``)."""
    from pyspark.sql import DataFrame

    return DataFrame(frame._jdf, spark)


def split_actions(actions: str) -> list[str]:
    return actions.rstrip(";").split(";")


def run_of(day: dt.date, run_id: str) -> wh.Run:
    return wh.Run(run_id, day, dt.datetime(2026, 4, 1, 2, 0, next(_databases), tzinfo=dt.UTC))


def other_database(server) -> str:
    return with_schema(fresh_database(server, "glue"))


DAY1, DAY2, DAY3 = dt.date(2026, 3, 27), dt.date(2026, 3, 28), dt.date(2026, 3, 29)


def test_the_connector_gets_the_plans_ddl_and_statements_around_the_staging_table(awsglue, spark, url):
    glue = StandInGlueContext(awsglue, spark, url)
    writer = GlueRedshiftWriter(glue, CONNECTION, TMP_DIR, "dev")
    run = run_of(DAY2, "glue-run")

    result = wh.load_dim_client(writer, run, spark.createDataFrame([client("C01")], CLIENT_SCHEMA))

    # No load_audit yet: the plan creates it, whole.
    plan = wh.plan_dim_client(run, "energy.stg_dim_client", set())
    [write] = glue.writes
    assert result is None
    assert (write["catalog_connection"], write["redshift_tmp_dir"]) == (CONNECTION, TMP_DIR)
    options = write["connection_options"]
    assert (options["dbtable"], options["database"]) == ("energy.stg_dim_client", "dev")
    assert split_actions(options["preactions"]) == [
        *plan.ddl,
        "DROP TABLE IF EXISTS energy.stg_dim_client",
        plan.staging_ddl(temporary=False),
    ]
    assert split_actions(options["postactions"]) == [
        "BEGIN",
        *plan.statements,
        "DROP TABLE energy.stg_dim_client",
        "END",
    ]
    assert write["frame"].name == wh.DIM_CLIENT
    assert frame_rows(spark, write["frame"]).columns == [c.name for c in plan.columns]
    assert glue.queries == [
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'energy' AND table_name = 'load_audit'"
    ]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT client_id, is_current FROM energy.dim_client").fetchall() == [
            ("C01", True)
        ]
        assert conn.execute("SELECT to_regclass('energy.stg_dim_client')").fetchone() == (None,)


def test_an_older_load_audit_gets_the_history_columns_in_the_preactions(awsglue, spark, url):
    old = "run_id VARCHAR(256), run_date DATE, table_name VARCHAR(256), rows_staged BIGINT, rows_inserted BIGINT"
    with psycopg.connect(url) as conn:
        conn.execute(
            f"CREATE TABLE energy.load_audit ({old}, rows_updated BIGINT, rows_deleted BIGINT, loaded_at TIMESTAMP)"
        )
    glue = StandInGlueContext(awsglue, spark, url)

    wh.load_dim_client(
        GlueRedshiftWriter(glue, CONNECTION, TMP_DIR, "dev"),
        run_of(DAY2, "glue-run"),
        spark.createDataFrame([client("C01")], CLIENT_SCHEMA),
    )

    preactions = split_actions(glue.writes[0]["connection_options"]["preactions"])
    assert [s for s in preactions if s.startswith("ALTER")] == [
        f"ALTER TABLE energy.load_audit ADD COLUMN {name} BIGINT" for name in wh.HISTORY_COUNTS
    ]
    with psycopg.connect(url) as conn:
        counts = conn.execute(f"SELECT {', '.join(wh.HISTORY_COUNTS)} FROM energy.load_audit").fetchall()
    assert counts == [(1, 0, 0)]


def test_the_glue_writer_leaves_the_same_warehouse_as_the_local_one(awsglue, spark, server, url):
    local = other_database(server)
    glue = StandInGlueContext(awsglue, spark, url)
    writers = [GlueRedshiftWriter(glue, CONNECTION, TMP_DIR, "dev"), PostgresWriter(local)]
    providers = spark.createDataFrame(
        [
            (
                "P01",
                "Solar SA",
                "A58818501",
                "GENERATOR",
                "SOLAR",
                "ES",
                True,
                dt.datetime(2026, 3, 1),
                "p.csv",
            )
        ],
        PROVIDER_SCHEMA,
    )
    # Day 3, then day 1 late, then day 2 late and equal to day 3, then day 3 corrected back to day 1.
    loads = [
        (DAY3, [client("C01", tariff="3.0TD"), client("C02")]),
        (DAY1, [client("C01"), client("C02")]),
        (DAY2, [client("C01", tariff="3.0TD"), client("C02", segment="SME")]),
        (DAY3, [client("C01"), client("C02")]),
    ]
    for number, (day, rows) in enumerate(loads):
        run = run_of(day, f"run-{number}")
        clients = spark.createDataFrame(rows, CLIENT_SCHEMA)
        for writer in writers:
            # load_all once, for the writer's schema and audit queries; the dimension alone after that.
            if number == 0:
                wh.load_all(writer, run, {}, clients, providers)
            else:
                wh.load_dim_client(writer, run, clients)

    def warehouse(database):
        with psycopg.connect(database) as conn:
            return [
                conn.execute(
                    f"SELECT * FROM energy.{wh.DIM_CLIENT} ORDER BY client_id, valid_from"
                ).fetchall(),
                conn.execute(
                    f"SELECT * FROM energy.{wh.DIM_CLIENT_SEEN} ORDER BY client_id, seen_from"
                ).fetchall(),
                conn.execute(f"SELECT * FROM energy.{wh.DIM_PROVIDER}").fetchall(),
                conn.execute("SELECT * FROM energy.load_audit ORDER BY run_id, table_name").fetchall(),
            ]

    on_glue = warehouse(url)
    assert on_glue == warehouse(local)
    assert [(r[0], r[2], r[5], r[-3], r[-2]) for r in on_glue[0]] == [
        ("C01", "2.0TD", "RESIDENTIAL", DAY1, DAY2),
        ("C01", "3.0TD", "RESIDENTIAL", DAY2, DAY3),
        ("C01", "2.0TD", "RESIDENTIAL", DAY3, None),
        ("C02", "2.0TD", "RESIDENTIAL", DAY1, DAY2),
        ("C02", "2.0TD", "SME", DAY2, DAY3),
        ("C02", "2.0TD", "RESIDENTIAL", DAY3, None),
    ]
    assert len(glue.writes) == 1 + len(loads)
