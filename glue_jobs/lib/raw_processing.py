"""Raw to processed for one run date: read, validate, deduplicate and publish the day's exports.

``process_run_date`` is the whole job (the Glue entry script only adds arguments, session and exit code).
Providers and clients go first: the transactions' counterparties are checked against the day's ACCEPTED
ones (broadcast). For each entity, every file is inspected, the readable ones are read and classified
(``validation.classify``) and written in ONE pass: the write of the accepted rows observes (Spark's
``observe``, metrics gathered by the same tasks) the per-file counts and the (few) quarantined rows, so
neither a cache nor a second read of the CSV is needed. The written count is checked against the observed
one (a cheap Parquet footer count).

Written, each replacing only the run date's partition (``processed_writer``):
``<processed>/<entity>/``, ``<processed>/quarantine/entity=<entity>/``,
``<processed>/quarantine_files/<entity>/`` and, last, ``<processed>/load_manifest/``: one row per raw file
with rows_read = rows_accepted + rows_quarantined + rows_duplicate (a file quarantined whole counts all its
records as quarantined).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from glue_jobs.lib import validation
from glue_jobs.lib.contract import ENTITIES
from glue_jobs.lib.processed_writer import replace_files, replace_partition
from glue_jobs.lib.raw_reader import (
    RAW_LINE,
    RECORD_BLOCK,
    RECORD_INDEX,
    SOURCE_FILE,
    LineRead,
    RawFile,
    check_encoding,
    count_records,
    inspect_file,
    list_run_files,
    locate_records,
    read_records,
)
from glue_jobs.lib.validation import DETAIL, DUPLICATE, RULE

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType()),
        T.StructField("line_number", T.LongType()),
        T.StructField("raw_record", T.StringType()),
        T.StructField("rule", T.StringType()),
        T.StructField("detail", T.StringType()),
    ]
)
MANIFEST_SCHEMA = T.StructType(
    [
        T.StructField("entity", T.StringType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("reason", T.StringType()),
        T.StructField("rows_read", T.LongType()),
        T.StructField("rows_accepted", T.LongType()),
        T.StructField("rows_quarantined", T.LongType()),
        T.StructField("rows_duplicate", T.LongType()),
        # Schema drift: header columns the contract does not know (comma-separated), dropped from processed.
        T.StructField("extra_columns", T.StringType()),
        T.StructField("run_date", T.StringType()),
        T.StructField("job_run_id", T.StringType()),
    ]
)


@dataclass
class FileReport:
    entity: str
    source_file: str
    status: str
    reason: str | None
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    rows_duplicate: int
    extra_columns: str | None

    def __post_init__(self):
        if self.rows_read != self.rows_accepted + self.rows_quarantined + self.rows_duplicate:
            raise AssertionError(
                f"{self.source_file}: rows read != accepted + quarantined + duplicate ({self})"
            )


@dataclass
class EntityReport:
    entity: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def quarantined_share(self) -> float:
        """Share of the entity's rows that did not make it (1.0 when no row could be read at all)."""
        return self.rows_quarantined / self.rows_read if self.rows_read else 1.0

    def summary(self) -> str:
        accepted = sum(f.rows_accepted for f in self.files)
        duplicates = sum(f.rows_duplicate for f in self.files)
        whole = sum(f.status == "quarantined" for f in self.files)
        return (
            f"{self.entity}: {len(self.files)} files ({whole} quarantined whole), {self.rows_read} rows read, "
            f"{accepted} accepted, {self.rows_quarantined} quarantined ({self.quarantined_share:.2%}), "
            f"{duplicates} duplicates removed"
        )


@dataclass
class RunReport:
    run_date: dt.date
    entities: dict[str, EntityReport]

    def failures(self, threshold: float) -> list[str]:
        """Why the run must fail: an entity whose quarantined share passes the threshold (an entity with
        no readable row at all, files missing or quarantined whole, always does)."""
        return [
            f"{e.entity}: {e.quarantined_share:.2%} of rows quarantined "
            f"({f'{e.rows_quarantined} of {e.rows_read}' if e.rows_read else 'no readable row'}) "
            f"passes the threshold of {threshold:.2%}"
            for e in self.entities.values()
            if e.quarantined_share > threshold
        ]


def process_run_date(
    spark: SparkSession, raw_path: str, processed_path: str, run_date: dt.date, job_run_id: str | None = None
) -> RunReport:
    """Runs raw-to-processed for one date; writes every output; returns the per-file counts."""
    published: dict[str, str] = {}
    reports: dict[str, EntityReport] = {}
    for entity in ENTITIES:
        files = [inspect_file(f) for f in list_run_files(raw_path, entity, run_date)]
        check_encoding(spark, files)
        references = None
        if entity == "transactions":
            # From the written Parquet: small, and the providers' and clients' CSV are not parsed again.
            references = validation.references_for(
                spark.read.parquet(published["providers"]), spark.read.parquet(published["clients"])
            )
        published[entity], read = _publish_accepted(
            spark, files, processed_path, entity, run_date, references
        )
        # A file read as lines is checked for UTF-8 past its prefix by the read itself: one found not to be is
        # quarantined whole and the entity published again without it (rare: a broken export).
        not_utf8 = [line_read for line_read in read.line_reads.values() if line_read.invalid_utf8()]
        if not_utf8:
            for line_read in not_utf8:
                counted = read.counts.get(line_read.raw_file.source_file, {}).get("read", 0)
                line_read.raw_file.quarantine(
                    "file.not_utf8", "not UTF-8: an invalid byte sequence past the first MiB", counted
                )
            published[entity], read = _publish_accepted(
                spark, files, processed_path, entity, run_date, references
            )
        count_records(spark, files)
        reports[entity] = _publish_rejects(spark, files, read, processed_path, entity, run_date)
    _write_manifest(spark, reports, processed_path, run_date, job_run_id)
    return RunReport(run_date=run_date, entities=reports)


@dataclass
class EntityRead:
    """What the write of an entity's accepted rows observed on the way."""

    # {source_file: {read, accepted, quarantined, duplicate, flagged}} for files with at least one record.
    counts: dict[str, dict] = field(default_factory=dict)
    line_reads: dict[str, LineRead] = field(default_factory=dict)
    # (source_file, record_block, record_index) -> text, for the broken records of files read as lines.
    broken_lines: dict[tuple, str] = field(default_factory=dict)


def _empty(spark: SparkSession, entity: str) -> DataFrame:
    return spark.createDataFrame([], validation.processed_schema(entity))


def _publish_accepted(spark, files, processed_path, entity, run_date, references) -> tuple[str, EntityRead]:
    """Writes the accepted rows; returns the partition's URI and what was observed on the way."""
    if not any(f.readable for f in files):
        return replace_partition(_empty(spark, entity), processed_path, entity, run_date), EntityRead()
    records = read_records(spark, files)
    judged = validation.judge(records.frame, entity, run_date, references)
    # The text of the broken lines, taken before the window's shuffle so that the shuffle never carries text.
    lines_seen = Observation(f"raw_to_processed_{entity}_lines")
    broken = F.col(RULE).isNotNull() & F.col(RAW_LINE).isNotNull()
    judged = judged.observe(
        lines_seen,
        F.to_json(
            F.collect_list(F.when(broken, F.struct(SOURCE_FILE, RECORD_BLOCK, RECORD_INDEX, RAW_LINE)))
        ).alias("lines"),
    )
    readable = [f.source_file for f in files if f.readable]
    observation = Observation(f"raw_to_processed_{entity}")
    observed = validation.deduplicate(judged, entity, run_date).observe(
        observation, *_count_metrics(readable)
    )
    uri = replace_partition(validation.accepted(observed, entity), processed_path, entity, run_date)
    counts = _counts_per_file(observation.get, readable)
    written = spark.read.parquet(uri).count()
    expected = sum(c["accepted"] for c in counts.values())
    if written != expected:
        raise RuntimeError(f"{entity}: {written} accepted rows written but {expected} counted on the way")
    broken_lines = {
        (r[SOURCE_FILE], r[RECORD_BLOCK], r[RECORD_INDEX]): r[RAW_LINE]
        for r in json.loads(lines_seen.get["lines"])
    }
    return uri, EntityRead(counts, records.line_reads, broken_lines)


def _count_metrics(source_files: list[str]) -> list[Column]:
    """Per file (by position): rows read, accepted, quarantined, duplicate; and the quarantined rows (record
    index, rule, detail) of every file."""
    flag = lambda condition: F.sum(F.when(condition, 1).otherwise(0))  # noqa: E731
    accepted = ~F.col(DUPLICATE) & F.col(RULE).isNull()
    # As JSON text: PySpark hands observed metrics over as plain values only.
    flagged = F.collect_list(
        F.when(F.col(RULE).isNotNull(), F.struct(SOURCE_FILE, RECORD_BLOCK, RECORD_INDEX, RULE, DETAIL))
    )
    metrics = [F.to_json(flagged).alias("flagged")]
    for i, name in enumerate(source_files):
        here = F.col(SOURCE_FILE) == name
        metrics += [
            flag(here).alias(f"read_{i}"),
            flag(here & accepted).alias(f"accepted_{i}"),
            flag(here & F.col(RULE).isNotNull()).alias(f"quarantined_{i}"),
            flag(here & F.col(DUPLICATE)).alias(f"duplicate_{i}"),
        ]
    return metrics


def _counts_per_file(metrics: dict, source_files: list[str]) -> dict[str, dict]:
    """{source_file: {read, accepted, quarantined, duplicate, flagged}} for files with at least one record."""
    flagged = json.loads(metrics["flagged"])
    counts = {}
    for i, name in enumerate(source_files):
        # A sum over no row is null: the file had a header and no record.
        if metrics[f"read_{i}"]:
            counts[name] = {
                kind: metrics[f"{kind}_{i}"] for kind in ("read", "accepted", "quarantined", "duplicate")
            }
            counts[name]["flagged"] = [r for r in flagged if r[SOURCE_FILE] == name]
    return counts


def _publish_rejects(spark, files, read: EntityRead, processed_path, entity, run_date) -> EntityReport:
    quarantine = _quarantine_rows(files, read)
    replace_partition(
        spark.createDataFrame(quarantine, QUARANTINE_SCHEMA).coalesce(1),
        processed_path,
        f"quarantine/entity={entity}",
        run_date,
    )
    whole = {f.uri.rsplit("/", 1)[1]: f.uri for f in files if not f.readable}
    replace_files(spark, whole, processed_path, f"quarantine_files/{entity}", run_date)
    return EntityReport(entity, [_file_report(f, read.counts.get(f.source_file)) for f in files])


def _file_report(raw_file: RawFile, counts: dict | None) -> FileReport:
    if not raw_file.readable:
        n = raw_file.records
        return FileReport(
            raw_file.entity,
            raw_file.source_file,
            "quarantined",
            f"{raw_file.rule}: {raw_file.reason}",
            n,
            0,
            n,
            0,
            None,
        )
    # No counts: a header and no record.
    read, accepted, quarantined, duplicate = (
        (counts["read"], counts["accepted"], counts["quarantined"], counts["duplicate"])
        if counts
        else (0, 0, 0, 0)
    )
    extra = ",".join(raw_file.extra_columns) or None
    return FileReport(
        raw_file.entity, raw_file.source_file, "accepted", None, read, accepted, quarantined, duplicate, extra
    )


def _quarantine_rows(files: list[RawFile], read: EntityRead) -> list[tuple]:
    rows = [(f.source_file, None, None, f.rule, f.reason) for f in files if not f.readable]
    for raw_file in files:
        counts = read.counts.get(raw_file.source_file) if raw_file.readable else None
        if not counts or not counts["flagged"]:
            continue
        wanted = sorted(counts["flagged"], key=lambda r: (r[RECORD_BLOCK], r[RECORD_INDEX]))
        located = _locate(raw_file, wanted, counts["read"], read)
        header_fields = len(raw_file.columns)
        for r, (line, text) in zip(wanted, located, strict=True):
            detail = r[DETAIL]
            if r[RULE].endswith(".row.field_count"):
                detail = f"{_field_count(text)} fields, the header has {header_fields}"
            rows.append((raw_file.source_file, line, text, r[RULE], detail))
    return rows


def _locate(
    raw_file: RawFile, wanted: list[dict], records_read: int, read: EntityRead
) -> list[tuple[int, str]]:
    """(physical line, original text) of each wanted record, in order."""
    if not raw_file.multiline:
        numbering = read.line_reads[raw_file.source_file].numbering()
        return [
            (
                numbering(r[RECORD_BLOCK], r[RECORD_INDEX]),
                read.broken_lines[(raw_file.source_file, r[RECORD_BLOCK], r[RECORD_INDEX])],
            )
            for r in wanted
        ]
    located = locate_records(raw_file, (r[RECORD_INDEX] for r in wanted))
    if located.records != records_read:
        raise RuntimeError(
            f"{raw_file.source_file}: Spark read {records_read} records but the record locator found "
            f"{located.records}; the file's quoting is too broken to point at lines"
        )
    return [located.found[r[RECORD_INDEX]] for r in wanted]


def _field_count(record: str) -> int:
    return len(next(csv.reader(io.StringIO(record, newline=""))))


def _write_manifest(spark, reports: dict[str, EntityReport], processed_path, run_date, job_run_id) -> None:
    rows = [
        (
            f.entity,
            f.source_file,
            f.status,
            f.reason,
            f.rows_read,
            f.rows_accepted,
            f.rows_quarantined,
            f.rows_duplicate,
            f.extra_columns,
            run_date.isoformat(),
            job_run_id,
        )
        for report in reports.values()
        for f in report.files
    ]
    manifest = spark.createDataFrame(rows, MANIFEST_SCHEMA).coalesce(1)
    replace_partition(manifest, processed_path, "load_manifest", run_date)
