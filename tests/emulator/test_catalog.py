"""The local catalog keeps Glue's API shapes (checked against botocore's Glue model) and persists them."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

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


def partitioned_table(catalog: Catalog, keys=("year", "month", "day")) -> None:
    catalog.create_database("processed")
    catalog.create_or_update_table(
        "processed",
        {
            "Name": "clients",
            "StorageDescriptor": {"Columns": [{"Name": "client_id", "Type": "string"}]},
            "PartitionKeys": [{"Name": k, "Type": "string"} for k in keys],
        },
    )


def partition(*values: str) -> dict:
    return {"Values": list(values), "StorageDescriptor": {"Location": "s3://lake/" + "/".join(values) + "/"}}


def test_a_new_partition_is_written_alone_and_the_table_file_is_not_rewritten(datalake_home):
    catalog = Catalog()
    partitioned_table(catalog)
    catalog.batch_create_partition("processed", "clients", [partition("2026", "03", "29")])
    stored = sorted(p for p in (datalake_home / "catalog").rglob("*.json"))
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stored}

    catalog.batch_create_partition("processed", "clients", [partition("2026", "03", "30")])

    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stored} == before
    new = datalake_home / "catalog/partitions/processed/clients/year=2026/month=03/day=30.json"
    assert new.is_file()
    assert catalog.get_partition("processed", "clients", ["2026", "03", "30"])["Values"] == [
        "2026",
        "03",
        "30",
    ]
    assert_valid_output(
        "GetPartition", {"Partition": catalog.get_partition("processed", "clients", ["2026", "03", "29"])}
    )
    with pytest.raises(EntityNotFoundException, match=r"\['2026', '03', '31'\]"):
        catalog.get_partition("processed", "clients", ["2026", "03", "31"])


def test_get_partitions_filters_with_an_expression_and_lists_only_the_matching_folders(
    datalake_home, monkeypatch
):
    catalog = Catalog()
    partitioned_table(catalog)
    days = [("2026", "02", "28"), ("2026", "03", "29"), ("2026", "03", "30"), ("2027", "03", "29")]
    catalog.batch_create_partition("processed", "clients", [partition(*d) for d in days])
    listed = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(Path(path).name) or scandir(path))

    found = catalog.get_partitions("processed", "clients", "year = '2026' AND month = '03' AND day = '29'")

    assert [p["Values"] for p in found] == [["2026", "03", "29"]]
    # The table's folder, then only the matching year's and month's: never year=2027 nor month=02.
    assert listed == ["clients", "year=2026", "month=03"]
    assert_valid_output("GetPartitions", {"Partitions": found})
    monkeypatch.setattr(os, "scandir", scandir)
    ranged = catalog.get_partitions(
        "processed", "clients", "month IN ('02', '03') and day >= '29' AND year <> '2027'"
    )
    assert [p["Values"] for p in ranged] == [["2026", "03", "29"], ["2026", "03", "30"]]
    assert len(catalog.get_partitions("processed", "clients")) == 4


@pytest.mark.parametrize(
    "expression, message",
    [
        ("year = '2026' OR day = '29'", "expected AND, found 'OR'"),
        ("hour = '01'", "'hour' is not a partition key"),
        ("day = 29", "at '29'"),
        ("day LIKE '2%'", "found 'LIKE'"),
        ("day =", "at the end"),
        ("day = '29' ;", "at ';'"),
    ],
)
def test_an_expression_outside_the_supported_subset_is_an_error_naming_it(datalake_home, expression, message):
    catalog = Catalog()
    partitioned_table(catalog)

    with pytest.raises(ValueError, match=re.escape(message)):
        catalog.get_partitions("processed", "clients", expression)


def test_any_partition_value_round_trips_and_deleting_leaves_no_empty_folder(datalake_home):
    catalog = Catalog()
    partitioned_table(catalog, keys=("entity", "day"))
    odd = [["a/b", "x=y"], ["", ".."], ["C%20", "día"]]
    assert catalog.batch_create_partition("processed", "clients", [partition(*v) for v in odd]) == []

    assert catalog.get_partition_values("processed", "clients") == {tuple(v) for v in odd}
    assert [p["Values"] for p in catalog.get_partitions("processed", "clients")] == sorted(odd)
    assert catalog.get_partition("processed", "clients", ["", ".."])["Values"] == ["", ".."]
    wrong = catalog.batch_create_partition("processed", "clients", [partition("only-one")])
    assert wrong[0]["ErrorDetail"]["ErrorCode"] == "InvalidInputException"
    assert (
        "1 partition value(s) ['only-one'] for the 2 partition key(s)"
        in wrong[0]["ErrorDetail"]["ErrorMessage"]
    )

    errors = catalog.batch_delete_partition("processed", "clients", [*odd, ["a/b", "nope"]])

    assert [e["PartitionValues"] for e in errors] == [["a/b", "nope"]]
    assert errors[0]["ErrorDetail"]["ErrorCode"] == "EntityNotFoundException"
    assert_valid_output("BatchDeletePartition", {"Errors": errors})
    assert list((datalake_home / "catalog/partitions/processed/clients").iterdir()) == []
    assert catalog.get_partitions("processed", "clients") == []


def test_deleting_a_table_deletes_its_partitions(datalake_home):
    catalog = Catalog()
    partitioned_table(catalog)
    catalog.batch_create_partition("processed", "clients", [partition("2026", "03", "29")])

    catalog.delete_table("processed", "clients")
    partitioned_table(catalog)

    assert catalog.get_partitions("processed", "clients") == []


def test_an_older_catalog_with_the_partitions_in_the_table_file_keeps_them(datalake_home):
    catalog = Catalog()
    partitioned_table(catalog)
    table_file = datalake_home / "catalog/tables/processed/clients.json"
    state = json.loads(table_file.read_text())
    old_partition = {
        **partition("2026", "03", "29"),
        "DatabaseName": "processed",
        "TableName": "clients",
        "CreationTime": "2026-03-29T06:00:00+00:00",
        "CatalogId": "000000000000",
    }
    table_file.write_text(json.dumps({**state, "partitions": [old_partition]}))

    found = Catalog().get_partitions("processed", "clients")

    assert [p["Values"] for p in found] == [["2026", "03", "29"]]
    assert found[0]["CreationTime"] == datetime(2026, 3, 29, 6, tzinfo=UTC)
    assert "partitions" not in json.loads(table_file.read_text())
    assert (datalake_home / "catalog/partitions/processed/clients/year=2026/month=03/day=29.json").is_file()
