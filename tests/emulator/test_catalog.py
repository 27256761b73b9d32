"""The local catalog keeps Glue's API shapes (checked against botocore's Glue model) and persists them."""

from __future__ import annotations

import botocore.session
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.validate import ParamValidator

from energy_datalake.emulator.glue_catalog import Catalog, EntityNotFoundException, table_input
from energy_datalake.emulator.glue_crawler import crawl, register_declared_tables

GLUE = botocore.session.get_session().get_service_model("glue")


def assert_valid(params: dict, shape_name: str) -> None:
    report = ParamValidator().validate(params, GLUE.shape_for(shape_name))
    assert not report.has_errors(), report.generate_report()


def assert_valid_output(operation: str, response: dict) -> None:
    report = ParamValidator().validate(response, GLUE.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.fixture
def crawled(datalake_home):
    """processed.clients and raw.transactions crawled from two days of files."""
    for day in ("29", "30"):
        folder = datalake_home / f"s3/lake/processed/clients/year=2026/month=03/day={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"client_id": ["C1"], "tariff": ["2.0TD"]}), folder / "part-0.snappy.parquet")
        raw = datalake_home / f"s3/lake/raw/transactions/year=2026/month=03/day={day}"
        raw.mkdir(parents=True)
        (raw / f"transactions_202603{day}.csv").write_text("transaction_id,energy_kwh\nT1,1.5\n")
    crawl("processed", "processed", ["s3://lake/processed/"])
    crawl("raw", "raw", ["s3://lake/raw/transactions/"])
    return Catalog()


@pytest.mark.parametrize("database,table", [("processed", "clients"), ("raw", "transactions")])
def test_crawled_tables_have_the_shape_of_glue_get_table_and_create_table(crawled, database, table):
    stored = crawled.get_table(database, table)

    assert_valid_output("GetTable", {"Table": stored})
    assert_valid_output("GetTables", {"TableList": crawled.get_tables(database)})
    assert_valid_output("GetTableVersions", {"TableVersions": crawled.get_table_versions(database, table)})
    assert_valid({"DatabaseName": database, "TableInput": table_input(stored)}, "CreateTableRequest")
    assert_valid({"DatabaseName": database, "TableInput": table_input(stored)}, "UpdateTableRequest")


def test_databases_and_partitions_have_the_shape_of_glue(crawled):
    assert_valid_output("GetDatabase", {"Database": crawled.get_database("processed")})
    assert_valid_output("GetDatabases", {"DatabaseList": crawled.get_databases()})
    partitions = crawled.get_partitions("processed", "clients")
    assert [p["Values"] for p in partitions] == [["2026", "03", "29"], ["2026", "03", "30"]]
    assert_valid_output("GetPartitions", {"Partitions": partitions})
    inputs = [
        {k: v for k, v in p.items() if k in ("Values", "StorageDescriptor", "Parameters")} for p in partitions
    ]
    assert_valid(
        {"DatabaseName": "processed", "TableName": "clients", "PartitionInputList": inputs},
        "BatchCreatePartitionRequest",
    )


def test_the_catalog_persists_as_json_and_a_second_instance_reads_it(crawled, datalake_home):
    again = Catalog(datalake_home)

    assert again.get_table("processed", "clients") == crawled.get_table("processed", "clients")
    assert (datalake_home / "catalog" / "tables" / "processed" / "clients.json").is_file()
    assert not list((datalake_home / "catalog").rglob(".*"))  # no temporary file left behind


def test_a_new_column_is_a_new_table_version_and_a_recorded_schema_change(datalake_home):
    catalog = Catalog()
    catalog.create_database("curated")
    base = {
        "Name": "kpi",
        "StorageDescriptor": {
            "Columns": [{"Name": "a", "Type": "bigint"}],
            "Location": "s3://lake/curated/kpi/",
        },
        "PartitionKeys": [],
    }
    catalog.create_or_update_table("curated", base)
    catalog.create_or_update_table("curated", base)  # identical: no new version
    wider = {**base, "StorageDescriptor": {**base["StorageDescriptor"]}}
    wider["StorageDescriptor"]["Columns"] = [{"Name": "a", "Type": "bigint"}, {"Name": "b", "Type": "string"}]
    catalog.create_or_update_table("curated", wider)

    versions = catalog.get_table_versions("curated", "kpi")
    assert [v["VersionId"] for v in versions] == ["2", "1"]
    assert [c["Name"] for c in catalog.get_table("curated", "kpi")["StorageDescriptor"]["Columns"]] == [
        "a",
        "b",
    ]
    (change,) = catalog.get_schema_changes("curated", "kpi")
    assert change["AddedColumns"] == [{"Name": "b", "Type": "string"}]
    assert change["Applied"] is True


def test_partitions_are_created_once_and_missing_entities_are_glue_errors(crawled):
    partition = crawled.get_partitions("processed", "clients")[0]
    errors = crawled.batch_create_partition(
        "processed",
        "clients",
        [{"Values": partition["Values"], "StorageDescriptor": partition["StorageDescriptor"]}],
    )
    assert errors[0]["ErrorDetail"]["ErrorCode"] == "AlreadyExistsException"
    assert len(crawled.get_partitions("processed", "clients")) == 2
    with pytest.raises(EntityNotFoundException, match="processed.nope"):
        crawled.get_table("processed", "nope")
    with pytest.raises(EntityNotFoundException, match="Database nope"):
        crawled.get_database("nope")
    crawled.delete_table("processed", "clients")
    assert not crawled.table_exists("processed", "clients")


def test_tables_declared_in_the_templates_have_the_shape_of_glue_too(datalake_home):
    register_declared_tables()
    catalog = Catalog()

    tables = catalog.get_tables("processed")
    assert {"providers", "clients", "transactions", "quarantine", "load_manifest"} <= {
        t["Name"] for t in tables
    }
    for table in tables:
        assert_valid_output("GetTable", {"Table": table})
        assert_valid({"DatabaseName": "processed", "TableInput": table_input(table)}, "UpdateTableRequest")
