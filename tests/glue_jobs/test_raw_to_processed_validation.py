"""validation.classify on tiny DataFrames built in the test: verdicts, order of rules, duplicates, CUPS."""

from __future__ import annotations

import datetime as dt

from glue_jobs.lib import contract
from glue_jobs.lib.raw_reader import RECORD_INDEX, SHAPE_OK, SOURCE_FILE
from glue_jobs.lib.validation import checks_for, classify

RUN_DATE = dt.date(2026, 3, 29)
TS = "2026-03-28T10:00:00+01:00"


def _records(spark, entity: str, rows: list[tuple], source_file="f.csv"):
    columns = [*contract.CONTRACT[entity].column_names, SOURCE_FILE, RECORD_INDEX, SHAPE_OK]
    data = [(*row, source_file, i, True) for i, row in enumerate(rows)]
    return spark.createDataFrame(data, ", ".join(f"{c} {t}" for c, t in zip(
        columns, ["string"] * (len(columns) - 3) + ["string", "bigint", "boolean"], strict=True)))  # fmt: skip


def _verdicts(frame) -> dict:
    return {r[0]: (r["is_duplicate"], r["rule"]) for r in frame.collect()}


def test_field_count_comes_first_then_the_contract_order(spark):
    names = [c.rule for c in checks_for("transactions", RUN_DATE)]
    assert names[0] == "transactions.row.field_count"
    contract_order = [r.name for r in contract.rules_for("transactions") if r.name != names[0]]
    assert names[1:] == contract_order


def test_a_row_breaking_several_rules_gets_the_first(spark):
    rows = [
        ("P1", "N", "B36174555", "GENERATOR", "WIND", "ES", "true", TS),
        # Bad type, bad country and bad tax id: provider_type.enum is checked first.
        ("P2", "N", "B36174556", "BROKER", None, "XX", "true", TS),
        ("P3", "N", "B36174556", "MARKET", None, "XX", "true", TS),
    ]
    verdicts = _verdicts(classify(_records(spark, "providers", rows), "providers", RUN_DATE))
    assert verdicts == {
        "P1": (False, None),
        "P2": (False, "providers.provider_type.enum"),
        "P3": (False, "providers.tax_id.format"),
    }


def test_later_rows_of_a_key_are_duplicates_whatever_their_content(spark):
    row = ("P1", "N", "B36174555", "GENERATOR", "WIND", "ES", "true", TS)
    rows = [row, row, ("P1", "Other", "B36174555", "TRADER", None, "FR", "false", TS)]
    frame = classify(_records(spark, "providers", rows), "providers", RUN_DATE)
    ordered = sorted(frame.collect(), key=lambda r: r[RECORD_INDEX])
    assert [(r["is_duplicate"], r["rule"]) for r in ordered] == [(False, None), (True, None), (True, None)]
    assert ordered[0]["legal_name"] == "N"


def test_a_cups_belongs_to_the_first_client_that_passes_the_rules_before_uniqueness(spark):
    cups = "ES0055564639800631GY"
    base = ("59202938H", "N", None, cups, "2.0TD", "4.600", "28", "RESIDENTIAL", "2020-01-15", TS)
    rows = [
        ("C0", "59202938X", *base[1:]),  # bad tax id: quarantined, does not own the CUPS
        ("C1", *base),
        ("C2", *base),
    ]
    verdicts = _verdicts(classify(_records(spark, "clients", rows), "clients", RUN_DATE))
    assert verdicts == {
        "C0": (False, "clients.tax_id.format"),
        "C1": (False, None),
        "C2": (False, "clients.cups.duplicate"),
    }


def test_timestamps_are_typed_as_sparks_own_cast_reads_them(spark):
    """The typing casts the wall time and subtracts the offset itself (faster); Spark's cast of the whole
    text is the oracle, for the exports' offsets, any other offset, fractions and impossible values."""
    from pyspark.sql import functions as F

    from glue_jobs.lib.validation import typed

    texts = [
        "2026-03-29T00:00:00+01:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-03-29T23:59:59.5Z",
        "2026-03-29T23:59:59.123456-03:30",
        "2024-02-29T12:00:00.1+00:00",
        "2026-03-29T10:00:00-00:00",
        "2026-03-29T10:00:00+14:45",
        "2026-03-29T10:00:00+18:00",
        "2026-03-29T10:00:00-18:00",
        "1969-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59.999999Z",
        # Not instants: each is null for both.
        "2026-02-30T00:00:00Z",
        "2026-03-29T24:00:00Z",
        "2026-03-29T23:60:00Z",
        "2026-03-29T23:59:60Z",
        "2026-13-01T00:00:00Z",
        "2026-03-29T10:00:00+18:01",
        "2026-03-29T10:00:00+05:60",
    ]
    column = next(c for c in contract.CONTRACT["transactions"].columns if c.name == "delivery_start")
    frame = spark.createDataFrame([(t,) for t in texts], "v string")
    rows = frame.select(
        "v", F.col("v").cast("timestamp").alias("spark"), typed(column, F.col("v")).alias("ours")
    )
    found = {r.v: (r.ours, r.spark) for r in rows.collect()}
    assert {t: ours for t, (ours, _) in found.items()} == {t: expected for t, (_, expected) in found.items()}
    assert sum(ours is None for ours, _ in found.values()) == 7
