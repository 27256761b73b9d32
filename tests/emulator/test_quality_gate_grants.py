"""The quality gate's grants on the local Athena engine: every table the checks read, no personal data."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlglot import exp, parse_one

from energy_datalake import templates
from energy_datalake.checks import rendered_checks
from energy_datalake.emulator.athena import AccessDenied, QueryEngine
from energy_datalake.emulator.glue_crawler import register_declared_tables, run_crawler
from glue_jobs.lib.curated_tables import CURATED_TABLES

GATE = templates.QUALITY_GATE
PARTITION = "year=2026/month=03/day=29"


def tables_the_checks_read() -> list[str]:
    tables = set()
    for sql in rendered_checks("2026-03-29").values():
        statement = parse_one(sql, read="athena")
        tables |= {f"{t.db}.{t.name}" for t in statement.find_all(exp.Table) if t.db}
    return sorted(tables)


@pytest.fixture
def lake(datalake_home):
    """The declared processed tables, one quarantined row, and every curated table crawled from a file."""
    bucket = datalake_home / "s3" / templates.load().lake_bucket
    register_declared_tables()
    folder = bucket / "processed" / "quarantine" / f"entity=clients/{PARTITION}"
    folder.mkdir(parents=True)
    quarantined = pa.table(
        {
            "source_file": ["clients_20260329.csv"],
            "line_number": pa.array([7], pa.int64()),
            "raw_record": ["C9,12345678Z,Begoña Muñoz,b@x.es"],
            "rule": ["clients.tariff.enum"],
            "detail": ["tariff 9.9TD is not a tariff"],
        }
    )
    pq.write_table(quarantined, folder / "part-00000.snappy.parquet")
    run_crawler("processed-data-crawler")
    for table in CURATED_TABLES:
        folder = bucket / "curated" / table / PARTITION
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"delivery_date": ["2026-03-29"]}), folder / "part-00000.snappy.parquet")
    run_crawler("curated-data-crawler")
    return bucket


def test_the_checks_read_processed_and_curated_tables_only():
    tables = tables_the_checks_read()
    assert {t.split(".")[0] for t in tables} == {"processed", "curated"}
    assert {"processed.quarantine", "processed.load_manifest"} <= set(tables)


@pytest.mark.parametrize("table", tables_the_checks_read())
def test_the_quality_gate_may_read_every_table_the_checks_read(lake, table):
    result = QueryEngine(GATE).execute(f"SELECT count(*) AS n FROM {table} WHERE year = '2026'")
    assert result.columns == ["n"]


def test_the_quality_gate_is_denied_the_clients_personal_columns(lake):
    engine = QueryEngine(GATE)
    for column in ("email", "tax_id", "full_name"):
        with pytest.raises(AccessDenied, match=f"may not read column {column} of table processed.clients"):
            engine.execute(f"SELECT {column} FROM processed.clients")
    assert engine.execute("SELECT count(client_id) FROM processed.clients").rows == [(0,)]


def test_the_quality_gate_counts_the_quarantine_without_its_raw_record(lake):
    engine = QueryEngine(GATE)
    with pytest.raises(AccessDenied, match="may not read column raw_record of table processed.quarantine"):
        engine.execute("SELECT raw_record FROM processed.quarantine")
    everything = engine.execute("SELECT * FROM processed.quarantine")
    assert "raw_record" not in everything.columns
    assert {"line_number", "rule", "entity"} <= set(everything.columns)
    counted = engine.execute("SELECT entity, count(*) FROM processed.quarantine GROUP BY entity")
    assert counted.rows == [("clients", 1)]


def test_the_quality_gate_reads_no_raw_table(lake):
    with pytest.raises(AccessDenied, match="no SELECT permission on table raw.clients"):
        QueryEngine(GATE).execute("SELECT count(*) FROM raw.clients")
