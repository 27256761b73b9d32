"""The two warehouse writers, side by side: the SQL they run is glue_jobs/lib/warehouse.py's, the I/O is here.

- ``PostgresWriter`` (local target): psycopg, COPY into a TEMP staging table, then the plan's statements, all
  in one transaction.
- ``GlueRedshiftWriter`` (AWS Glue): the job's Glue JDBC connection to Redshift; the connector fills the
  staging table and runs the plan's statements as its ``preactions`` / ``postactions``. It needs awsglue,
  imported only when it loads.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from glue_jobs.lib import warehouse


class PostgresWriter:
    """The local writer: COPY into a TEMP staging table, then the plan, all in one transaction."""

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
        # Spark renders every value as text in the session time zone (UTC): no Python-side conversion.
        text_rows = rows.select(*(F.col(n).cast("string").alias(n) for n in names)).collect()
        with psycopg.connect(self.url) as conn, conn.transaction():
            for statement in (*plan.ddl, plan.staging_ddl(temporary=True)):
                conn.execute(statement)
            with conn.cursor().copy(f"COPY {plan.staging} ({', '.join(names)}) FROM STDIN") as copy:
                for row in text_rows:
                    copy.write_row(tuple(row))
            for statement in plan.statements:
                conn.execute(statement)
            counts = conn.execute(
                f"SELECT rows_staged, rows_inserted, rows_updated, rows_deleted FROM {warehouse.SCHEMA}.{warehouse.LOAD_AUDIT} "
                "WHERE run_id = %s AND run_date = %s AND table_name = %s AND loaded_at = %s",
                (plan.run.run_id, plan.run.run_date, plan.table, warehouse.utc_naive(plan.run.loaded_at)),
            ).fetchone()
        return warehouse.LoadResult(plan.table, *counts)


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
