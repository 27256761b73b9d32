"""Reading the raw CSV exports exactly: file checks, the header by name, every field as text, record positions.

1. ``inspect_file`` (driver, bounded): the file's first ``PREFIX_BYTES`` only: is it empty, is that prefix
   UTF-8, what does its header say (columns by name, missing / duplicated / unknown ones), which line
   separator it uses. A file that fits in the prefix is checked whole there; for a bigger one the rest of the
   UTF-8 check runs in Spark (``check_encoding``, or in the read itself) and so does the record count of a file
   quarantined whole (``count_records``): the driver's work does not grow with the file.
2. ``read_records`` (Spark): the contract's columns as text, read by name with an explicit all-string schema
   built from the file's header, and each record's position: ``record_block`` (the byte offset where Spark's
   read block starts) and ``record_index`` (its place in that block).

   - An entity whose fields may hold a line break (the snapshots' names: ``Entity.multiline``) is read with
     ``multiLine``: one file is one task (quoted newlines need the whole file), small by nature; positions
     count records. Where a quarantined record starts and its text come from ``locate_records``, a tokenizer
     that splits records the way Spark's CSV parser (univocity) does.
   - The transactions, whose fields never hold one, are read as lines (``spark.read.text``, splittable:
     a big file is read by many tasks) and parsed with ``from_csv`` under the same schema. Positions count
     physical lines, empty ones included, so a line's number is exact: the lines of the blocks before its
     own (``block_line_counts``) plus its index. Its text is the line itself.

   Spark silently pads short rows and drops surplus fields; the corrupt-record column is how we see them:
   Spark fills it exactly when a record's field count differs from the header's.

The line separator is the header's (LF or CRLF) and is given to Spark explicitly: without it Spark rewrites
a quoted CRLF as LF, and the value would no longer be the exported text.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from glue_jobs.lib.contract import CONTRACT, partition_path

SOURCE_FILE = "source_file"
# Byte offset where the record's read block starts: 0 unless Spark split the file.
RECORD_BLOCK = "record_block"
# 0-based place of the record in its block: its physical line for a file read as lines (the header is
# line 0 of block 0), its data record for a multi-line file (the header is not a record).
RECORD_INDEX = "record_index"
# The order of the records as exported: file name, then position (what "first occurrence" refers to).
RECORD_ORDER = (SOURCE_FILE, RECORD_BLOCK, RECORD_INDEX)
# The record's text as exported, without its line separator; read as lines only (null otherwise).
RAW_LINE = "_raw_line"
# True when the record has as many fields as the header.
SHAPE_OK = "_shape_ok"
_CORRUPT = "_corrupt_record"
_BOM = "\ufeff"
# The driver reads at most this much of a file (the header needs a line of it).
PREFIX_BYTES = 1 << 20
# monotonically_increasing_id() puts the partition id above bit 33 and the row's position in the
# partition below it; a scan of one file gives each of its blocks a partition of its own (Spark never packs
# two blocks of one file together), so the low bits are the row's index in its block.
_ROW_IN_PARTITION_MASK = (1 << 33) - 1
_CSV_OPTIONS = {
    "quote": '"',
    "escape": '"',
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": _CORRUPT,
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
}


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
    # Data records of a file quarantined whole, counted the way its reader counts them; None until counted
    # (a file bigger than the prefix is counted in Spark, ``count_records``).
    records: int | None = 0
    # False while only the prefix is known to be UTF-8 (the rest is checked in Spark).
    utf8_checked: bool = True

    @property
    def readable(self) -> bool:
        return self.rule is None

    @property
    def multiline(self) -> bool:
        return CONTRACT[self.entity].multiline

    def quarantine(self, rule: str, reason: str, records: int | None = None) -> RawFile:
        self.rule, self.reason, self.records = rule, reason, records
        return self


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


def read_prefix(uri: str, size: int) -> bytes:
    """The first ``size`` bytes of a local file or an S3 object (a ranged GET: the rest is not fetched)."""
    if not is_s3(uri):
        with filesystem_path(uri).open("rb") as stream:
            return stream.read(size)
    import boto3

    parsed = urlparse(uri)
    key = parsed.path.lstrip("/")
    return (
        boto3.client("s3")
        .get_object(Bucket=parsed.netloc, Key=key, Range=f"bytes=0-{size - 1}")["Body"]
        .read()
    )


def read_text(uri: str, errors: str = "strict") -> str:
    """The whole file as text: only for ``locate_records`` on the (small) multi-line entities."""
    if is_s3(uri):
        import boto3

        parsed = urlparse(uri)
        body = boto3.client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
        content = body.read()
    else:
        content = filesystem_path(uri).read_bytes()
    text = content.decode("utf-8", errors=errors)
    return text[1:] if text.startswith(_BOM) else text


# --- step 1: the file as a whole --------------------------------------------------------------------


def inspect_file(raw_file: RawFile) -> RawFile:
    """Checks the encoding and the header of one file from its prefix; marks it for whole-file quarantine
    if it fails. A file that fits in the prefix is checked (and, quarantined, counted) whole."""
    prefix = read_prefix(raw_file.uri, PREFIX_BYTES + 1)
    whole = len(prefix) <= PREFIX_BYTES
    prefix = prefix[:PREFIX_BYTES]
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        head = decoder.decode(prefix, final=whole)
    except UnicodeDecodeError as error:
        records = (
            _count_records(prefix.decode("utf-8", errors="replace"), raw_file.multiline) if whole else None
        )
        return raw_file.quarantine("file.not_utf8", f"not UTF-8: {error}", records)
    raw_file.utf8_checked = whole
    head = head.removeprefix(_BOM)
    if not head.strip():
        return raw_file.quarantine("file.empty", "the file is empty (no header row)", 0)
    header, line_sep = _header(head)
    raw_file.columns, raw_file.line_sep = tuple(header), line_sep
    return _check_header(raw_file, header, head if whole else None)


def _header(head: str) -> tuple[list[str], str]:
    match = _RECORD[_line_sep_of(head)].match(head)
    line_sep = "\r\n" if match.group(0).endswith("\r\n") else "\n"
    return next(csv.reader(io.StringIO(match.group(1)))), line_sep


def _line_sep_of(text: str) -> str:
    first_lf = text.find("\n")
    return "\r\n" if first_lf > 0 and text[first_lf - 1] == "\r" else "\n"


def _check_header(raw_file: RawFile, header: list[str], whole_text: str | None) -> RawFile:
    entity = CONTRACT[raw_file.entity]
    repeated = sorted({c for c in header if header.count(c) > 1})
    missing = [c for c in entity.required_columns if c not in header]
    records = (
        None
        if whole_text is None or not (missing or repeated)
        else _count_records(whole_text, raw_file.multiline)
    )
    if missing:
        return raw_file.quarantine(
            "file.missing_required_column", f"missing required columns: {', '.join(missing)}", records
        )
    if repeated:
        return raw_file.quarantine(
            "file.duplicate_column", f"columns named twice: {', '.join(repeated)}", records
        )
    raw_file.extra_columns = tuple(c for c in header if c not in entity.column_names)
    return raw_file


def _count_records(text: str, multiline: bool) -> int:
    """Data records (header excluded) of a whole file's text, the way its reader splits it."""
    line_sep = _line_sep_of(text)
    if not multiline:
        lines = text.split("\n")
        if line_sep == "\r\n":
            lines = [line.removesuffix("\r") for line in lines]
        return max(sum(1 for line in lines if line) - 1, 0)
    return max(sum(1 for _ in iter_records(text, line_sep)) - 1, 0)


def check_encoding(spark: SparkSession, files: Sequence[RawFile]) -> None:
    """Quarantines (``file.not_utf8``) every readable multi-line file whose bytes past the prefix are not
    UTF-8: one Spark scan of their lines (files read as lines are checked by the read itself)."""
    pending = [f for f in files if f.readable and not f.utf8_checked and f.multiline]
    if not pending:
        return
    frames = [
        _lines(spark, f).select(F.lit(i).alias("file"), _invalid_utf8(F.col("value")).alias("bad"))
        for i, f in enumerate(pending)
    ]
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    bad = {row["file"] for row in union.where("bad").select("file").distinct().collect()}
    for i, raw_file in enumerate(pending):
        raw_file.utf8_checked = True
        if i in bad:
            raw_file.quarantine("file.not_utf8", "not UTF-8: an invalid byte sequence past the first MiB")


def count_records(spark: SparkSession, files: Sequence[RawFile]) -> None:
    """Counts, in Spark, the data records of the files quarantined whole that were too big for the prefix."""
    for raw_file in files:
        if raw_file.readable or raw_file.records is not None:
            continue
        if raw_file.multiline:
            options = {**_CSV_OPTIONS, "header": "true", "multiLine": "true", "lineSep": raw_file.line_sep}
            raw_file.records = spark.read.options(**options).csv(raw_file.uri).count()
        else:
            lines = _lines(spark, raw_file)
            raw_file.records = max(lines.where(_line_text(raw_file) != "").count() - 1, 0)


def _invalid_utf8(text: Column) -> Column:
    # Spark keeps a line's bytes as they are; decoding them replaces an invalid sequence with U+FFFD, so the
    # two differ exactly when the line is not UTF-8 (a real U+FFFD in the data decodes to itself).
    return F.decode(text.cast("binary"), "UTF-8") != text


# --- step 2: the rows, all as text ------------------------------------------------------------------


@dataclass
class LineRead:
    """What the read of a file as lines observes while the job's first action runs."""

    raw_file: RawFile
    observation: Observation
    # Start offsets of the file's blocks, in order, as Spark split it.
    blocks: list[int]

    def block_line_counts(self) -> dict[int, int]:
        """Physical lines per block (block start -> lines); empty when the file has no line."""
        metrics = self.observation.get
        return {
            start: metrics[f"last_{j}"] + 1
            for j, start in enumerate(self.blocks)
            if metrics[f"last_{j}"] is not None
        }

    def invalid_utf8(self) -> bool:
        return bool(self.observation.get["invalid_utf8"])

    def numbering(self):
        """``(block, index) -> 1-based physical line`` of the lines of this file."""
        counts = self.block_line_counts()
        first_line = {}
        lines_before = 0
        for start in self.blocks:
            first_line[start] = lines_before + 1
            lines_before += counts.get(start, 0)
        return lambda block, index: first_line[block] + index


@dataclass
class Records:
    """The records of an entity's readable files, and the line reads' observations."""

    frame: DataFrame
    line_reads: dict[str, LineRead] = field(default_factory=dict)


def read_records(spark: SparkSession, files: Iterable[RawFile]) -> Records:
    """The data records of readable files: the contract's columns as text (null when the file lacks an
    optional column), ``source_file``, ``record_block``, ``record_index``, ``_shape_ok`` and ``_raw_line``;
    unknown columns dropped."""
    frames, line_reads = [], {}
    for raw_file in files:
        if not raw_file.readable:
            continue
        if raw_file.multiline:
            frames.append(_read_multiline(spark, raw_file))
        else:
            frame, line_reads[raw_file.source_file] = _read_lines(spark, raw_file)
            frames.append(frame)
    if not frames:
        raise ValueError("no readable file to read")
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return Records(result, line_reads)


def _positional(raw_file: RawFile) -> tuple[list[str], T.StructType]:
    # Positional names: the header may hold names Spark would reject or that clash with ours.
    positional = [f"_c{i}" for i in range(len(raw_file.columns))]
    schema = T.StructType([T.StructField(n, T.StringType()) for n in [*positional, _CORRUPT]])
    return positional, schema


def _by_name(raw_file: RawFile, positional: list[str], field_of) -> list[Column]:
    by_name = dict(zip(raw_file.columns, positional, strict=True))
    return [
        (field_of(by_name[c]) if c in by_name else F.lit(None).cast("string")).alias(c)
        for c in CONTRACT[raw_file.entity].column_names
    ]


def _row_index() -> Column:
    return F.monotonically_increasing_id().bitwiseAND(F.lit(_ROW_IN_PARTITION_MASK))


def _read_multiline(spark: SparkSession, raw_file: RawFile) -> DataFrame:
    positional, schema = _positional(raw_file)
    options = {
        **_CSV_OPTIONS,
        "header": "true",
        "multiLine": "true",
        "encoding": "UTF-8",
        "lineSep": raw_file.line_sep,
    }
    frame = spark.read.schema(schema).options(**options).csv(raw_file.uri)
    return frame.select(
        *_by_name(raw_file, positional, F.col),
        F.lit(raw_file.source_file).alias(SOURCE_FILE),
        F.lit(0).cast("long").alias(RECORD_BLOCK),
        _row_index().alias(RECORD_INDEX),
        F.col(_CORRUPT).isNull().alias(SHAPE_OK),
        F.lit(None).cast("string").alias(RAW_LINE),
    )


def _lines(spark: SparkSession, raw_file: RawFile) -> DataFrame:
    # LF splits every line, CRLF ones included (their CR is removed by _line_text): the physical lines.
    return spark.read.option("lineSep", "\n").text(raw_file.uri)


def _line_text(raw_file: RawFile) -> Column:
    value = F.col("value")
    if raw_file.line_sep == "\r\n":
        return F.when(value.endswith("\r"), F.expr("substring(value, 1, length(value) - 1)")).otherwise(value)
    return value


def block_starts(frame: DataFrame) -> list[int]:
    """The start offsets of the blocks Spark reads a one-file scan in (its partitions; no job runs)."""
    partitions = frame._jdf.queryExecution().executedPlan().execute().partitions()
    return sorted(f.start() for p in partitions for f in p.files())


def _read_lines(spark: SparkSession, raw_file: RawFile) -> tuple[DataFrame, LineRead]:
    positional, schema = _positional(raw_file)
    lines = _lines(spark, raw_file)
    blocks = block_starts(lines)
    lines = lines.select(
        _line_text(raw_file).alias(RAW_LINE),
        F.col("_metadata.file_block_start").alias(RECORD_BLOCK),
        _row_index().alias(RECORD_INDEX),
    )
    block = F.col(RECORD_BLOCK)
    observation = Observation(f"lines_{raw_file.source_file}")
    metrics = [
        F.max(F.when(block == F.lit(start), F.col(RECORD_INDEX))).alias(f"last_{j}")
        for j, start in enumerate(blocks)
    ]
    invalid = _invalid_utf8(F.col(RAW_LINE))
    if raw_file.utf8_checked:
        metrics.append(F.lit(False).alias("invalid_utf8"))
    else:
        metrics.append(F.max(invalid).alias("invalid_utf8"))
    lines = lines.observe(observation, *metrics)
    header = (block == 0) & (F.col(RECORD_INDEX) == 0)
    records = lines.where(~header & (F.col(RAW_LINE) != ""))
    parsed = records.withColumn("_r", F.from_csv(F.col(RAW_LINE), schema.simpleString(), _CSV_OPTIONS))
    frame = parsed.select(
        *_by_name(raw_file, positional, lambda name: F.col(f"_r.{name}")),
        F.lit(raw_file.source_file).alias(SOURCE_FILE),
        RECORD_BLOCK,
        RECORD_INDEX,
        F.col(f"_r.{_CORRUPT}").isNull().alias(SHAPE_OK),
        RAW_LINE,
    )
    return frame, LineRead(raw_file, observation, blocks)


# --- step 3: where a record of a multi-line file is ---------------------------------------------------


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
