"""raw-to-processed on transaction files bigger than the driver's prefix and split into many read blocks.

The prefix and Spark's block size are shrunk so that a file of a few hundred lines behaves as a GB file
does: the header and encoding are checked from the prefix and in Spark, the file is read by several tasks,
and every quarantined line keeps its exact number and text whichever block it was read in.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from glue_jobs.lib import raw_reader
from glue_jobs.lib.raw_processing import process_run_date

DAY = dt.date(2026, 3, 29)
PARTITION = "year=2026/month=03/day=29"
FIXTURES = Path(__file__).parent / "fixtures" / DAY.isoformat()
HEADER = (FIXTURES / "transactions_20260329.csv").read_text().splitlines()[0]
BLOCK_BYTES = 2048


def purchase(n: int) -> str:
    return f"T{n:05d},PURCHASE,P001,2026-03-29T00:00:00+01:00,,1000.000,55.20,55.20,2026-03-29T00:05:00+01:00"


def day_with(tmp_path: Path, transactions: dict[str, bytes]) -> Path:
    raw = tmp_path / "raw"
    for entity in ("providers", "clients"):
        folder = raw / entity / PARTITION
        folder.mkdir(parents=True)
        (folder / f"{entity}_20260329.csv").write_bytes((FIXTURES / f"{entity}_20260329.csv").read_bytes())
    folder = raw / "transactions" / PARTITION
    folder.mkdir(parents=True)
    for name, content in transactions.items():
        (folder / name).write_bytes(content)
    return raw


def big_file(sep: str) -> tuple[bytes, dict[int, str]]:
    """~300 lines (several blocks) with broken lines spread over them, an empty line and a quoted field
    holding an opening quote; returns the content and {line number: text} of the lines to quarantine."""
    lines = [HEADER]
    broken = {}
    for n in range(1, 300):
        if n % 70 == 0:
            text = purchase(n) + ",surplus"
            broken[len(lines) + 1] = text
        elif n == 151:
            lines.append("")
            text = purchase(n)
        elif n == 222:
            text = purchase(n).replace("1000.000", '"1000.000')
            broken[len(lines) + 1] = text
        else:
            text = purchase(n)
        lines.append(text)
    return (sep.join(lines) + sep).encode(), broken


@pytest.fixture
def small_blocks(spark, monkeypatch):
    monkeypatch.setattr(raw_reader, "PREFIX_BYTES", 512)
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(BLOCK_BYTES))
    yield
    spark.conf.set("spark.sql.files.maxPartitionBytes", previous)


def quarantine(spark, processed: Path) -> dict[int, tuple[str, str]]:
    rows = spark.read.parquet(str(processed / "quarantine" / "entity=transactions")).collect()
    return {r["line_number"]: (r["raw_record"], r["rule"]) for r in rows}


@pytest.mark.parametrize("sep", ["\n", "\r\n"])
def test_lines_read_in_many_blocks_keep_their_numbers_and_text(spark, tmp_path, small_blocks, sep):
    content, broken = big_file(sep)
    raw = day_with(tmp_path, {"transactions_20260329.csv": content})
    files = [raw_reader.inspect_file(f) for f in raw_reader.list_run_files(str(raw), "transactions", DAY)]
    assert not files[0].utf8_checked
    blocks = raw_reader.block_starts(raw_reader._lines(spark, files[0]))
    assert len(blocks) >= len(content) // BLOCK_BYTES >= 2
    report = process_run_date(spark, str(raw), str(tmp_path / "processed"), DAY)
    found = quarantine(spark, tmp_path / "processed")
    assert {line: text for line, (text, _) in found.items()} == broken
    assert {rule for _, rule in found.values()} == {"transactions.row.field_count"}
    (file_report,) = report.entities["transactions"].files
    # 299 records and one empty line (no record).
    assert (file_report.rows_read, file_report.rows_quarantined) == (299, len(broken))
    assert file_report.rows_accepted == 299 - len(broken)


def test_invalid_utf8_past_the_prefix_quarantines_the_file_whole(spark, tmp_path, small_blocks):
    content, _ = big_file("\n")
    bad = content.replace(purchase(250).encode(), purchase(250).encode().replace(b"P001", b"P\xf1\xf1"))
    good = (HEADER + "\n" + purchase(9001) + "\n").encode()
    raw = day_with(tmp_path, {"transactions_20260329.csv": bad, "transactions_20260329_2.csv": good})
    report = process_run_date(spark, str(raw), str(tmp_path / "processed"), DAY)
    by_name = {f.source_file.rsplit("/", 1)[1]: f for f in report.entities["transactions"].files}
    whole = by_name["transactions_20260329.csv"]
    assert whole.status == "quarantined" and whole.reason.startswith("file.not_utf8")
    assert (whole.rows_read, whole.rows_quarantined) == (299, 299)
    assert by_name["transactions_20260329_2.csv"].rows_accepted == 1
    accepted = spark.read.parquet(str(tmp_path / "processed" / "transactions")).collect()
    assert [r["transaction_id"] for r in accepted] == ["T09001"]


def test_a_big_file_missing_a_column_is_counted_in_spark(spark, tmp_path, small_blocks):
    content, _ = big_file("\n")
    header = HEADER.replace("transaction_id,", "id,")
    raw = day_with(tmp_path, {"transactions_20260329.csv": content.replace(HEADER.encode(), header.encode())})
    report = process_run_date(spark, str(raw), str(tmp_path / "processed"), DAY)
    (whole,) = report.entities["transactions"].files
    assert whole.reason.startswith("file.missing_required_column")
    assert whole.rows_read == whole.rows_quarantined == 299


def test_a_big_multiline_file_is_checked_for_utf8_in_spark(spark, tmp_path, small_blocks):
    clients = (FIXTURES / "clients_20260329.csv").read_bytes()
    padded = clients + b"\n" * 600
    raw = day_with(tmp_path, {"transactions_20260329.csv": (HEADER + "\n" + purchase(1) + "\n").encode()})
    (raw / "clients" / PARTITION / "clients_20260329_2.csv").write_bytes(padded + b"C9,\xff\n")
    files = [raw_reader.inspect_file(f) for f in raw_reader.list_run_files(str(raw), "clients", DAY)]
    assert [f.readable for f in files] == [True, True]
    raw_reader.check_encoding(spark, files)
    assert [f.rule for f in files] == [None, "file.not_utf8"]
