"""Reading the raw CSV exports exactly: file checks, the header by name, every field as text, record positions.

Three steps, each cheap where the data is big:

1. ``inspect_file`` (driver, streaming, C-speed): is the file UTF-8, is it empty, what does its header say
   (columns by name, missing / duplicated / unknown ones), which line separator does it use.
2. ``read_records`` (Spark): each file is read with ``multiLine`` (one file = one ordered task, so quoted
   newlines work and the record order is the file's) and an explicit all-string schema built from ITS
   header, so columns are mapped by name. Spark silently pads short rows and drops surplus fields; the
   corrupt-record column is how we see them: Spark fills it exactly when a record's field count differs
   from the header's.
3. ``locate_records`` (driver, only for files with quarantined rows): the physical line where each wanted
   record starts and its original text, found by a tokenizer that splits records the way Spark's CSV
   parser (univocity) does; its record count must equal Spark's or the job stops rather than mislabel rows.

The line separator is the header's (LF or CRLF) and is given to Spark explicitly: without it Spark rewrites
a quoted CRLF as LF, and the value would no longer be the exported text.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from glue_jobs.lib.contract import CONTRACT, partition_path

SOURCE_FILE = "source_file"
# 0-based index of a data record in its file (the header is not a record).
RECORD_INDEX = "record_index"
# True when the record has as many fields as the header.
SHAPE_OK = "_shape_ok"
_CORRUPT = "_corrupt_record"
_BOM = "\ufeff"
_CHUNK = 8 << 20
# monotonically_increasing_id() puts the partition id above bit 33 and the row's position in the
# partition below it; a single-file scan is a single partition, so the low bits are the record index.
_ROW_IN_PARTITION_MASK = (1 << 33) - 1


@dataclass
class RawFile:
    """One export file and what its first read found."""

    entity: str
    uri: str
    # Path relative to the raw zone (``<entity>/year=/month=/day=/<file>``): the same on every target.
    source_file: str
    columns: tuple[str, ...] = ()
    line_sep: str = "\n"
    # Whole-file quarantine: the rule broken and the reason; None when the file is read row by row.
    rule: str | None = None
    reason: str | None = None
    extra_columns: tuple[str, ...] = ()
    # Data records of a file quarantined whole, counted the way a CSV reader counts them.
    records: int = 0

    @property
    def readable(self) -> bool:
        return self.rule is None


# --- where the files are ----------------------------------------------------------------------------


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://", "s3n://"))


def filesystem_path(uri: str) -> Path:
    """The path on this machine's file system of a non-S3 URI: a ``file:`` URI's path, or the text itself.

    Only a change of notation, never a mapping of ``s3://`` to a folder: the local target does that
    (``energy_datalake.config.local_path``) before the job starts, and hands the job folders.
    """
    return Path(urlparse(uri).path) if uri.startswith("file:") else Path(uri)


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def list_run_files(raw_path: str, entity: str, run_date: dt.date) -> list[RawFile]:
    """The run date's CSV files of one entity, in name order (the order "first occurrence" refers to)."""
    prefix = f"{entity}/{partition_path(run_date)}"
    names = _s3_names(join(raw_path, prefix)) if is_s3(raw_path) else _local_names(join(raw_path, prefix))
    return [
        RawFile(entity=entity, uri=join(raw_path, prefix, name), source_file=f"{prefix}/{name}")
        for name in sorted(n for n in names if n.endswith(".csv"))
    ]


def _local_names(folder: str) -> list[str]:
    path = filesystem_path(folder)
    return [p.name for p in path.iterdir() if p.is_file()] if path.is_dir() else []


def _s3_names(folder: str) -> list[str]:
    import boto3

    parsed = urlparse(folder)
    prefix = parsed.path.lstrip("/") + "/"
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc, Prefix=prefix)
    return [
        obj["Key"][len(prefix) :]
        for page in pages
        for obj in page.get("Contents", [])
        if "/" not in obj["Key"][len(prefix) :]
    ]


def open_binary(uri: str):
    """A readable binary stream of a local file or an S3 object."""
    if not is_s3(uri):
        return filesystem_path(uri).open("rb")
    import boto3

    parsed = urlparse(uri)
    return boto3.client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]


def read_text(uri: str, errors: str = "strict") -> str:
    with open_binary(uri) as stream:
        text = stream.read().decode("utf-8", errors=errors)
    return text[1:] if text.startswith(_BOM) else text


# --- step 1: the file as a whole --------------------------------------------------------------------


def inspect_file(raw_file: RawFile) -> RawFile:
    """Checks the encoding and the header of one file; marks it for whole-file quarantine if it fails."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = ""
    size = 0
    with open_binary(raw_file.uri) as stream:
        try:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                text = decoder.decode(chunk)
                if len(head) < 1 << 16:
                    head += text
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            records = _count_records(read_text(raw_file.uri, errors="replace"))
            return _quarantined(raw_file, "file.not_utf8", f"not UTF-8: {error}", records)
    head = head.removeprefix(_BOM)
    if size == 0 or not head.strip():
        return _quarantined(raw_file, "file.empty", "the file is empty (no header row)", 0)
    header, line_sep = _header(head)
    return _check_header(raw_file, header, line_sep)


def _header(head: str) -> tuple[list[str], str]:
    match = _RECORD[_line_sep_of(head)].match(head)
    line_sep = "\r\n" if match.group(0).endswith("\r\n") else "\n"
    return next(csv.reader(io.StringIO(match.group(1)))), line_sep


def _line_sep_of(text: str) -> str:
    first_lf = text.find("\n")
    return "\r\n" if first_lf > 0 and text[first_lf - 1] == "\r" else "\n"


def _check_header(raw_file: RawFile, header: list[str], line_sep: str) -> RawFile:
    entity = CONTRACT[raw_file.entity]
    raw_file.columns, raw_file.line_sep = tuple(header), line_sep
    repeated = sorted({c for c in header if header.count(c) > 1})
    missing = [c for c in entity.required_columns if c not in header]
    if missing or repeated:
        records = _count_records(read_text(raw_file.uri))
        if missing:
            return _quarantined(
                raw_file,
                "file.missing_required_column",
                f"missing required columns: {', '.join(missing)}",
                records,
            )
        return _quarantined(
            raw_file, "file.duplicate_column", f"columns named twice: {', '.join(repeated)}", records
        )
    raw_file.extra_columns = tuple(c for c in header if c not in entity.column_names)
    return raw_file


def _quarantined(raw_file: RawFile, rule: str, reason: str, records: int) -> RawFile:
    raw_file.rule, raw_file.reason, raw_file.records = rule, reason, records
    return raw_file


def _count_records(text: str) -> int:
    """Data records (header excluded) of a text, the way ``locate_records`` splits it."""
    return max(sum(1 for _ in iter_records(text, _line_sep_of(text))) - 1, 0)


# --- step 2: the rows, all as text ------------------------------------------------------------------


def read_records(spark: SparkSession, files: Iterable[RawFile]) -> DataFrame:
    """The data records of readable files: the contract's columns as text (null when the file lacks an
    optional column), ``source_file``, ``record_index`` and ``_shape_ok``; unknown columns dropped."""
    frames = [_read_one(spark, f) for f in files if f.readable]
    if not frames:
        raise ValueError("no readable file to read")
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


def _read_one(spark: SparkSession, raw_file: RawFile) -> DataFrame:
    entity = CONTRACT[raw_file.entity]
    # Positional names: the header may hold names Spark would reject or that clash with ours.
    positional = [f"_c{i}" for i in range(len(raw_file.columns))]
    schema = T.StructType([T.StructField(n, T.StringType()) for n in [*positional, _CORRUPT]])
    frame = (
        spark.read.schema(schema)
        .options(
            header="true",
            multiLine="true",
            encoding="UTF-8",
            lineSep=raw_file.line_sep,
            quote='"',
            escape='"',
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=_CORRUPT,
            ignoreLeadingWhiteSpace="false",
            ignoreTrailingWhiteSpace="false",
        )
        .csv(raw_file.uri)
    )
    by_name = dict(zip(raw_file.columns, positional, strict=True))
    columns: list[Column] = [
        (F.col(by_name[c]) if c in by_name else F.lit(None).cast("string")).alias(c)
        for c in entity.column_names
    ]
    return frame.select(
        *columns,
        F.lit(raw_file.source_file).alias(SOURCE_FILE),
        F.monotonically_increasing_id().bitwiseAND(F.lit(_ROW_IN_PARTITION_MASK)).alias(RECORD_INDEX),
        F.col(_CORRUPT).isNull().alias(SHAPE_OK),
    )


# --- step 3: where a record is in its file ----------------------------------------------------------


def _record_pattern(line_sep: str) -> re.Pattern[str]:
    # Outside quotes a field runs to the next comma or line separator; inside quotes anything goes, a quote
    # being written twice; a quote that never closes runs to the end of the text (as Spark reads it).
    plain = r"[^,\n]" if line_sep == "\n" else r"(?:[^,\r]|\r(?!\n))"
    quoted = rf'"(?:[^"]|"")*"{plain}*|"(?:[^"]|"")*\Z'
    unquoted = rf"(?:(?!\"){plain}{plain}*)?"
    field_ = f"(?:{quoted}|{unquoted})"
    return re.compile(rf"({field_}(?:,{field_})*)(?:{re.escape(line_sep)}|\Z)")


_RECORD = {sep: _record_pattern(sep) for sep in ("\n", "\r\n")}


def iter_records(text: str, line_sep: str) -> Iterable[re.Match[str]]:
    """The records of a text, header included, as regex matches (group 1 = the record's text).

    Empty lines are no records (Spark skips them too).
    """
    for match in _RECORD[line_sep].finditer(text):
        if match.group(1):
            yield match


@dataclass
class RecordLocations:
    records: int
    # record index -> (1-based physical line where the record starts, original text without separator)
    found: dict[int, tuple[int, str]] = field(default_factory=dict)


def locate_records(raw_file: RawFile, wanted: Iterable[int]) -> RecordLocations:
    """Line number and original text of the wanted data records of one file."""
    text = read_text(raw_file.uri)
    wanted = set(wanted)
    located = RecordLocations(records=-1)
    line, position = 1, 0
    for index, match in enumerate(iter_records(text, raw_file.line_sep), start=-1):
        if index in wanted:
            line += text.count("\n", position, match.start())
            position = match.start()
            located.found[index] = (line, match.group(1))
        located.records = index + 1
    return located
