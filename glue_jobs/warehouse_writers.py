"""The two warehouse writers, side by side: the SQL they run is glue_jobs/lib/warehouse.py's, the I/O is here.

- ``PostgresWriter`` (local target): the rows from Spark as Arrow batches, rendered as PostgreSQL's text COPY
  format by Arrow and streamed with psycopg into a TEMP staging table, then the plan's statements, all in one
  transaction.
- ``GlueRedshiftWriter`` (AWS Glue): the job's Glue JDBC connection to Redshift; the connector fills the
  staging table and runs the plan's statements as its ``preactions`` / ``postactions``. It needs awsglue,
  imported only when it loads.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from glue_jobs.lib import warehouse


class PostgresWriter:
    """The local writer: the rows as Arrow batches, one COPY into a TEMP staging table, then the plan, all in
    one transaction."""

    def __init__(self, url: str):
        self.url = url

    def staging_name(self, table: str) -> str:
        return f"stg_{table}"

    def schema_exists(self) -> bool:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute(warehouse.schema_exists_sql()).fetchone() is not None

    def existing_columns(self, table: str) -> set[str]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                (warehouse.SCHEMA, table),
            ).fetchall()
        return {r[0] for r in rows}

    def load(self, plan: warehouse.LoadPlan, rows: DataFrame) -> warehouse.LoadResult:
        import psycopg

        names = [c.name for c in plan.columns]
        # Arrow: Spark hands the driver contiguous column buffers, no Python object per row or value.
        batches = _collect_arrow(rows.select(*names))
        with psycopg.connect(self.url) as conn, conn.transaction():
            self.stage(conn, plan, batches)
            for statement in plan.statements:
                conn.execute(statement)
            counts = conn.execute(
                "SELECT rows_staged, rows_inserted, rows_updated, rows_deleted, "
                f"{', '.join(warehouse.HISTORY_COUNTS)} FROM {warehouse.SCHEMA}.{warehouse.LOAD_AUDIT} "
                "WHERE run_id = %s AND run_date = %s AND table_name = %s AND loaded_at = %s",
                (plan.run.run_id, plan.run.run_date, plan.table, warehouse.utc_naive(plan.run.loaded_at)),
            ).fetchone()
        return warehouse.LoadResult(plan.table, *counts)

    def stage(self, conn, plan: warehouse.LoadPlan, batches) -> None:
        """Inside the load's transaction: the plan's DDL, the TEMP staging table filled with ``batches``
        (Arrow record batches of the plan's columns) by one COPY, and its statistics."""
        # The COPY stream is UTF-8 bytes, whatever the database's encoding.
        conn.execute("SET LOCAL client_encoding TO 'UTF8'")
        for statement in (*plan.ddl, plan.staging_ddl(temporary=True)):
            conn.execute(statement)
        names = ", ".join(c.name for c in plan.columns)
        with conn.cursor().copy(f"COPY {plan.staging} ({names}) FROM STDIN") as copy:
            for batch in batches:
                if batch.num_rows:
                    copy.write(copy_text(batch))
        # Autovacuum never analyzes a TEMP table: without statistics the planner takes the staging table for
        # a few rows and picks nested loops that are quadratic in the rows (the audit of a re-run of 50,435
        # rows: 72 to 99 s instead of 0.1 s). Redshift's COPY updates the statistics of the empty table it fills, so the
        # plan's SQL is the same on both. A sample of 3,000 rows gives the row count and the key's distinct
        # values; the default 30,000 takes about 20 times as long.
        conn.execute(f"SET LOCAL default_statistics_target = {STAGING_STATISTICS_TARGET}")
        conn.execute(f"ANALYZE {plan.staging}")


COPY_NULL = "\\N"
# What PostgreSQL's text COPY format needs escaped in a value, backslash first (docs: COPY, text format).
COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
STAGING_STATISTICS_TARGET = 10


def copy_text(batch) -> memoryview:
    """An Arrow record batch as PostgreSQL's text COPY format: a tab between values, a newline after each
    row, NULL as ``\\N``, strings escaped. Vectorised (Arrow compute): nothing per row in Python.

    Each value is Arrow's text of it, which PostgreSQL reads back exactly: decimals with all their scale
    digits, dates ISO, floats as their shortest round-trip form (``nan``, ``inf`` included), booleans
    ``true``/``false``, timestamps as their UTC wall time with microseconds (TIMESTAMP holds the UTC
    instant, ``warehouse.sql_type``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = []
    for column in batch.columns:
        kind = column.type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            # Arrow keeps timestamps as UTC instants; dropping the zone keeps that instant's UTC wall time.
            column = column.cast(pa.timestamp(kind.unit))
        text = column.cast(pa.string())
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            for char, escaped in COPY_ESCAPES:
                text = pc.replace_substring(text, char, escaped)
        values.append(text.fill_null(COPY_NULL))
    rows = pc.binary_join_element_wise(*values, "\t")
    return _concatenated(pc.binary_join_element_wise(rows, "\n", ""))


def _collect_arrow(frame: DataFrame) -> list:
    """The DataFrame's rows as Arrow record batches. Spark 4 has the public ``toArrow``; Spark 3.5 (Glue 5's)
    only the method ``toPandas`` uses with Arrow on."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow().to_batches()
    return frame._collect_as_arrow()


def _concatenated(strings) -> memoryview:
    """The values of an Arrow string array without nulls, one after the other, without copying them: its
    data buffer from the first value's offset to the end of the last."""
    offsets = memoryview(strings.buffers()[1]).cast("i")
    start, end = offsets[strings.offset], offsets[strings.offset + len(strings)]
    return memoryview(strings.buffers()[2])[start:end]


class GlueRedshiftWriter:
    """Redshift through the job's Glue connection: staging table filled by the connector, SQL in actions."""

    def __init__(self, glue_context, connection_name: str, redshift_tmp_dir: str, database: str):
        self.glue_context = glue_context
        self.connection_name = connection_name
        self.redshift_tmp_dir = redshift_tmp_dir
        self.database = database

    def staging_name(self, table: str) -> str:
        return f"{warehouse.SCHEMA}.stg_{table}"

    def schema_exists(self) -> bool:
        return bool(self._query(warehouse.schema_exists_sql()))

    def existing_columns(self, table: str) -> set[str]:
        return {
            r[0]
            for r in self._query(
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = '{warehouse.SCHEMA}' AND table_name = '{table}'"
            )
        }

    def _query(self, query: str) -> list:
        jdbc = self.glue_context.extract_jdbc_conf(self.connection_name)
        # extract_jdbc_conf's "url" stops before the database name ("fullUrl" carries the connection's).
        return (
            self.glue_context.spark_session.read.format("jdbc")
            .option("url", f"{jdbc['url']}/{self.database}")
            .option("user", jdbc["user"])
            .option("password", jdbc["password"])
            .option("query", query)
            .load()
            .collect()
        )

    def load(self, plan: warehouse.LoadPlan, rows) -> None:
        from awsglue.dynamicframe import DynamicFrame

        self.glue_context.write_dynamic_frame.from_jdbc_conf(
            frame=DynamicFrame.fromDF(rows, self.glue_context, plan.table),
            catalog_connection=self.connection_name,
            connection_options=warehouse.glue_connection_options(plan, self.database),
            redshift_tmp_dir=self.redshift_tmp_dir,
        )
