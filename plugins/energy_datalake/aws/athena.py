"""Athena over boto3: what the AWS target's quality gate and ``datalake query`` run.

A query is started in a workgroup (whose enforced settings choose the result location and its encryption),
polled with a short, growing sleep (a check takes seconds; the provider's hook sleeps 30 s between polls),
and its results are read page by page. Several queries are started together and then waited for together,
so the quality gate's checks cost the slowest one, not their sum.

Errors keep Athena's meaning but say it plainly, as the local engine does: a table or column that Lake
Formation hides, the workgroup's bytes-scanned cutoff, a syntax error.

SHOW and DESCRIBE are Athena's own DDL statements (free of charge): their results are lines of text in one
column, padded (SHOW COLUMNS) or tab-separated (DESCRIBE); ``datalake query`` prints DESCRIBE's as the
columns ``col_name | data_type | comment``, as the local engine does.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

# Athena bills $5 per TB scanned, with a 10 MB minimum per query, rounded up to the MB.
PRICE_PER_TB_USD = 5.0
MINIMUM_BILLED_BYTES = 10 * 2**20

FIRST_POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 30 * 60
RUNNING_STATES = ("QUEUED", "RUNNING")


class AthenaQueryFailed(RuntimeError):
    """The query ended FAILED or CANCELLED; the message is Athena's reason."""


class AthenaSyntaxError(AthenaQueryFailed):
    """Athena could not parse the statement: where (1-based line and column) and what it expected."""

    def __init__(self, message: str, line: int, column: int, description: str):
        super().__init__(message)
        self.line, self.column, self.description = line, column, description


class AccessDenied(PermissionError):
    """Lake Formation hides the table or column from the workgroup's principal: names it."""


class BytesScannedCutoffExceeded(RuntimeError):
    """Athena cancelled the query at the workgroup's bytes-scanned cutoff."""


@dataclass
class AthenaResult:
    query_id: str
    columns: list[str]
    rows: list[tuple]
    bytes_scanned: int
    elapsed_seconds: float
    # Athena's StatementType: DDL (SHOW, DESCRIBE, CREATE ...), DML (queries) or UTILITY.
    statement_type: str = "DML"

    @property
    def cost_usd(self) -> float:
        # Athena charges nothing for DDL statements.
        return 0.0 if self.statement_type == "DDL" else query_cost_usd(self.bytes_scanned)


def query_cost_usd(bytes_scanned: int) -> float:
    billed = max(MINIMUM_BILLED_BYTES, math.ceil(bytes_scanned / 2**20) * 2**20)
    return billed / 2**40 * PRICE_PER_TB_USD


def run_query(client, sql: str, workgroup: str, **kwargs) -> AthenaResult:
    """One statement in ``workgroup``; raises AthenaQueryFailed, AccessDenied or BytesScannedCutoffExceeded."""
    result = run_queries(client, {"query": sql}, workgroup, **kwargs)["query"]
    assert isinstance(result, AthenaResult)
    return result


def run_queries(
    client,
    statements: Mapping[str, str],
    workgroup: str,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    raise_errors: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, AthenaResult | Exception]:
    """Start every statement, wait for all, return {name: result} in the statements' order.

    A failed query raises its error once every query has ended (the first in the statements' order), or,
    with ``raise_errors=False``, stands in the result as the exception. A query still running at the
    timeout is stopped.
    """
    started = clock()
    ids = {
        name: client.start_query_execution(QueryString=sql, WorkGroup=workgroup)["QueryExecutionId"]
        for name, sql in statements.items()
    }
    executions = _wait(client, ids, started, timeout_seconds, sleep, clock)
    results: dict[str, AthenaResult | Exception] = {}
    for name, execution in executions.items():
        if execution["Status"]["State"] != "SUCCEEDED":
            results[name] = _failure(name, execution, workgroup)
            continue
        columns, rows = read_results(client, ids[name])
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        results[name] = AthenaResult(
            ids[name], columns, rows, scanned, clock() - started, execution.get("StatementType", "DML")
        )
    failures = [r for r in results.values() if isinstance(r, Exception)]
    if raise_errors and failures:
        raise failures[0]
    return results


def _wait(client, ids: dict[str, str], started: float, timeout: float, sleep, clock) -> dict[str, dict]:
    done: dict[str, dict] = {}
    delay = FIRST_POLL_SECONDS
    while True:
        for name, query_id in ids.items():
            if name not in done:
                execution = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
                if execution["Status"]["State"] not in RUNNING_STATES:
                    done[name] = execution
        if len(done) == len(ids):
            return {name: done[name] for name in ids}
        if clock() - started > timeout:
            running = [name for name in ids if name not in done]
            for name in running:
                client.stop_query_execution(QueryExecutionId=ids[name])
            raise AthenaQueryFailed(
                f"Athena queries still running after {timeout:.0f} s, stopped: {', '.join(running)}"
            )
        sleep(delay)
        delay = min(MAX_POLL_SECONDS, delay * 2)


def read_results(client, query_id: str) -> tuple[list[str], list[tuple]]:
    """Column names and typed rows of a finished query, every page (the first row is the header)."""
    paginator = client.get_paginator("get_query_results")
    columns: list[str] = []
    types: list[str] = []
    rows: list[tuple] = []
    header_skipped = False
    for page in paginator.paginate(QueryExecutionId=query_id):
        result_set = page["ResultSet"]
        if not columns:
            info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = [c["Name"] for c in info]
            types = [c.get("Type", "varchar") for c in info]
        for row in result_set.get("Rows", []):
            cells = [cell.get("VarCharValue") for cell in row.get("Data", [])]
            if not header_skipped:
                header_skipped = True
                if cells == columns:
                    continue
            rows.append(tuple(_typed(v, t) for v, t in zip(cells, types, strict=False)))
    return columns, rows


def _typed(value: str | None, athena_type: str):
    """Athena returns every cell as text; give it back the type its column declares."""
    if value is None:
        return None
    kind = athena_type.lower()
    if kind in ("tinyint", "smallint", "integer", "int", "bigint"):
        return int(value)
    if kind in ("double", "float", "real"):
        return float(value)
    if kind.startswith("decimal"):
        return Decimal(value)
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "date":
        return date.fromisoformat(value)
    if kind.startswith("timestamp"):
        return datetime.fromisoformat(value.replace(" UTC", "+00:00"))
    return value


# Trino's parser (queries) says "line 1:8: mismatched input ..." with 1-based columns; Hive's (DDL) says
# "ParseException line 1:7 cannot recognize input near ..." with 0-based ones.
_TRINO_SYNTAX = re.compile(
    r"line (\d+):(\d+): ((?:mismatched input|extraneous input|no viable alternative|missing ).*)", re.S
)
_HIVE_SYNTAX = re.compile(r"ParseException line (\d+):(\d+) (.*)", re.S)
_LF_DENIED = re.compile(r"Insufficient Lake Formation permission\(s\) on (\S+)")
_TABLE_NOT_FOUND = re.compile(r"Table '(?:awsdatacatalog\.)?([^']+)' does not exist", re.IGNORECASE)
_COLUMN_NOT_FOUND = re.compile(r"Column '([^']+)' cannot be resolved")


def _failure(name: str, execution: dict, workgroup: str) -> Exception:
    status = execution["Status"]
    reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or ""
    prefix = "" if name == "query" else f"{name}: "
    if "bytes scanned limit was exceeded" in reason.lower():
        return BytesScannedCutoffExceeded(f"{prefix}{reason}")
    if match := _TRINO_SYNTAX.search(reason):
        line, column, description = int(match.group(1)), int(match.group(2)), match.group(3)
    elif match := _HIVE_SYNTAX.search(reason):
        line, column, description = int(match.group(1)), int(match.group(2)) + 1, match.group(3)
    if match:
        return AthenaSyntaxError(
            f"{prefix}Athena query {execution['QueryExecutionId']} {status['State']}: {reason}",
            line,
            column,
            " ".join(description.split()),
        )
    if match := _LF_DENIED.search(reason):
        return AccessDenied(f"{prefix}access denied: workgroup {workgroup!r} may not read {match.group(1)}")
    if match := _TABLE_NOT_FOUND.search(reason):
        return AccessDenied(
            f"{prefix}table {match.group(1)} does not exist or is not granted to workgroup {workgroup!r} "
            "(Lake Formation hides the tables it does not grant)"
        )
    if match := _COLUMN_NOT_FOUND.search(reason):
        return AccessDenied(
            f"{prefix}column {match.group(1)} does not exist or is not granted to workgroup {workgroup!r}"
        )
    return AthenaQueryFailed(
        f"{prefix}Athena query {execution['QueryExecutionId']} {status['State']}: {reason}"
    )


# `datalake query` on DATALAKE_TARGET=aws

_DESCRIBE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*DESC(?:RIBE)?\b", re.I | re.S)


def ddl_table(sql: str, columns: list[str], rows: list[tuple]) -> tuple[list[str], list[tuple]]:
    """A DDL statement's one column of text as a table: DESCRIBE's tab-separated lines split into
    ``col_name | data_type | comment`` (its blank lines and its repeated header left out), other lines without
    the padding Athena gives them."""
    if len(columns) != 1:
        return columns, rows
    lines = ["" if row[0] is None else str(row[0]) for row in rows]
    if not _DESCRIBE.match(sql):
        return columns, [(line.rstrip(),) for line in lines]
    cells = [tuple(part.strip() for part in line.split("\t")) for line in lines]
    cells = [c for c in cells if any(c) and c[0] != "# col_name"]
    width = max([3, *(len(c) for c in cells)])
    names = ["col_name", "data_type", "comment", *(f"_col{i}" for i in range(3, width))]
    return names, [c + ("",) * (width - len(c)) for c in cells]


def main(args) -> int:
    """``datalake query --workgroup W [--format F] [--max-rows N] "SQL"`` on Athena: the result, the data
    scanned and what it cost (on stderr for csv and json)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from energy_datalake.formatting import format_bytes, print_result, syntax_error

    try:
        client = boto3.client("athena")
        result = run_query(client, args.sql, args.workgroup)
    except AccessDenied as error:
        print(str(error), file=sys.stderr)
        return 1
    except AthenaSyntaxError as error:
        print(syntax_error(args.sql, error.line, error.column, error.description), file=sys.stderr)
        return 2
    except (AthenaQueryFailed, BytesScannedCutoffExceeded) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ClientError as error:
        print(
            f"error: Athena refused the query: {error.response['Error'].get('Message', error)}",
            file=sys.stderr,
        )
        return 1
    except BotoCoreError as error:
        print(f"error: cannot reach Athena: {error}", file=sys.stderr)
        return 1
    columns, rows = result.columns, result.rows
    if result.statement_type == "DDL":
        columns, rows = ddl_table(args.sql, columns, rows)
    print_result(
        columns,
        rows,
        elapsed_seconds=result.elapsed_seconds,
        footer=[
            f"Data scanned: {format_bytes(result.bytes_scanned)} "
            f"(${result.cost_usd:.6f} at ${PRICE_PER_TB_USD:g}/TB)"
        ],
        output_format=getattr(args, "format", "table"),
        limit=getattr(args, "max_rows", None),
    )
    return 0
