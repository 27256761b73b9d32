"""How the command line shows sizes and query results, on both targets."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

# `datalake query`'s output formats, and the rows the table format prints unless --max-rows says otherwise.
FORMATS = ("table", "csv", "json")
DEFAULT_MAX_ROWS = 100


def format_bytes(n: int) -> str:
    """Athena's way of showing data scanned: ``512 B``, ``1.23 MB``."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError(n)


def format_table(columns: list[str], rows: list[tuple]) -> str:
    """Columns padded to their widest cell, a rule under the header, NULL for None."""
    cells = [["NULL" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def max_rows(text: str) -> int:
    """An argparse type for ``--max-rows``: a whole number, 0 meaning no limit."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows (0 or more; 0 = no limit)")
    return value


def syntax_error(sql: str, line: int, column: int, description: str) -> str:
    """``datalake query``'s report of a syntax error: one line saying where and what, then the statement's
    line with a caret under the column (1-based; tabs kept so that the caret lines up)."""
    lines = sql.split("\n")
    text = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    before = "".join(c if c == "\t" else " " for c in text[: max(column - 1, 0)])
    return (
        f"datalake query: syntax error at line {line}, column {column}: {description}\n  {text}\n  {before}^"
    )


def print_result(
    columns: list[str],
    rows: list[tuple],
    *,
    elapsed_seconds: float,
    footer: Iterable[str] = (),
    output_format: str = "table",
    limit: int | None = None,
    out=None,
    err=None,
) -> None:
    """A query's result as ``datalake query`` prints it.

    ``table``: at most ``limit`` rows (default DEFAULT_MAX_ROWS; 0 = all), then the row count, a note when
    rows were left out, and the footer (data scanned). ``csv`` (a header, then the rows, via the csv module)
    and ``json`` (JSON Lines: one object per row; decimals, dates and timestamps as strings) write every row
    unless ``limit`` is given, and send the count, the note and the footer to ``err`` so that ``out`` holds
    nothing but the data.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if limit is None:
        limit = DEFAULT_MAX_ROWS if output_format == "table" else 0
    shown = rows[:limit] if limit else rows
    notes = out if output_format == "table" else err
    try:
        _write_rows(columns, shown, output_format, out)
        total = f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
        if len(shown) < len(rows):
            everything = "--max-rows 0 or --format csv" if output_format == "table" else "--max-rows 0"
            print(
                f"(showing {len(shown):,} of {total} in {elapsed_seconds:.2f} s; {everything} for all)",
                file=notes,
            )
        else:
            print(f"({total} in {elapsed_seconds:.2f} s)", file=notes)
        for line in footer:
            print(line, file=notes)
    except BrokenPipeError:
        # The reader stopped early (`| head`): it has what it wanted. Python would report the pipe again when
        # it flushes stdout at exit, so stdout goes to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def _write_rows(columns: list[str], rows: list[tuple], output_format: str, out) -> None:
    if output_format == "table":
        print(format_table(columns, rows), file=out)
    elif output_format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else _text(v) for v in row] for row in rows)
    elif output_format == "json":
        for row in rows:
            record = {c: _json_value(v) for c, v in zip(columns, row, strict=True)}
            print(json.dumps(record, ensure_ascii=False, allow_nan=False), file=out)
    else:
        raise ValueError(f"unknown output format {output_format!r} (known: {', '.join(FORMATS)})")


def _text(value) -> str:
    """A value as CSV and JSON write it: ISO 8601 for dates and times, a decimal's exact digits."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _json_value(value):
    """JSON's own types where they are exact; a string for what JSON has no type for (a float would round a
    decimal; NaN and infinity are not JSON)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, Decimal | timedelta):
        return str(value)
    return _text(value)
