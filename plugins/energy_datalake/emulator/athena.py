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
- The metadata statements run on the catalog, within the same grants: ``SHOW DATABASES``, ``SHOW TABLES
  [IN db] ['pattern']``, ``SHOW COLUMNS IN db.t``, ``DESCRIBE db.t``, ``SHOW PARTITIONS db.t``, and
  ``information_schema.schemata/tables/columns`` in any query: a table is listed if the workgroup may SELECT
  from it, with the columns it may read.
- A syntax error names its line and column (QuerySyntaxError), without sqlglot's terminal highlighting.
- Data scanned is what DuckDB's scans read (its profiler's ``total_bytes_scanned``: the column chunks of the
  row groups read, the CSV bytes parsed), so partition and column pruning show in it; a query that scans
  more than the workgroup's ``bytes_scanned_cutoff`` fails as on Athena (checked once the scan is done).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from energy_datalake import config, templates
from energy_datalake.emulator.glue_catalog import Catalog, EntityNotFoundException
from energy_datalake.formatting import format_bytes, print_result, syntax_error

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


# information_schema's tables as Athena shows them (its columns, in its order); DuckDB holds them in a schema
# of another name, so that its own information_schema is never the one a query reads.
_INFORMATION_SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "schemata": (("catalog_name", "VARCHAR"), ("schema_name", "VARCHAR")),
    "tables": (
        ("table_catalog", "VARCHAR"),
        ("table_schema", "VARCHAR"),
        ("table_name", "VARCHAR"),
        ("table_type", "VARCHAR"),
    ),
    "columns": (
        ("table_catalog", "VARCHAR"),
        ("table_schema", "VARCHAR"),
        ("table_name", "VARCHAR"),
        ("column_name", "VARCHAR"),
        ("ordinal_position", "BIGINT"),
        ("column_default", "VARCHAR"),
        ("is_nullable", "VARCHAR"),
        ("data_type", "VARCHAR"),
        ("comment", "VARCHAR"),
        ("extra_info", "VARCHAR"),
    ),
}
_INFORMATION_SCHEMA_IN_DUCKDB = "athena_information_schema"


class QueryError(ValueError):
    """The statement is not valid, not allowed (not a query), or failed in the engine."""


class QuerySyntaxError(QueryError):
    """The statement does not parse: where (1-based line and column) and what the parser expected."""

    def __init__(self, sql: str, offset: int, description: str):
        self.sql = sql
        self.line = sql.count("\n", 0, offset) + 1
        self.column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
        self.description = description
        super().__init__(f"syntax error at line {self.line}, column {self.column}: {description}")


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

        started = time.perf_counter()
        metadata = _metadata_statement(sql)
        if metadata is not None:
            columns, rows, tables = self._metadata(metadata)
            return QueryResult(columns, rows, 0, time.perf_counter() - started, tables=tables)
        statement = _parse_one(sql)
        information = _information_schema_references(statement)
        accesses = self._resolve_tables(statement, skip=information)
        self._check_columns(statement, accesses)
        executed_sql = _with_athena_semantics(statement).sql(dialect="duckdb")
        started = time.perf_counter()
        with duckdb.connect(config={"threads": 2}) as con:
            try:
                _sandbox(
                    con,
                    accesses.values(),
                    {name: self._information_schema(name) for name in sorted(set(information.values()))},
                )
                cursor = con.execute(executed_sql)
                rows = cursor.fetchall()
            except duckdb.Error as e:
                raise QueryError(f"query failed: {_one_line(e)}") from e
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

    def _resolve_tables(self, statement, skip: dict[int, str] | None = None) -> dict[str, _TableAccess]:
        """Check every table reference against the grants; rewrite it to the DuckDB view's name. The
        references in ``skip`` (ids of the nodes) are information_schema's, already rewritten."""
        from sqlglot import exp

        skip = skip or {}
        ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        # {qualified name: (database, table, the partition filters of each reference)}
        references: dict[str, tuple[str, str, list[dict[str, set[str]]]]] = {}
        for ref in statement.find_all(exp.Table):
            if id(ref) in skip:
                continue
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
        table, readable = self._readable_table(database, name)
        granted = [c["Name"] for c in readable]
        excluded = frozenset(c["Name"] for c in _columns(table)) - set(granted)
        folders = _folders(self.catalog, table, filters)
        return _TableAccess(database, name, table, tuple(granted), excluded, folders)

    def _readable_table(self, database: str, name: str) -> tuple[dict, list[dict]]:
        """The catalog's table and the columns the workgroup may read of it (partition keys last); an
        AccessDenied naming the table if it may read none, a QueryError if the table does not exist."""
        qualified = f"{database}.{name}"
        grants = self._grants_on(database, name)
        if grants is not None and not grants:
            raise AccessDenied(
                f"Access denied: workgroup {self.workgroup!r} has no SELECT permission on table {qualified}"
            )
        try:
            table = self.catalog.get_table(database, name)
        except EntityNotFoundException as e:
            raise QueryError(f"Table {qualified} does not exist in the catalog") from e
        return table, _readable_columns(table, grants)

    def _grants_on(self, database: str, name: str) -> list | None:
        """The grants that let the workgroup SELECT from the table (None: the ETL role, which reads all)."""
        return None if self.grants is None else [g for g in self.grants if _grant_covers(g, database, name)]

    # The catalog as the workgroup sees it: SHOW, DESCRIBE, information_schema

    def _databases(self) -> list[str]:
        """The databases the workgroup holds a SELECT grant in."""
        names = sorted(d["Name"] for d in self.catalog.get_databases())
        if self.grants is None:
            return names
        return [n for n in names if any(g.database == n and _selects(g) for g in self.grants)]

    def _visible_tables(self, databases: list[str]) -> list[tuple[dict, list[dict]]]:
        """Every table of ``databases`` the workgroup may read, with the columns it may read, by name."""
        visible = []
        for database in databases:
            for table in self.catalog.get_tables(database):
                grants = self._grants_on(database, table["Name"])
                columns = _readable_columns(table, grants) if grants is None or grants else []
                if columns:
                    visible.append((table, columns))
        return sorted(visible, key=lambda v: (v[0]["DatabaseName"], v[0]["Name"]))

    def _database(self, database: str) -> str:
        """A database named by SHOW TABLES IN: it must exist and hold a grant of the workgroup."""
        try:
            self.catalog.get_database(database)
        except EntityNotFoundException as e:
            raise QueryError(f"Database {database} does not exist in the catalog") from e
        if database not in self._databases():
            raise AccessDenied(
                f"Access denied: workgroup {self.workgroup!r} has no SELECT permission on any table of "
                f"database {database}"
            )
        return database

    def _metadata(self, statement: _Metadata) -> tuple[list[str], list[tuple], list[str]]:
        """The result of a SHOW or DESCRIBE statement, in Athena's column names."""
        matches = _name_pattern(statement.pattern)
        if statement.kind == "databases":
            return ["database_name"], [(n,) for n in self._databases() if matches(n)], []
        if statement.kind == "tables":
            qualify = statement.database is None
            databases = self._databases() if qualify else [self._database(statement.database)]
            rows = [
                (f"{t['DatabaseName']}.{t['Name']}" if qualify else t["Name"],)
                for t, _ in self._visible_tables(databases)
                if matches(t["Name"])
            ]
            return ["tab_name"], rows, []
        if statement.database is None:
            raise QueryError(
                f"table {statement.table!r} must be qualified with its database (e.g. curated.{statement.table})"
            )
        qualified = f"{statement.database}.{statement.table}"
        table, columns = self._readable_table(statement.database, statement.table)
        if statement.kind == "columns":
            return ["field"], [(c["Name"],) for c in columns], [qualified]
        keys = {k["Name"] for k in table.get("PartitionKeys", [])}
        if statement.kind == "describe":
            rows = [(c["Name"], c["Type"], c.get("Comment", "")) for c in columns]
            partitions = [row for row in rows if row[0] in keys]
            if partitions:
                rows += [("# Partition Information", "", ""), *partitions]
            return ["col_name", "data_type", "comment"], rows, [qualified]
        assert statement.kind == "partitions", statement.kind
        if not keys:
            raise QueryError(f"Table {qualified} is not partitioned")
        hidden = sorted(keys - {c["Name"] for c in columns})
        if hidden:
            raise AccessDenied(
                f"Access denied: workgroup {self.workgroup!r} may not read column {hidden[0]} "
                f"of table {qualified}"
            )
        names = [k["Name"] for k in table["PartitionKeys"]]
        values = self.catalog.get_partition_values(statement.database, statement.table)
        rows = [("/".join(f"{k}={v}" for k, v in zip(names, vs, strict=True)),) for vs in sorted(values)]
        return ["partition"], rows, [qualified]

    def _information_schema(self, name: str) -> list[tuple]:
        """The rows of information_schema.<name> as the workgroup sees it (Athena's columns, Trino's
        type names); only the tables it may read, only the columns it may read of them."""
        databases = self._databases()
        if name == "schemata":
            return [(DATA_CATALOG, d) for d in databases]
        visible = self._visible_tables(databases)
        if name == "tables":
            return [
                (
                    DATA_CATALOG,
                    t["DatabaseName"],
                    t["Name"],
                    "VIEW" if t.get("TableType") == "VIRTUAL_VIEW" else "BASE TABLE",
                )
                for t, _ in visible
            ]
        assert name == "columns", name
        rows = []
        for table, columns in visible:
            keys = {k["Name"] for k in table.get("PartitionKeys", [])}
            rows += [
                (
                    DATA_CATALOG,
                    table["DatabaseName"],
                    table["Name"],
                    c["Name"],
                    position,
                    None,
                    "YES",
                    trino_type(c["Type"]),
                    c.get("Comment") or None,
                    "partition key" if c["Name"] in keys else None,
                )
                for position, c in enumerate(columns, start=1)
            ]
        return rows

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


def _readable_columns(table: dict, grants: list | None) -> list[dict]:
    """The table's columns (partition keys last) that the grants let read; all of them for the ETL role.
    Lake Formation grants add up: a column is readable if any grant on the table includes it."""
    columns = _columns(table)
    if grants is None:
        return columns
    return [c for c in columns if any(_grant_includes(g, c["Name"]) for g in grants)]


def _selects(grant) -> bool:
    return bool({p.upper() for p in grant.permissions} & {"SELECT", "ALL"})


def _information_schema_references(statement) -> dict[int, str]:
    """Point the statement's information_schema tables at the ones the sandbox fills; {node id: table}."""
    from sqlglot import exp

    found = {}
    for ref in statement.find_all(exp.Table):
        if not (isinstance(ref.this, exp.Identifier) and ref.db.lower() == "information_schema"):
            continue
        if ref.catalog and ref.catalog.lower() != DATA_CATALOG:
            continue
        name = ref.name.lower()
        if name not in _INFORMATION_SCHEMA:
            raise QueryError(
                f"information_schema.{name} is not available on the local engine "
                f"(information_schema.{', information_schema.'.join(_INFORMATION_SCHEMA)} are)"
            )
        ref.set("catalog", None)
        ref.set("db", exp.to_identifier(_INFORMATION_SCHEMA_IN_DUCKDB))
        ref.set("this", exp.to_identifier(name))
        found[id(ref)] = name
    return found


def _grant_includes(grant, column: str) -> bool:
    listed = getattr(grant, "columns", None)
    return column not in grant.excluded_columns and (listed is None or column in listed)


def _grant_covers(grant, database: str, name: str) -> bool:
    return grant.database == database and grant.table in (None, name) and _selects(grant)


def _parse_one(sql: str):
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as e:
        raise _parse_error(sql, e) from e
    except TokenError as e:
        raise _token_error(sql, e) from e
    if len(statements) != 1:
        raise QueryError(f"expected exactly one SQL statement, got {len(statements)}")
    (statement,) = statements
    if not isinstance(statement, exp.Query):
        raise QueryError(
            "only queries (SELECT / WITH ... SELECT), SHOW and DESCRIBE run on the local Athena engine"
        )
    return statement


_MISSING_ARGUMENT = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]*?(\w+)'>")


def _parse_error(sql: str, error) -> QuerySyntaxError:
    """sqlglot's first error, said plainly: its message underlines with terminal escapes and names the
    parser's classes; its ``errors`` give the line, the (last) column of the token it stopped at, the token."""
    if not error.errors or not error.errors[0].get("line"):
        description = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines()[0]
        return QuerySyntaxError(sql, len(sql.rstrip()), description)
    first = error.errors[0]
    token = first.get("highlight") or ""
    line_start = sum(len(line) + 1 for line in sql.split("\n")[: first["line"] - 1])
    offset = max(line_start, line_start + first["col"] - len(token.split("\n")[-1]))
    description = first.get("description") or "invalid statement"
    if description.startswith("Expecting "):
        description = f"expected {description.removeprefix('Expecting ')} before {token!r}"
    elif _MISSING_ARGUMENT.match(description) and not (first.get("end_context") or "").strip():
        description = f"the statement ends too early, after {token!r}"
    else:
        description = f"unexpected {token!r}"
    return QuerySyntaxError(sql, offset, description)


def _token_error(sql: str, error) -> QuerySyntaxError:
    """The tokenizer's error: its cause says which delimiter is missing from which offset."""
    cause = str(error.__cause__ or error)
    match = re.search(r"Missing (.+) from \d+:(\d+)", cause)
    if match is None:
        return QuerySyntaxError(sql, len(sql.rstrip()), "the statement cannot be read")
    delimiter, offset = match.group(1), int(match.group(2))
    kind = "string" if delimiter == "'" else "quoted name"
    return QuerySyntaxError(sql, min(offset, len(sql)), f"unterminated {kind} (no closing {delimiter})")


def _one_line(error) -> str:
    """DuckDB's message without the excerpt of its own (translated) SQL, which is not the statement the
    user wrote: the first lines (the error, the candidate columns) joined."""
    lines = []
    for line in str(error).splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines)


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


# SHOW and DESCRIBE: Athena runs them as Hive DDL, which sqlglot reads as an opaque command; parsed here.


@dataclass(frozen=True)
class _Metadata:
    kind: str  # databases | tables | columns | describe | partitions
    database: str | None = None
    table: str | None = None
    pattern: str | None = None


_METADATA_START = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(SHOW|DESCRIBE|DESC)\b", re.I | re.S)
_METADATA_TOKEN = re.compile(
    r"""(?P<space>\s+|--[^\n]*|/\*.*?\*/)
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<quoted>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
      | (?P<string>'(?:[^']|'')*')
      | (?P<punct>[.;])""",
    re.X | re.S,
)
_AVAILABLE_METADATA = "SHOW DATABASES, SHOW TABLES, SHOW COLUMNS, SHOW PARTITIONS and DESCRIBE are"


@dataclass(frozen=True)
class _Token:
    kind: str  # word | quoted | string | punct
    text: str
    offset: int

    @property
    def value(self) -> str:
        if self.kind in ("quoted", "string"):
            quote = self.text[0]
            return self.text[1:-1].replace(quote * 2, quote)
        return self.text

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


class _MetadataParser:
    """SHOW DATABASES|SCHEMAS [[LIKE] 'pattern'] · SHOW TABLES [IN|FROM db] [[LIKE] 'pattern'] ·
    SHOW COLUMNS IN|FROM [db.]t [IN|FROM db] · SHOW PARTITIONS db.t · DESCRIBE|DESC db.t (names may carry the
    catalog, ``awsdatacatalog.``)."""

    def __init__(self, sql: str):
        self.sql = sql
        self.tokens = self._tokens(sql)
        self.position = 0

    def parse(self) -> _Metadata:
        if self._keyword("DESCRIBE", "DESC"):
            style = self._keyword("EXTENDED", "FORMATTED")
            if style:
                raise QueryError(
                    f"DESCRIBE {style} is not available on the local engine; DESCRIBE db.table is"
                )
            database, table = self._table()
            if (token := self._peek()) is not None and token.text != ";":
                raise QueryError(
                    "DESCRIBE of one column or partition is not available on the local engine; "
                    "DESCRIBE db.table lists every column"
                )
            self._end()
            return _Metadata("describe", database, table)
        self._expect("SHOW")
        what = self._keyword("DATABASES", "SCHEMAS", "TABLES", "COLUMNS", "PARTITIONS")
        if what is None:
            token = self._peek()
            if token is None:
                raise self._error(None, "expected DATABASES, TABLES, COLUMNS or PARTITIONS after SHOW")
            raise QueryError(
                f"SHOW {token.text.upper()} is not available on the local engine ({_AVAILABLE_METADATA})"
            )
        if what in ("DATABASES", "SCHEMAS"):
            statement = _Metadata("databases", pattern=self._pattern())
        elif what == "TABLES":
            database = self._database() if self._keyword("IN", "FROM") else None
            statement = _Metadata("tables", database, pattern=self._pattern())
        elif what == "COLUMNS":
            self._expect("IN", "FROM")
            database, table = self._table()
            if self._keyword("IN", "FROM"):
                database = self._database()
            statement = _Metadata("columns", database, table)
        else:
            statement = _Metadata("partitions", *self._table())
        self._end()
        return statement

    @staticmethod
    def _tokens(sql: str) -> list[_Token]:
        tokens, offset = [], 0
        while offset < len(sql):
            match = _METADATA_TOKEN.match(sql, offset)
            if match is None:
                char = sql[offset]
                if char in "'\"`":
                    kind = "string" if char == "'" else "quoted name"
                    raise QuerySyntaxError(sql, offset, f"unterminated {kind} (no closing {char})")
                raise QuerySyntaxError(sql, offset, f"unexpected {char!r}")
            if match.lastgroup != "space":
                tokens.append(_Token(match.lastgroup, match.group(), offset))
            offset = match.end()
        return tokens

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _keyword(self, *words: str) -> str | None:
        token = self._peek()
        if token is not None and token.is_keyword(*words):
            self.position += 1
            return token.text.upper()
        return None

    def _expect(self, *words: str) -> str:
        found = self._keyword(*words)
        if found is None:
            raise self._error(self._peek(), f"expected {' or '.join(words)}")
        return found

    def _name(self) -> str:
        token = self._peek()
        if token is None or token.kind not in ("word", "quoted"):
            raise self._error(token, "expected a name")
        self.position += 1
        return token.value.lower()

    def _names(self) -> list[str]:
        names = [self._name()]
        while (token := self._peek()) is not None and token.text == ".":
            self.position += 1
            names.append(self._name())
        return names

    def _database(self) -> str:
        start = self._peek()
        names = self._names()
        if len(names) == 2 and names[0] == DATA_CATALOG:
            return names[1]
        if len(names) == 2:
            raise AccessDenied(f"unknown catalog {names[0]!r} in {'.'.join(names)}")
        if len(names) > 2:
            raise self._error(start, f"{'.'.join(names)!r} is not a database name")
        return names[0]

    def _table(self) -> tuple[str | None, str]:
        start = self._peek()
        names = self._names()
        if len(names) == 3 and names[0] != DATA_CATALOG:
            raise AccessDenied(f"unknown catalog {names[0]!r} in {'.'.join(names)}")
        if len(names) > 3:
            raise self._error(start, f"{'.'.join(names)!r} is not a table name")
        return (names[-2] if len(names) > 1 else None), names[-1]

    def _pattern(self) -> str | None:
        like = self._keyword("LIKE")
        token = self._peek()
        if token is not None and token.kind == "string":
            self.position += 1
            return token.value
        if like:
            raise self._error(token, "expected a quoted pattern after LIKE")
        return None

    def _end(self) -> None:
        token = self._peek()
        if token is not None and token.text == ";":
            self.position += 1
            token = self._peek()
            if token is not None:
                raise QueryError("expected exactly one SQL statement, got more")
        if token is not None:
            raise self._error(token, f"unexpected {token.text!r}")

    def _error(self, token: _Token | None, description: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.sql, token.offset if token else len(self.sql.rstrip()), description)


def _metadata_statement(sql: str) -> _Metadata | None:
    """The SHOW or DESCRIBE statement ``sql`` is, or None when it is neither."""
    return _MetadataParser(sql).parse() if _METADATA_START.match(sql) else None


def _name_pattern(pattern: str | None):
    """SHOW's pattern as Athena reads it: ``*`` (or ``.*``) any characters, ``|`` between alternatives, the
    rest literal, case-insensitive, matching the whole name."""
    if pattern is None:
        return lambda name: True
    alternatives = [
        ".*".join(re.escape(piece) for piece in alternative.replace(".*", "*").split("*"))
        for alternative in pattern.split("|")
    ]
    regex = re.compile("|".join(f"(?:{a})" for a in alternatives), re.I)
    return lambda name: regex.fullmatch(name) is not None


# DuckDB views over the catalog


def _sandbox(con, accesses, information: dict[str, list[tuple]] | None = None) -> None:
    """Views for the granted tables and the information_schema tables the query reads (filled from the
    catalog); then DuckDB may read nothing but the tables' folders, and can't be unlocked."""
    accesses = list(accesses)
    con.execute("SET TimeZone = 'UTC'")
    folders = sorted({str(p) + "/" for a in accesses for p in a.folders})
    con.execute("SET allowed_directories = ?", [folders])
    for access in accesses:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{access.database}"')
        con.execute(f'CREATE VIEW "{access.database}"."{access.name}" AS {_view_sql(con, access)}')
    for name, rows in (information or {}).items():
        columns = _INFORMATION_SCHEMA[name]
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{_INFORMATION_SCHEMA_IN_DUCKDB}"')
        spec = ", ".join(f'"{c}" {t}' for c, t in columns)
        con.execute(f'CREATE TABLE "{_INFORMATION_SCHEMA_IN_DUCKDB}"."{name}" ({spec})')
        if rows:
            marks = ", ".join("?" for _ in columns)
            con.executemany(f'INSERT INTO "{_INFORMATION_SCHEMA_IN_DUCKDB}"."{name}" VALUES ({marks})', rows)
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


def trino_type(glue_type: str) -> str:
    """The type name Athena's information_schema.columns shows for a Glue/Hive type (Trino's names)."""
    t = glue_type.lower()
    return {"string": "varchar", "int": "integer", "float": "real", "binary": "varbinary"}.get(
        t, "timestamp(3)" if t == "timestamp" else t
    )


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
    """``datalake query --workgroup W [--format F] [--max-rows N] "SQL"``: the result, then the row count and
    ``Data scanned: 1.23 MB`` (on stderr for csv and json, so that stdout is the data alone)."""
    # sqlglot warns on stderr when it reads a statement as an opaque command; such a statement is refused
    # below in one line of its own.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    try:
        result = QueryEngine(args.workgroup).execute(args.sql)
    except QuerySyntaxError as e:
        print(syntax_error(e.sql, e.line, e.column, e.description), file=sys.stderr)
        return 2
    except AccessDenied as e:
        print(str(e), file=sys.stderr)
        return 1
    except (QueryError, BytesScannedCutoffExceeded) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print_result(
        result.columns,
        result.rows,
        elapsed_seconds=result.elapsed_seconds,
        footer=[f"Data scanned: {format_bytes(result.bytes_scanned)}"],
        output_format=getattr(args, "format", "table"),
        limit=getattr(args, "max_rows", None),
    )
    return 0
