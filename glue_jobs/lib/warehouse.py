"""The warehouse load of docs/architecture.md (warehouse): schema DDL, staging, the MERGE SQL, dim_client history, load audit.

Pure: it builds SQL strings and DataFrames. The only I/O goes through an explicit writer object
(``glue_jobs/warehouse_writers.py``: psycopg + COPY into a TEMP staging table locally, the Glue JDBC
connection with ``preactions`` / ``postactions`` on Glue).

The SQL is written once for PostgreSQL (>= 15) and Amazon Redshift, so it keeps to what both accept:
Redshift's MERGE has no target alias, no ``WHEN MATCHED AND <condition>`` and no RETURNING, its UPDATE has
no target alias and no outer join in FROM, and Redshift has no ``IS DISTINCT FROM`` and no ``ON CONFLICT``
(tests/glue_jobs/test_warehouse_sql.py walks every statement's syntax tree for these). Hence a fact or
``dim_provider`` load is, in one transaction:

1. one INSERT into ``load_audit`` that counts, before anything changes, the staged rows that will be
   inserted (new key) and updated (known key, some value differs, NULL-safe), and the warehouse rows of
   the run date that the curated partition no longer has (deleted);
2. for a fact with a ``delivery_date``, a DELETE of those vanished rows: a re-run of a corrected date
   leaves the warehouse equal to the curated partition, not a superset of it;
3. a DELETE of the staged rows identical to the warehouse, so that
4. the unconditional MERGE only touches real changes.

``dim_client`` is a type 2 history kept canonical whatever order the days arrive in (``plan_dim_client``).

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
# The days each client was in a loaded clients snapshot, as runs of consecutive days (see plan_dim_client).
DIM_CLIENT_SEEN = "dim_client_seen"
DIM_PROVIDER = "dim_provider"
LOAD_AUDIT = "load_audit"
# What a load did to dim_client's history; 0 for every other table, NULL on rows of loads made before the
# audit had these columns.
HISTORY_COUNTS = ("versions_opened", "versions_closed", "versions_merged")

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
    """A load's ``load_audit`` row. For ``dim_client`` the rows counts are per staged client (inserted: a
    version now starts on the run date; updated: its attributes on the run date changed) and the versions
    counts say what that did to the history; see ``plan_dim_client``."""

    table: str
    rows_staged: int
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    versions_opened: int
    versions_closed: int
    versions_merged: int

    def __str__(self) -> str:
        text = (
            f"{SCHEMA}.{self.table}: staged {self.rows_staged}, inserted {self.rows_inserted}, "
            f"updated {self.rows_updated}, deleted {self.rows_deleted}"
        )
        if self.table == DIM_CLIENT:
            text += (
                f"; versions opened {self.versions_opened}, closed {self.versions_closed}, "
                f"merged {self.versions_merged}"
            )
        return text


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


def dim_client_seen_columns() -> tuple[Column, ...]:
    # seen_to is the run's last day, inclusive: a run of one day has seen_from = seen_to.
    return (dim_client_columns()[0], Column("seen_from", "DATE"), Column("seen_to", "DATE"))


def audit_columns() -> tuple[Column, ...]:
    return (
        Column("run_id", VARCHAR),
        Column("run_date", "DATE"),
        Column("table_name", VARCHAR),
        Column("rows_staged", "BIGINT"),
        Column("rows_inserted", "BIGINT"),
        Column("rows_updated", "BIGINT"),
        Column("rows_deleted", "BIGINT"),
        Column("loaded_at", "TIMESTAMP"),
        *(Column(name, "BIGINT") for name in HISTORY_COUNTS),
    )


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
    """The dimensions, dim_client's seen days and the load audit, inside the existing schema; idempotent.
    Facts are created by their first load, from the curated DataFrame's schema."""
    dim_client = (
        *dim_client_columns(),
        Column("valid_from", "DATE"),
        Column("valid_to", "DATE"),
        Column("is_current", "BOOLEAN"),
    )
    seen = dim_client_seen_columns()
    audit = audit_columns()
    # Nullable, so that a warehouse from before them gets them by ALTER TABLE (audit_ddl) with NULL = unknown.
    audit_required = tuple(c.name for c in audit if c.name not in HISTORY_COUNTS)
    return [
        create_table_sql(DIM_CLIENT, dim_client, ("client_id", "valid_from"), not_null=("is_current",)),
        # No key: a load inserts a merged run before it deletes the runs it replaces (Redshift would not
        # enforce one anyway).
        create_table_sql(DIM_CLIENT_SEEN, seen, (), not_null=tuple(c.name for c in seen)),
        create_table_sql(DIM_PROVIDER, dim_provider_columns(), DIM_PROVIDER_KEY),
        create_table_sql(LOAD_AUDIT, audit, (), not_null=audit_required),
    ]


def audit_ddl(audit_existing: Iterable[str]) -> list[str]:
    """``schema_ddl()`` and the ALTER TABLEs that give an older ``load_audit`` (``audit_existing``: its
    columns; empty when it does not exist yet) the columns it lacks."""
    return [*schema_ddl(), *add_columns_sql(LOAD_AUDIT, audit_columns(), set(audit_existing))]


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
    audit_existing: Iterable[str] = (),
) -> LoadPlan:
    """Type 1 load (facts, dim_provider): audit, delete the run date's vanished rows, drop unchanged staged
    rows, MERGE on the natural key. ``existing`` / ``audit_existing``: the columns the table / ``load_audit``
    have (empty when they do not exist yet)."""
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
            *audit_ddl(audit_existing),
            create_table_sql(table, columns, key),
            *add_columns_sql(table, columns, existing),
        ),
        statements=(audit, *delete_vanished, drop_unchanged, merge),
    )


def plan_dim_client(run: Run, staging: str, audit_existing: Iterable[str] = ()) -> LoadPlan:
    """SCD type 2, set-based, for the client snapshot of ``run.run_date`` (D).

    ``dim_client`` is kept the canonical history of the snapshots loaded so far, whatever order they came
    in: for each client, take the days it was in a loaded snapshot, each with its attributes of the latest
    export of that day; a version starts on each such day whose attributes differ from the previous such
    day's, and lasts until the next version starts (the last one is current). So versions are contiguous,
    exactly one is current, and no two consecutive ones hold the same attributes. A client missing from a
    snapshot keeps its version: a quarantined row also makes a client absent, which is no evidence of churn.

    The versions alone cannot say which days were loaded inside a version, and a late day needs that: with
    days 1 and 3 loaded equal, a late day 2 that differs holds only on day 2, day 3 reopens the old values.
    ``dim_client_seen`` keeps those days, as runs of consecutive days per client. A client with versions but
    no seen days (a warehouse from before the table) gets its versions' first days, all that is known.

    Loading D for a staged client whose version on D holds other attributes (or who has no version on D):
    the version on D is split at D and at the client's next seen day if that falls inside it, the part from
    D takes the staged attributes (a version that started on D is corrected in place), the version after it
    is merged into it if equal, it is merged into the version before it if equal, and the validity of the
    client's versions is re-linked. A client whose version on D already holds its attributes changes
    nothing; a re-run changes nothing.

    The audit counts per staged client, before anything changes: rows inserted (a version now starts on D
    that did not, or the client is new), rows updated (its attributes on D changed), and for the history:
    versions opened (new ``valid_from``), closed (a version that stays but now ends earlier) and merged (a
    version removed because it now equals the one before it).
    """
    target = f"{SCHEMA}.{DIM_CLIENT}"
    seen = f"{SCHEMA}.{DIM_CLIENT_SEEN}"
    day = _date(run.run_date)
    day_before = _date(run.run_date - dt.timedelta(days=1))
    day_after = _date(run.run_date + dt.timedelta(days=1))
    attributes = DIM_CLIENT_ATTRIBUTES
    names = [c.name for c in dim_client_columns()]
    period = ("valid_from", "valid_to", "is_current")

    def valid_on_day(version: str) -> str:
        return f"{version}.valid_from <= {day} AND ({version}.valid_to IS NULL OR {version}.valid_to > {day})"

    # Per client: the first day after D it was seen on (D + 1 inside a run, else the next run's first day),
    # and the first version after D.
    next_seen = (
        f"(SELECT client_id, MIN(CASE WHEN seen_from > {day} THEN seen_from ELSE {day_after} END) AS next_seen "
        f"FROM {seen} WHERE seen_to > {day} GROUP BY client_id)"
    )
    next_version = (
        f"(SELECT client_id, MIN(valid_from) AS next_from FROM {target} "
        f"WHERE valid_from > {day} GROUP BY client_id)"
    )

    seed_seen = (
        f"INSERT INTO {seen} (client_id, seen_from, seen_to) "
        f"SELECT v.client_id, v.valid_from, v.valid_from FROM {target} v "
        f"JOIN {staging} s ON s.client_id = v.client_id "
        f"WHERE NOT EXISTS (SELECT 1 FROM {seen} e WHERE e.client_id = v.client_id)"
    )

    # The audit's facts, each a 0/1 per staged client s, from v its version on D, p the version ending on D
    # (the one before a version that starts on D), r the first version after D, n its next seen day.
    facts = {
        "known": "v.client_id IS NOT NULL",
        "unchanged": f"v.client_id IS NOT NULL AND {_all_same(attributes, 's', 'v')}",
        "started_before": f"v.valid_from < {day}",
        "seen_inside": "n.next_seen IS NOT NULL AND (r.client_id IS NULL OR n.next_seen < r.valid_from)",
        "next_same": f"r.client_id IS NOT NULL AND {_all_same(attributes, 's', 'r')}",
        "previous_same": f"p.client_id IS NOT NULL AND {_all_same(attributes, 's', 'p')}",
    }
    per_client = (
        f"(SELECT {', '.join(f'CASE WHEN {c} THEN 1 ELSE 0 END AS {name}' for name, c in facts.items())} "
        f"FROM {staging} s "
        f"LEFT JOIN {target} v ON v.client_id = s.client_id AND {valid_on_day('v')} "
        f"LEFT JOIN {target} p ON p.client_id = s.client_id AND p.valid_to = {day} "
        f"LEFT JOIN {next_version} nv ON nv.client_id = s.client_id "
        f"LEFT JOIN {target} r ON r.client_id = s.client_id AND r.valid_from = nv.next_from "
        f"LEFT JOIN {next_seen} n ON n.client_id = s.client_id) f"
    )
    known_changed = "f.known = 1 AND f.unchanged = 0"
    split = f"{known_changed} AND f.seen_inside = 1"
    opens_on_day = "f.unchanged = 0 AND (f.known = 0 OR f.started_before = 1)"
    merges_next = f"f.unchanged = 0 AND NOT ({split}) AND f.next_same = 1"
    # A version on D that is not a split one started on D.
    merges_into_previous = f"{known_changed} AND f.started_before = 0 AND f.previous_same = 1"
    audit = _audit_sql(
        DIM_CLIENT,
        run,
        per_client,
        joined="",
        inserted=opens_on_day,
        updated=known_changed,
        deleted="0",
        history=(
            f"{_count(split)} + {_count(opens_on_day)}",
            # The version on D ends earlier when D splits it, or when its part after the next seen day
            # splits off and it is not merged away.
            _count(
                f"{known_changed} AND (f.started_before = 1 "
                f"OR (f.seen_inside = 1 AND NOT ({merges_into_previous})))"
            ),
            f"{_count(merges_next)} + {_count(merges_into_previous)}",
        ),
    )

    # D joins the run ending the day before and the one starting the day after, if any, as one new run ...
    record_seen = (
        f"INSERT INTO {seen} (client_id, seen_from, seen_to) "
        f"SELECT s.client_id, COALESCE(l.seen_from, {day}), COALESCE(r.seen_to, {day}) FROM {staging} s "
        f"LEFT JOIN {seen} l ON l.client_id = s.client_id AND l.seen_to = {day_before} "
        f"LEFT JOIN {seen} r ON r.client_id = s.client_id AND r.seen_from = {day_after} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {seen} c WHERE c.client_id = s.client_id "
        f"AND c.seen_from <= {day} AND c.seen_to >= {day})"
    )
    # ... which replaces them: they are the runs next to D that a run through D now contains.
    drop_joined_runs = (
        f"DELETE FROM {seen} USING {staging} WHERE {seen}.client_id = {staging}.client_id "
        f"AND ({seen}.seen_to = {day_before} OR {seen}.seen_from = {day_after}) "
        f"AND EXISTS (SELECT 1 FROM {seen} w WHERE w.client_id = {seen}.client_id "
        f"AND w.seen_from <= {seen}.seen_from AND w.seen_to >= {seen}.seen_to "
        f"AND w.seen_from <= {day} AND w.seen_to >= {day})"
    )
    drop_unchanged = (
        f"DELETE FROM {staging} USING {target} v "
        f"WHERE v.client_id = {staging}.client_id AND {valid_on_day('v')} AND {_all_same(attributes, staging, 'v')}"
    )
    # The days after D that the version on D covers keep its attributes, from the next seen one on.
    split_at_next_seen = (
        f"INSERT INTO {target} ({', '.join(names)}, {', '.join(period)}) "
        f"SELECT {', '.join('v.' + n for n in names)}, n.next_seen, v.valid_to, v.is_current FROM {staging} s "
        f"JOIN {target} v ON v.client_id = s.client_id AND {valid_on_day('v')} "
        f"JOIN {next_seen} n ON n.client_id = s.client_id "
        f"WHERE v.valid_to IS NULL OR v.valid_to > n.next_seen"
    )
    correct_in_place = (
        f"UPDATE {target} SET {', '.join(f'{a} = s.{a}' for a in attributes)} FROM {staging} s "
        f"WHERE {target}.client_id = s.client_id AND {target}.valid_from = {day}"
    )
    open_on_day = (
        f"INSERT INTO {target} ({', '.join(names)}, {', '.join(period)}) "
        f"SELECT {', '.join('s.' + n for n in names)}, {day}, nv.next_from, "
        f"CASE WHEN nv.next_from IS NULL THEN TRUE ELSE FALSE END FROM {staging} s "
        f"LEFT JOIN {next_version} nv ON nv.client_id = s.client_id "
        f"WHERE NOT EXISTS (SELECT 1 FROM {target} w WHERE w.client_id = s.client_id AND w.valid_from = {day})"
    )
    merge_next = (
        f"DELETE FROM {target} USING {staging} WHERE {target}.client_id = {staging}.client_id "
        f"AND {target}.valid_from > {day} AND {_all_same(attributes, target, staging)} "
        f"AND NOT EXISTS (SELECT 1 FROM {target} w WHERE w.client_id = {target}.client_id "
        f"AND w.valid_from > {day} AND w.valid_from < {target}.valid_from)"
    )
    merge_into_previous = (
        f"DELETE FROM {target} USING {staging} WHERE {target}.client_id = {staging}.client_id "
        f"AND {target}.valid_from = {day} "
        f"AND EXISTS (SELECT 1 FROM {target} p WHERE p.client_id = {target}.client_id AND p.valid_from < {day} "
        f"AND (p.valid_to IS NULL OR p.valid_to >= {day}) AND {_all_same(attributes, 'p', staging)})"
    )
    # The steps above only add, remove or re-attribute versions; each one's end is the next one's start.
    relink = (
        f"UPDATE {target} SET valid_to = h.next_from, "
        f"is_current = CASE WHEN h.next_from IS NULL THEN TRUE ELSE FALSE END "
        f"FROM (SELECT a.client_id, a.valid_from, "
        f"LEAD(a.valid_from) OVER (PARTITION BY a.client_id ORDER BY a.valid_from) AS next_from "
        f"FROM {target} a WHERE a.client_id IN (SELECT client_id FROM {staging})) h "
        f"WHERE {target}.client_id = h.client_id AND {target}.valid_from = h.valid_from "
        f"AND NOT ({_same(target + '.valid_to', 'h.next_from')})"
    )
    return LoadPlan(
        table=DIM_CLIENT,
        run=run,
        staging=staging,
        columns=dim_client_columns(),
        ddl=tuple(audit_ddl(audit_existing)),
        statements=(
            seed_seen,
            audit,
            record_seen,
            drop_joined_runs,
            drop_unchanged,
            split_at_next_seen,
            correct_in_place,
            open_on_day,
            merge_next,
            merge_into_previous,
            relink,
        ),
    )


def _audit_sql(
    table: str,
    run: Run,
    staging: str,
    joined: str,
    inserted: str,
    updated: str,
    deleted: str,
    history: tuple[str, str, str] = ("0", "0", "0"),
) -> str:
    columns = ", ".join(c.name for c in audit_columns())
    opened, closed, merged = history
    return (
        f"INSERT INTO {SCHEMA}.{LOAD_AUDIT} ({columns}) "
        f"SELECT {_string(run.run_id)}, {_date(run.run_date)}, {_string(table)}, COUNT(*), "
        f"{_count(inserted)}, {_count(updated)}, {deleted}, {_timestamp(run.loaded_at)}, "
        f"{opened}, {closed}, {merged} FROM {staging}{' ' + joined if joined else ''}"
    )


def _count(condition: str) -> str:
    return f"COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"


def _column_list(columns: Iterable[Column]) -> str:
    return ", ".join(f"{c.name} {c.sql_type}" for c in columns)


def _all_equal(names: Iterable[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{n} = {right}.{n}" for n in names)


def _all_same(names: Iterable[str], left: str, right: str) -> str:
    """NULL-safe equality of every column, always TRUE or FALSE (never NULL, so NOT() is safe)."""
    return " AND ".join(_same(f"{left}.{n}", f"{right}.{n}") for n in names) or "TRUE"


def _same(left: str, right: str) -> str:
    """NULL-safe equality of two expressions (Redshift has no IS NOT DISTINCT FROM)."""
    return (
        f"(({left} = {right} AND {left} IS NOT NULL AND {right} IS NOT NULL) "
        f"OR ({left} IS NULL AND {right} IS NULL))"
    )


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
    results = [load_dim_client(writer, run, clients, writer.existing_columns(LOAD_AUDIT))]
    # That first load gave load_audit any column it lacked.
    audit_existing = {c.name for c in audit_columns()}
    results.append(
        load_table(writer, run, DIM_PROVIDER, provider_rows(providers), DIM_PROVIDER_KEY, audit_existing)
    )
    for table, curated in facts.items():
        rows = fact_rows(table, curated)
        results.append(load_table(writer, run, table, rows, FACT_KEYS[table], audit_existing))
    return results


def load_dim_client(
    writer: Writer, run: Run, clients: DataFrame, audit_existing: Iterable[str] | None = None
) -> LoadResult | None:
    """``audit_existing``: the columns ``load_audit`` has, asked of the writer when None."""
    if audit_existing is None:
        audit_existing = writer.existing_columns(LOAD_AUDIT)
    plan = plan_dim_client(run, writer.staging_name(DIM_CLIENT), audit_existing)
    return writer.load(plan, client_rows(clients))


def load_table(
    writer: Writer,
    run: Run,
    table: str,
    rows: DataFrame,
    key: Sequence[str],
    audit_existing: Iterable[str] | None = None,
) -> LoadResult | None:
    """Type 1 load of ``rows`` (already shaped: see ``fact_rows``, ``provider_rows``). ``audit_existing``:
    the columns ``load_audit`` has, asked of the writer when None."""
    if audit_existing is None:
        audit_existing = writer.existing_columns(LOAD_AUDIT)
    plan = plan_upsert(
        table,
        columns_of(rows.schema),
        key,
        run,
        writer.staging_name(table),
        writer.existing_columns(table),
        audit_existing,
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
