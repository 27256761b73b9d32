"""Athena on the local target: one Athena (Trino) SQL statement run by DuckDB over the local catalog.

- The SQL is Athena's dialect, translated to DuckDB with sqlglot, so the same text runs on both targets.
- Tables resolve through the catalog (``db.table`` → a DuckDB view over the table's registered partitions:
  Parquet, or CSV read with the export contract's options), so, as on Athena, data nobody crawled is not
  visible; filters on ``year/month/day`` prune partitions.
- The Lake Formation grants of the workgroup (``templates.load().grants``, principal = workgroup name) are
  enforced: a table not granted is an error naming the table, an explicitly referenced excluded column an
  error naming the column, and ``SELECT *`` expands to the granted columns only (Lake Formation column
  filtering). The principal ``etl`` (the ETL role) reads everything, with no scan limit.
- DuckDB itself is sandboxed per query: it may read only the folders of the tables the query was granted,
  its configuration is locked, and table functions that read files are refused.
- Data scanned is what DuckDB's scans read (its profiler's ``total_bytes_scanned``: the column chunks of the
  row groups read, the CSV bytes parsed), so partition and column pruning show in it; a query that scans
  more than the workgroup's ``bytes_scanned_cutoff`` fails as on Athena (checked once the scan is done).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from energy_datalake import config, templates
from energy_datalake.emulator.glue_catalog import Catalog, EntityNotFoundException
from energy_datalake.formatting import format_bytes, format_table

ETL = "etl"

# Athena's default catalog name, accepted in three-part names.
DATA_CATALOG = "awsdatacatalog"

# DuckDB functions that touch files or the environment: never callable from user SQL.
_FORBIDDEN_FUNCTIONS = (
    "read_",
    "glob",
    "sniff_csv",
    "parquet_",
    "getenv",
    "query",
    "query_table",
    "iceberg_",
)

_CSV_OPTIONS = (
    "header=true, delim=',', quote='\"', escape='\"', auto_detect=false, "
    # A short row still counts as a row (null-padded) and a long one is not an error: the raw zone is the
    # exports as they arrived, and the job quarantines such rows; quoted newlines need the serial reader.
    "null_padding=true, strict_mode=false, parallel=false, "
    "hive_partitioning=true, hive_types_autocast=false"
)


class QueryError(ValueError):
    """The statement is not valid, not allowed (not a query), or failed in the engine."""


class AccessDenied(PermissionError):
    """Lake Formation said no: names the table or column."""


class BytesScannedCutoffExceeded(RuntimeError):
    """The query scanned more than the workgroup allows per query."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    bytes_scanned: int
    elapsed_seconds: float
    # The DuckDB statement that ran (translated from Athena SQL).
    executed_sql: str = ""
    tables: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _TableAccess:
    database: str
    name: str
    table: dict
    granted: tuple[str, ...]
    excluded: frozenset[str]
    folders: tuple[Path, ...]


class QueryEngine:
    """Run Athena SQL as the principal of ``workgroup`` (``"etl"``: the privileged ETL role)."""

    def __init__(
        self, workgroup: str, env: str | None = None, *, environment=None, catalog: Catalog | None = None
    ):
        self.workgroup = workgroup
        self.catalog = catalog or Catalog()
        if workgroup == ETL:
            self.bytes_scanned_cutoff = None
            self.grants = None
            return
        environment = environment or templates.load(env)
        if workgroup not in environment.workgroups:
            known = ", ".join(sorted(environment.workgroups))
            raise QueryError(f"unknown workgroup {workgroup!r} (known: {known}, or {ETL!r})")
        self.bytes_scanned_cutoff = environment.workgroups[workgroup].bytes_scanned_cutoff
        self.grants = [g for g in environment.grants if g.principal == workgroup]

    def execute(self, sql: str) -> QueryResult:
        import duckdb

        statement = _parse_one(sql)
        accesses = self._resolve_tables(statement)
        self._check_columns(statement, accesses)
        executed_sql = _with_athena_semantics(statement).sql(dialect="duckdb")
        started = time.perf_counter()
        with duckdb.connect(config={"threads": 2}) as con:
            try:
                _sandbox(con, accesses.values())
                cursor = con.execute(executed_sql)
                rows = cursor.fetchall()
            except duckdb.Error as e:
                raise QueryError(f"query failed: {e}") from e
            columns = [d[0] for d in cursor.description]
            bytes_scanned = _bytes_read(con)
        elapsed = time.perf_counter() - started
        if self.bytes_scanned_cutoff is not None and bytes_scanned > self.bytes_scanned_cutoff:
            raise BytesScannedCutoffExceeded(
                f"Query cancelled: bytes scanned limit was exceeded: the query scanned "
                f"{format_bytes(bytes_scanned)} ({bytes_scanned} bytes), workgroup {self.workgroup!r} allows "
                f"{format_bytes(self.bytes_scanned_cutoff)} ({self.bytes_scanned_cutoff} bytes) per query"
            )
        return QueryResult(
            columns=columns,
            rows=rows,
            bytes_scanned=bytes_scanned,
            elapsed_seconds=elapsed,
            executed_sql=executed_sql,
            tables=sorted(accesses),
        )

    # Grants

    def _resolve_tables(self, statement) -> dict[str, _TableAccess]:
        """Check every table reference against the grants; rewrite it to the DuckDB view's name."""
        from sqlglot import exp

        ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        # {qualified name: (database, table, the partition filters of each reference)}
        references: dict[str, tuple[str, str, list[dict[str, set[str]]]]] = {}
        for ref in statement.find_all(exp.Table):
            if not isinstance(ref.this, exp.Identifier):
                raise AccessDenied(f"table functions are not allowed: {ref.this.sql(dialect='athena')}")
            if not ref.db and ref.name in ctes:
                continue
            if ref.catalog and ref.catalog.lower() != DATA_CATALOG:
                raise AccessDenied(f"unknown catalog {ref.catalog!r} in {ref.sql(dialect='athena')}")
            if not ref.db:
                raise QueryError(
                    f"table {ref.name!r} must be qualified with its database (e.g. curated.{ref.name})"
                )
            database, name = ref.db.lower(), ref.name.lower()
            references.setdefault(f"{database}.{name}", (database, name, []))[2].append(
                _partition_filters(ref)
            )
            ref.set("catalog", None)
        for func in statement.find_all(exp.Func):
            fname = func.sql_name().lower() if not isinstance(func, exp.Anonymous) else str(func.this).lower()
            if fname.startswith(_FORBIDDEN_FUNCTIONS):
                raise AccessDenied(f"function {fname} is not allowed")
        return {
            qualified: self._access(database, name, filters)
            for qualified, (database, name, filters) in references.items()
        }

    def _access(self, database: str, name: str, filters: list[dict[str, set[str]]]) -> _TableAccess:
        qualified = f"{database}.{name}"
        grants = None if self.grants is None else [g for g in self.grants if _grant_covers(g, database, name)]
        if grants is not None and not grants:
            raise AccessDenied(
                f"Access denied: workgroup {self.workgroup!r} has no SELECT permission on table {qualified}"
            )
        try:
            table = self.catalog.get_table(database, name)
        except EntityNotFoundException as e:
            raise QueryError(f"Table {qualified} does not exist in the catalog") from e
        columns = [c["Name"] for c in _columns(table)]
        if grants is None:
            granted = columns
        else:
            # Lake Formation grants add up: a column is visible if any grant on the table includes it.
            granted = [c for c in columns if any(_grant_includes(g, c) for g in grants)]
        excluded = frozenset(columns) - set(granted)
        folders = _folders(self.catalog, table, filters)
        return _TableAccess(database, name, table, tuple(granted), excluded, folders)

    def _check_columns(self, statement, accesses: dict[str, _TableAccess]) -> None:
        """Name the excluded column a query asks for. The views expose granted columns only, so this is
        for a clear message; a name the query itself defines (an alias) is not a table's column."""
        from sqlglot import exp

        by_alias: dict[str, _TableAccess] = {}
        for ref in statement.find_all(exp.Table):
            access = accesses.get(f"{ref.db.lower()}.{ref.name.lower()}") if ref.db else None
            if access is not None:
                by_alias[ref.alias_or_name.lower()] = access
        defined = {a.alias.lower() for a in statement.find_all(exp.Alias)}
        for column in statement.find_all(exp.Column):
            name = column.name.lower()
            if not column.table and name in defined:
                continue
            candidates = (
                [by_alias[column.table.lower()]] if column.table.lower() in by_alias else by_alias.values()
            )
            for access in candidates:
                if name in access.excluded:
                    raise AccessDenied(
                        f"Access denied: workgroup {self.workgroup!r} may not read column {name} "
                        f"of table {access.database}.{access.name}"
                    )


def _grant_includes(grant, column: str) -> bool:
    listed = getattr(grant, "columns", None)
    return column not in grant.excluded_columns and (listed is None or column in listed)


def _grant_covers(grant, database: str, name: str) -> bool:
    permissions = {p.upper() for p in grant.permissions}
    return (
        grant.database == database and grant.table in (None, name) and bool(permissions & {"SELECT", "ALL"})
    )


def _parse_one(sql: str):
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as e:
        raise QueryError(f"syntax error: {e}") from e
    if len(statements) != 1:
        raise QueryError(f"expected exactly one SQL statement, got {len(statements)}")
    (statement,) = statements
    if not isinstance(statement, exp.Query):
        raise QueryError("only queries (SELECT / WITH ... SELECT) run on the local Athena engine")
    return statement


def _with_athena_semantics(statement):
    """Rewrite what sqlglot translates literally but DuckDB evaluates differently from Trino."""
    from sqlglot import exp

    def rewrite(node):
        # Trino's count_if over no rows is 0; DuckDB's is NULL. COUNT(CASE ...) is 0 on both.
        if isinstance(node, exp.CountIf):
            return exp.Count(this=exp.Case(ifs=[exp.If(this=node.this, true=exp.Literal.number(1))]))
        return node

    statement = statement.transform(rewrite)
    if isinstance(statement, exp.Select):
        # Athena names an unnamed result column _col<position>.
        statement.set(
            "expressions",
            [
                e if isinstance(e, exp.Alias | exp.Column | exp.Star) else exp.alias_(e, f"_col{i}")
                for i, e in enumerate(statement.expressions)
            ],
        )
    return statement


# DuckDB views over the catalog


def _sandbox(con, accesses) -> None:
    """Views for the granted tables; then DuckDB may read nothing but their folders, and can't be unlocked."""
    accesses = list(accesses)
    con.execute("SET TimeZone = 'UTC'")
    folders = sorted({str(p) + "/" for a in accesses for p in a.folders})
    con.execute("SET allowed_directories = ?", [folders])
    for access in accesses:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{access.database}"')
        con.execute(f'CREATE VIEW "{access.database}"."{access.name}" AS {_view_sql(con, access)}')
    con.execute("SET enable_external_access = false")
    con.execute("PRAGMA enable_profiling = 'no_output'")
    con.execute("SET lock_configuration = true")


def _folders(catalog: Catalog, table: dict, filters: list[dict[str, set[str]]]) -> tuple[Path, ...]:
    """Local folders holding the table's registered data (its location, or the partitions the query's
    references may read: Athena's partition pruning, from the catalog, so a daily query lists, describes and
    reads its own day and not the table's history)."""
    if not table.get("PartitionKeys"):
        return (config.local_path(table["StorageDescriptor"]["Location"]),)
    keys = [k["Name"] for k in table["PartitionKeys"]]
    locations: set[str] = set()
    for wanted in filters:
        # A key filtered by equality (or IN) with literals; a reference without one reads every partition.
        expression = " AND ".join(
            f"{key} IN ({', '.join(_quote(v) for v in sorted(wanted[key]))})" for key in keys if key in wanted
        )
        partitions = catalog.get_partitions(table["DatabaseName"], table["Name"], expression or None)
        locations.update(p["StorageDescriptor"]["Location"] for p in partitions)
    return tuple(config.local_path(location) for location in sorted(locations))


def _partition_filters(ref) -> dict[str, set[str]]:
    """The values a table reference's own SELECT allows for each column compared with string literals in
    the top-level AND of its WHERE (``year = '2026' AND day IN ('28', '29')``): what pruning may rely on.
    Columns qualified with another table's alias are not this reference's; unqualified ones are, when the
    SELECT reads this table alone. A WHERE that is not such a conjunction prunes nothing."""
    from sqlglot import exp

    select = ref.find_ancestor(exp.Select)
    where = select.args.get("where") if select is not None else None
    if where is None:
        return {}
    sources = [t for t in select.find_all(exp.Table) if t.find_ancestor(exp.Select) is select]
    alias = ref.alias_or_name.lower()
    allowed: dict[str, set[str]] = {}
    for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if isinstance(conjunct, exp.EQ):
            column, values = conjunct.this, [conjunct.expression]
            if not isinstance(column, exp.Column):
                column, values = conjunct.expression, [conjunct.this]
        elif isinstance(conjunct, exp.In) and not conjunct.args.get("query"):
            column, values = conjunct.this, conjunct.expressions
        else:
            continue
        if not isinstance(column, exp.Column) or not all(
            isinstance(v, exp.Literal) and v.is_string for v in values
        ):
            continue
        mine = column.table.lower() == alias if column.table else len(sources) == 1
        if mine:
            found = {v.this for v in values}
            name = column.name.lower()
            allowed[name] = allowed[name] & found if name in allowed else found
    return allowed


def _view_sql(con, access: _TableAccess) -> str:
    table = access.table
    types = {c["Name"]: c["Type"] for c in _columns(table)}
    classification = table.get("Parameters", {}).get("classification", "parquet")
    extension = "csv" if classification == "csv" else "parquet"
    folders = [f for f in access.folders if f.is_dir() and any(f.glob(f"*.{extension}"))]
    if not folders:
        # No registered data: an empty relation with the table's columns, as Athena returns.
        columns = ", ".join(f'CAST(NULL AS {duckdb_type(types[c])}) AS "{c}"' for c in access.granted)
        return f"SELECT {columns} WHERE false"
    paths = "[" + ", ".join(_quote(f"{f}/*.{extension}") for f in folders) + "]"
    if classification == "csv":
        data_columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
        spec = "{" + ", ".join(f"{_quote(c)}: 'VARCHAR'" for c in data_columns) + "}"
        source = f"read_csv({paths}, columns={spec}, {_CSV_OPTIONS})"
        partition_keys = {k["Name"] for k in table.get("PartitionKeys", [])}
        select = ", ".join(
            f'"{c}"'
            if c in partition_keys
            else f'TRY_CAST("{c}" AS {duckdb_type(types[c], csv=True)}) AS "{c}"'
            for c in access.granted
        )
        return f"SELECT {select} FROM {source}"
    hive = "true" if table.get("PartitionKeys") else "false"
    source = f"read_parquet({paths}, hive_partitioning={hive}, hive_types_autocast=false, union_by_name=true)"
    # Parquet columns resolve by name; a catalog column no file has reads as NULL, as on Athena.
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    select = ", ".join(
        f'"{c}"' if c in present else f'CAST(NULL AS {duckdb_type(types[c])}) AS "{c}"'
        for c in access.granted
    )
    return f"SELECT {select} FROM {source}"


def duckdb_type(glue_type: str, csv: bool = False) -> str:
    """The DuckDB type of a Glue/Hive type name."""
    t = glue_type.lower()
    if t.startswith("decimal"):
        return t.upper()
    if t == "timestamp":
        # CSV exports carry their UTC offset; Parquet timestamps are UTC instants already.
        return "TIMESTAMPTZ" if csv else "TIMESTAMP"
    simple = {
        "string": "VARCHAR",
        "bigint": "BIGINT",
        "int": "INTEGER",
        "smallint": "SMALLINT",
        "tinyint": "TINYINT",
        "double": "DOUBLE",
        "float": "FLOAT",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "binary": "BLOB",
    }
    return simple.get(t, "VARCHAR")


def _columns(table: dict) -> list[dict]:
    return table["StorageDescriptor"]["Columns"] + table.get("PartitionKeys", [])


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _bytes_read(con) -> int:
    # The scans' bytes (column chunks of the row groups read, CSV bytes parsed), like Athena's data scanned;
    # the I/O total would also count the footers DuckDB reads at bind time from files that pruning skips.
    # A query answered from the Parquet footers alone (count(*)) runs no scan and leaves no profile.
    profile = json.loads(con.get_profiling_information(format="json"))
    return int(profile.get("query", {}).get("total_bytes_scanned", 0))


# The `datalake query` command


def main(args) -> int:
    """``datalake query --workgroup W "SQL"``: the result, then ``Data scanned: 1.23 MB``."""
    try:
        result = QueryEngine(args.workgroup).execute(args.sql)
    except AccessDenied as e:
        print(str(e), file=sys.stderr)
        return 1
    except (QueryError, BytesScannedCutoffExceeded) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_table(result.columns, result.rows))
    print(f"({len(result.rows)} rows in {result.elapsed_seconds:.2f} s)")
    print(f"Data scanned: {format_bytes(result.bytes_scanned)}")
    return 0
