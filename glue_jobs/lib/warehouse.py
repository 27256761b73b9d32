"""The warehouse load of docs/architecture.md (warehouse): schema DDL, staging, the MERGE SQL, dim_client history, load audit.

Pure: it builds SQL strings and DataFrames. The only I/O goes through an explicit writer object
(``glue_jobs/warehouse_writers.py``: psycopg + COPY into a TEMP staging table locally, the Glue JDBC
connection with ``preactions`` / ``postactions`` on Glue).

The SQL is written once for PostgreSQL (>= 15) and Amazon Redshift, so it keeps to what both accept:
Redshift's MERGE has no target alias, no ``WHEN MATCHED AND <condition>`` and no RETURNING, and Redshift has
no ``IS DISTINCT FROM``. Hence each load is, in one transaction:

1. one INSERT into ``load_audit`` that counts, before anything changes, the staged rows that will be
   inserted (new key) and updated (known key, some value differs, NULL-safe), and the warehouse rows of
   the run date that the curated partition no longer has (deleted);
2. for a fact with a ``delivery_date``, a DELETE of those vanished rows: a re-run of a corrected date
   leaves the warehouse equal to the curated partition, not a superset of it;
3. a DELETE of the staged rows identical to the warehouse, so that
4. the unconditional MERGE (or, for ``dim_client``, the SCD type 2 UPDATE/INSERT) only touches real changes.

Re-running a date therefore changes no data row and still records its load in ``load_audit``.

The loader needs CREATE and USAGE on the schema only, never CREATE on the database (docs/deployment.md: the
admin creates the schema once and grants those to ``etl_loader``): no plan creates the schema, and
``load_all`` first checks that it exists.

Personal data (tax_id, full_name, email) never reaches the warehouse: billing runs in the transactional
system that produces the exports, the warehouse serves analytics, and the lake restricts those columns
(docs/architecture.md: access). ``dim_client`` keeps the client's id, CUPS and contract attributes only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from glue_jobs.lib.contract import CLIENTS, PROVIDERS
from glue_jobs.lib.curated_tables import CURATED_KEYS

SCHEMA = "energy"

# The MERGE matches on the curated tables' natural keys.
FACT_KEYS = CURATED_KEYS
DIM_CLIENT = "dim_client"
DIM_PROVIDER = "dim_provider"
LOAD_AUDIT = "load_audit"

# Partition columns are folder names in the lake, not data.
PARTITION_COLUMNS = ("year", "month", "day")
# A fact row with this column belongs to the run date of that value. (hourly_price_curve has none: it
# always holds every hour of its day, so none of its keys can vanish on a re-run.)
DAY_COLUMN = "delivery_date"

# Versioned (SCD type 2): any change of these opens a new version of the client. Personal columns and the
# export bookkeeping (updated_at, source_file) stay out.
DIM_CLIENT_ATTRIBUTES = (
    "cups",
    "tariff",
    "contracted_power_kw",
    "province_code",
    "segment",
    "signup_date",
)
DIM_PROVIDER_KEY = ("provider_id",)

# Redshift's default VARCHAR length; a longer value fails the load loudly instead of being truncated.
VARCHAR = "VARCHAR(256)"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str


@dataclass(frozen=True)
class Run:
    """What identifies one load: the Airflow run, its run date, and the load's timestamp (UTC)."""

    run_id: str
    run_date: dt.date
    loaded_at: dt.datetime


@dataclass(frozen=True)
class LoadPlan:
    """Everything a writer needs to load one table: DDL, the staging table, and the transaction body."""

    table: str
    run: Run
    staging: str
    columns: tuple[Column, ...]
    ddl: tuple[str, ...]
    statements: tuple[str, ...]

    def staging_ddl(self, temporary: bool) -> str:
        kind = "TEMP TABLE" if temporary else "TABLE"
        suffix = " ON COMMIT DROP" if temporary else ""
        return f"CREATE {kind} {self.staging} ({_column_list(self.columns)}){suffix}"


@dataclass(frozen=True)
class LoadResult:
    table: str
    rows_staged: int
    rows_inserted: int
    rows_updated: int
    rows_deleted: int

    def __str__(self) -> str:
        return (
            f"{SCHEMA}.{self.table}: staged {self.rows_staged}, inserted {self.rows_inserted}, "
            f"updated {self.rows_updated}, deleted {self.rows_deleted}"
        )


class SchemaMissing(LookupError):
    """The warehouse has no schema ``SCHEMA``: only its admin can create it."""


class Writer(Protocol):
    """Where the plans run: the embedded PostgreSQL locally, Redshift through the Glue connection on AWS."""

    def staging_name(self, table: str) -> str: ...

    def schema_exists(self) -> bool: ...

    def existing_columns(self, table: str) -> set[str]: ...

    def load(self, plan: LoadPlan, rows: DataFrame) -> LoadResult | None: ...


# --- types ---------------------------------------------------------------------------------------------


def sql_type(data_type: T.DataType) -> str:
    """The PostgreSQL / Redshift type of a Spark type, so a new KPI column needs no code change here."""
    if isinstance(data_type, T.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    for spark_type, sql in _SQL_TYPES:
        if isinstance(data_type, spark_type):
            return sql
    raise TypeError(f"no warehouse type for Spark type {data_type.simpleString()}")


# Timestamps are UTC instants (the Spark session runs in UTC); TIMESTAMP holds their UTC wall time.
_SQL_TYPES: tuple[tuple[type, str], ...] = (
    (T.StringType, VARCHAR),
    (T.BooleanType, "BOOLEAN"),
    (T.ByteType, "SMALLINT"),
    (T.ShortType, "SMALLINT"),
    (T.IntegerType, "INTEGER"),
    (T.LongType, "BIGINT"),
    (T.FloatType, "REAL"),
    (T.DoubleType, "DOUBLE PRECISION"),
    (T.DateType, "DATE"),
    (T.TimestampType, "TIMESTAMP"),
    (T.TimestampNTZType, "TIMESTAMP"),
)


def contract_sql_type(contract_type: str) -> str:
    """The warehouse type of a contract column type (docs/architecture.md: processed schema)."""
    if contract_type.startswith("decimal("):
        return contract_type.upper()
    try:
        return _CONTRACT_TYPES[contract_type]
    except KeyError:
        raise TypeError(f"no warehouse type for contract type {contract_type!r}") from None


_CONTRACT_TYPES = {
    "string": VARCHAR,
    "enum": VARCHAR,
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def columns_of(schema: T.StructType) -> tuple[Column, ...]:
    return tuple(Column(_identifier(f.name), sql_type(f.dataType)) for f in schema.fields)


def dim_client_columns() -> tuple[Column, ...]:
    names = ("client_id", *DIM_CLIENT_ATTRIBUTES)
    return tuple(Column(n, contract_sql_type(CLIENTS.column(n).type)) for n in names)


def dim_provider_columns() -> tuple[Column, ...]:
    return tuple(Column(c.name, contract_sql_type(c.type)) for c in PROVIDERS.columns)


# --- DDL -------------------------------------------------------------------------------------------------


def create_schema_sql() -> str:
    """The admin's statement (docs/deployment.md), never the loader's: it needs CREATE on the database."""
    return f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"


def schema_exists_sql() -> str:
    # pg_namespace lists every schema, also to a user without privileges on it (information_schema would
    # hide it); Redshift has it too.
    return f"SELECT nspname FROM pg_namespace WHERE nspname = '{SCHEMA}'"


def schema_missing_message() -> str:
    return (
        f"warehouse schema {SCHEMA!r} does not exist; the load does not create it (the loader has no CREATE "
        "on the database): the admin creates it once with the set-up SQL in docs/deployment.md "
        f"(CREATE SCHEMA {SCHEMA}; GRANT CREATE, USAGE ON SCHEMA {SCHEMA} TO etl_loader)"
    )


def schema_ddl() -> list[str]:
    """The dimensions and the load audit, inside the existing schema; idempotent. Facts are created by their
    first load, from the curated DataFrame's schema."""
    dim_client = (
        *dim_client_columns(),
        Column("valid_from", "DATE"),
        Column("valid_to", "DATE"),
        Column("is_current", "BOOLEAN"),
    )
    audit = (
        Column("run_id", VARCHAR),
        Column("run_date", "DATE"),
        Column("table_name", VARCHAR),
        Column("rows_staged", "BIGINT"),
        Column("rows_inserted", "BIGINT"),
        Column("rows_updated", "BIGINT"),
        Column("rows_deleted", "BIGINT"),
        Column("loaded_at", "TIMESTAMP"),
    )
    return [
        create_table_sql(DIM_CLIENT, dim_client, ("client_id", "valid_from"), not_null=("is_current",)),
        create_table_sql(DIM_PROVIDER, dim_provider_columns(), DIM_PROVIDER_KEY),
        create_table_sql(LOAD_AUDIT, audit, (), not_null=tuple(c.name for c in audit)),
    ]


def ensure_schema(conn) -> None:
    """The admin's set-up on a DB-API connection (psycopg locally): the schema, then ``schema_ddl()``, then
    a commit. The local deploy step stands for the admin; a load never calls it."""
    with conn.cursor() as cursor:
        for statement in (create_schema_sql(), *schema_ddl()):
            cursor.execute(statement)
    conn.commit()


def create_table_sql(
    table: str, columns: Sequence[Column], key: Sequence[str], not_null: Sequence[str] = ()
) -> str:
    required = set(key) | set(not_null)
    parts = [f"{c.name} {c.sql_type}{' NOT NULL' if c.name in required else ''}" for c in columns]
    if key:
        parts.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} ({', '.join(parts)})"


def add_columns_sql(table: str, columns: Sequence[Column], existing: set[str]) -> list[str]:
    """A column new in the curated data is added (Redshift adds one column per ALTER TABLE)."""
    if not existing:
        return []
    return [
        f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN {c.name} {c.sql_type}"
        for c in columns
        if c.name not in existing
    ]


# --- plans -------------------------------------------------------------------------------------------------


def plan_upsert(
    table: str,
    columns: Sequence[Column],
    key: Sequence[str],
    run: Run,
    staging: str,
    existing: set[str],
) -> LoadPlan:
    """Type 1 load (facts, dim_provider): audit, delete the run date's vanished rows, drop unchanged staged
    rows, MERGE on the natural key."""
    columns = tuple(columns)
    values = [c.name for c in columns if c.name not in key]
    target = f"{SCHEMA}.{table}"
    same_key = _all_equal(key, staging, target)
    same_values = _all_same(values, staging, target)
    vanished = (
        f"{target}.{DAY_COLUMN} = {_date(run.run_date)} "
        f"AND NOT EXISTS (SELECT 1 FROM {staging} WHERE {same_key})"
        if DAY_COLUMN in key
        else None
    )
    audit = _audit_sql(
        table,
        run,
        staging,
        joined=f"LEFT JOIN {target} ON {same_key}",
        inserted=f"{target}.{key[0]} IS NULL",
        updated=f"{target}.{key[0]} IS NOT NULL AND NOT ({same_values})",
        deleted=f"(SELECT COUNT(*) FROM {target} WHERE {vanished})" if vanished else "0",
    )
    delete_vanished = (f"DELETE FROM {target} WHERE {vanished}",) if vanished else ()
    drop_unchanged = f"DELETE FROM {staging} USING {target} WHERE {same_key} AND {same_values}"
    # Redshift needs both clauses; a key-only table "updates" its key to itself.
    assignments = ", ".join(f"{v} = s.{v}" for v in values or key)
    names = [c.name for c in columns]
    merge = (
        f"MERGE INTO {target} USING {staging} AS s ON {_all_equal(key, 's', target)} "
        f"WHEN MATCHED THEN UPDATE SET {assignments} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('s.' + n for n in names)})"
    )
    return LoadPlan(
        table=table,
        run=run,
        staging=staging,
        columns=columns,
        ddl=(
            *schema_ddl(),
            create_table_sql(table, columns, key),
            *add_columns_sql(table, columns, existing),
        ),
        statements=(audit, *delete_vanished, drop_unchanged, merge),
    )


def plan_dim_client(run: Run, staging: str) -> LoadPlan:
    """SCD type 2, set-based, for the client snapshot of ``run.run_date`` (D).

    Each staged client is compared with its version valid on D. Same attributes: nothing happens (so a
    re-run is a no-op). No version on D (first appearance, or loaded before its first known version): a
    version opens on D and lasts until the client's next version, if any. Different attributes: a version
    that started before D is closed on D and a new one opens on D; a version that started on D itself
    (a re-run with a corrected export) is corrected in place. A client missing from a snapshot keeps its
    current version: a quarantined row also makes a client absent, which is no evidence of a churn.
    """
    target = f"{SCHEMA}.{DIM_CLIENT}"
    day = _date(run.run_date)
    attributes = DIM_CLIENT_ATTRIBUTES
    columns = dim_client_columns()

    def valid_on_day(version: str) -> str:
        return f"{version}.valid_from <= {day} AND ({version}.valid_to IS NULL OR {version}.valid_to > {day})"

    same = _all_same(attributes, staging, "v")
    audit = _audit_sql(
        DIM_CLIENT,
        run,
        staging,
        joined=f"LEFT JOIN {target} v ON v.client_id = {staging}.client_id AND {valid_on_day('v')}",
        inserted=f"v.client_id IS NULL OR (v.valid_from < {day} AND NOT ({same}))",
        updated=f"v.client_id IS NOT NULL AND NOT ({same})",
        deleted="0",
    )
    drop_unchanged = (
        f"DELETE FROM {staging} USING {target} v "
        f"WHERE v.client_id = {staging}.client_id AND {valid_on_day('v')} AND {same}"
    )
    correct_in_place = (
        f"UPDATE {target} SET {', '.join(f'{a} = s.{a}' for a in attributes)} FROM {staging} s "
        f"WHERE {target}.client_id = s.client_id AND {target}.valid_from = {day}"
    )
    drop_corrected = (
        f"DELETE FROM {staging} USING {target} v "
        f"WHERE v.client_id = {staging}.client_id AND v.valid_from = {day}"
    )
    close_changed = (
        f"UPDATE {target} SET valid_to = {day}, is_current = FALSE FROM {staging} s "
        f"WHERE {target}.client_id = s.client_id AND {target}.valid_from < {day} "
        f"AND ({target}.valid_to IS NULL OR {target}.valid_to > {day})"
    )
    names = [c.name for c in columns]
    open_versions = (
        f"INSERT INTO {target} ({', '.join(names)}, valid_from, valid_to, is_current) "
        f"SELECT {', '.join('s.' + n for n in names)}, {day}, n.next_from, "
        f"CASE WHEN n.next_from IS NULL THEN TRUE ELSE FALSE END FROM {staging} s "
        f"LEFT JOIN (SELECT client_id, MIN(valid_from) AS next_from FROM {target} "
        f"WHERE valid_from > {day} GROUP BY client_id) n ON n.client_id = s.client_id"
    )
    return LoadPlan(
        table=DIM_CLIENT,
        run=run,
        staging=staging,
        columns=columns,
        ddl=tuple(schema_ddl()),
        statements=(audit, drop_unchanged, correct_in_place, drop_corrected, close_changed, open_versions),
    )


def _audit_sql(
    table: str, run: Run, staging: str, joined: str, inserted: str, updated: str, deleted: str
) -> str:
    return (
        f"INSERT INTO {SCHEMA}.{LOAD_AUDIT} "
        "(run_id, run_date, table_name, rows_staged, rows_inserted, rows_updated, rows_deleted, loaded_at) "
        f"SELECT {_string(run.run_id)}, {_date(run.run_date)}, {_string(table)}, COUNT(*), "
        f"COALESCE(SUM(CASE WHEN {inserted} THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN {updated} THEN 1 ELSE 0 END), 0), "
        f"{deleted}, {_timestamp(run.loaded_at)} FROM {staging} {joined}"
    )


def _column_list(columns: Iterable[Column]) -> str:
    return ", ".join(f"{c.name} {c.sql_type}" for c in columns)


def _all_equal(names: Iterable[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{n} = {right}.{n}" for n in names)


def _all_same(names: Iterable[str], left: str, right: str) -> str:
    """NULL-safe equality of every column, always TRUE or FALSE (never NULL, so NOT() is safe)."""
    conditions = [
        f"(({left}.{n} = {right}.{n} AND {left}.{n} IS NOT NULL AND {right}.{n} IS NOT NULL) "
        f"OR ({left}.{n} IS NULL AND {right}.{n} IS NULL))"
        for n in names
    ]
    return " AND ".join(conditions) or "TRUE"


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"column name {name!r} is not a plain lower-case SQL identifier")
    return name


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _date(value: dt.date) -> str:
    return f"CAST('{value.isoformat()}' AS DATE)"


def _timestamp(value: dt.datetime) -> str:
    return f"CAST('{utc_naive(value).isoformat(sep=' ')}' AS TIMESTAMP)"


def utc_naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


# --- rows ------------------------------------------------------------------------------------------------


def fact_rows(table: str, curated: DataFrame) -> DataFrame:
    """The run date's curated rows without the partition columns; keys must be present and unique."""
    rows = curated.drop(*PARTITION_COLUMNS)
    _check_keys(table, rows, FACT_KEYS[table])
    return rows


def client_rows(clients: DataFrame) -> DataFrame:
    rows = clients.select(*(c.name for c in dim_client_columns()))
    _check_keys(DIM_CLIENT, rows, ("client_id",))
    return rows


def provider_rows(providers: DataFrame) -> DataFrame:
    rows = providers.select(*(c.name for c in dim_provider_columns()))
    _check_keys(DIM_PROVIDER, rows, DIM_PROVIDER_KEY)
    return rows


def _check_keys(table: str, rows: DataFrame, key: Sequence[str]) -> None:
    """Redshift does not enforce primary keys: a null or repeated key must stop the load here."""
    missing = [k for k in key if k not in rows.columns]
    if missing:
        raise ValueError(f"{table}: key column(s) {', '.join(missing)} missing from the input")
    null_key = F.lit(False)
    for k in key:
        null_key = null_key | F.col(k).isNull()
    # One pass: a group with a null key, or with more than one row, is a problem.
    bad = (
        rows.groupBy(*key)
        .agg(F.count(F.lit(1)).alias("rows"))
        .filter(null_key | (F.col("rows") > 1))
        .limit(5)
        .collect()
    )
    nulls = sum(r["rows"] for r in bad if any(r[k] is None for k in key))
    if nulls:
        raise ValueError(f"{table}: {nulls} row(s) with a null key ({', '.join(key)})")
    if bad:
        examples = "; ".join(str(tuple(r[k] for k in key)) for r in bad)
        raise ValueError(f"{table}: key ({', '.join(key)}) repeated, e.g. {examples}")


# --- the load ----------------------------------------------------------------------------------------------


def load_all(
    writer: Writer,
    run: Run,
    facts: Mapping[str, DataFrame],
    clients: DataFrame,
    providers: DataFrame,
) -> list[LoadResult | None]:
    """Dimensions first, then the facts; each table in its own transaction. A missing schema is a
    SchemaMissing before any table is touched."""
    if not writer.schema_exists():
        raise SchemaMissing(schema_missing_message())
    results = [
        load_dim_client(writer, run, clients),
        load_table(writer, run, DIM_PROVIDER, provider_rows(providers), DIM_PROVIDER_KEY),
    ]
    for table, curated in facts.items():
        results.append(load_table(writer, run, table, fact_rows(table, curated), FACT_KEYS[table]))
    return results


def load_dim_client(writer: Writer, run: Run, clients: DataFrame) -> LoadResult | None:
    return writer.load(plan_dim_client(run, writer.staging_name(DIM_CLIENT)), client_rows(clients))


def load_table(
    writer: Writer, run: Run, table: str, rows: DataFrame, key: Sequence[str]
) -> LoadResult | None:
    """Type 1 load of ``rows`` (already shaped: see ``fact_rows``, ``provider_rows``)."""
    plan = plan_upsert(
        table, columns_of(rows.schema), key, run, writer.staging_name(table), writer.existing_columns(table)
    )
    return writer.load(plan, rows)


def glue_connection_options(plan: LoadPlan, database: str) -> dict[str, str]:
    """``connection_options`` of ``write_dynamic_frame.from_jdbc_conf`` for Redshift.

    The connector COPYs the rows into ``dbtable`` (the staging table) between the two action lists, which
    it splits on ``;`` and which must hold no newline.
    """
    preactions = [
        *plan.ddl,
        f"DROP TABLE IF EXISTS {plan.staging}",
        plan.staging_ddl(temporary=False),
    ]
    postactions = ["BEGIN", *plan.statements, f"DROP TABLE {plan.staging}", "END"]
    split_wrongly = [s for s in preactions + postactions if ";" in s]
    if split_wrongly:
        raise ValueError(
            f"a semicolon inside a statement would split it in the Glue actions: {split_wrongly[0]}"
        )
    return {
        "dbtable": plan.staging,
        "database": database,
        "preactions": ";".join(preactions) + ";",
        "postactions": ";".join(postactions) + ";",
    }
