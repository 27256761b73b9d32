"""The local crawler infers schemas and partitions like Glue and honours the SchemaChangePolicy."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energy_datalake import config, templates
from energy_datalake.emulator.glue_catalog import Catalog
from energy_datalake.emulator.glue_crawler import (
    crawl,
    refresh_catalog,
    register_declared_tables,
    run_crawler,
)

LOG = {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
UPDATE = {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"}

CSV = (
    "transaction_id,energy_kwh,price_eur_mwh,delivery_start,active,signup_date,note\r\n"
    'T1,12.5,-3.25,2026-03-29T01:00:00+01:00,true,2026-01-31,"a, quoted"\r\n'
    "T2,7,4000,2026-03-29T02:00:00+02:00,false,2026-02-01,\r\n"
)


def write_csv(home, entity, day, text, name=None):
    folder = home / f"s3/lake/raw/{entity}/year=2026/month=03/day={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (name or f"{entity}_202603{day}.csv")).write_text(text, encoding="utf-8")
    (folder / "_SUCCESS").write_text("")
    return folder


def write_parquet(home, table, partition, data: pa.Table, mtime=None):
    folder = home / "s3/lake/processed" / table / partition
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-00000.snappy.parquet"
    pq.write_table(data, path)
    (folder / ".part-00000.snappy.parquet.crc").write_bytes(b"crc")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def columns(table):
    return {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}


def test_csv_schema_is_sniffed_into_glue_types_with_hive_partitions(datalake_home):
    write_csv(datalake_home, "transactions", "29", CSV)
    write_csv(datalake_home, "transactions", "30", CSV)

    summary = crawl("raw-data-crawler", "raw", ["s3://lake/raw/transactions/"], LOG)

    table = Catalog().get_table("raw", "transactions")
    assert summary.tables_created == ["raw.transactions"]
    assert summary.partitions_added == 2
    assert columns(table) == {
        "transaction_id": "string",
        "energy_kwh": "double",
        "price_eur_mwh": "double",
        "delivery_start": "timestamp",
        "active": "boolean",
        "signup_date": "date",
        "note": "string",
    }
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month", "day"]
    assert table["Parameters"]["classification"] == "csv"
    assert table["StorageDescriptor"]["Location"] == "s3://lake/raw/transactions/"
    partitions = Catalog().get_partitions("raw", "transactions")
    assert partitions[1]["Values"] == ["2026", "03", "30"]
    assert (
        partitions[1]["StorageDescriptor"]["Location"]
        == "s3://lake/raw/transactions/year=2026/month=03/day=30/"
    )


def test_parquet_schema_comes_from_the_footer_one_table_per_folder(datalake_home):
    typed = pa.table(
        {
            "client_id": pa.array(["C1"]),
            "contracted_power_kw": pa.array([Decimal("4.600")], pa.decimal128(8, 3)),
            "signup_date": pa.array([date(2026, 1, 1)]),
            "updated_at": pa.array([datetime(2026, 3, 29, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "active": pa.array([True]),
            "rows_read": pa.array([3], pa.int64()),
        }
    )
    write_parquet(datalake_home, "clients", "year=2026/month=03/day=29", typed)
    quarantine = pa.table({"rule": ["clients.tariff.enum"], "line_number": pa.array([2], pa.int64())})
    write_parquet(datalake_home, "quarantine", "entity=clients/year=2026/month=03/day=29", quarantine)

    summary = crawl("processed-data-crawler", "processed", ["s3://lake/processed/"], LOG)

    catalog = Catalog()
    assert sorted(summary.tables_created) == ["processed.clients", "processed.quarantine"]
    assert columns(catalog.get_table("processed", "clients")) == {
        "client_id": "string",
        "contracted_power_kw": "decimal(8,3)",
        "signup_date": "date",
        "updated_at": "timestamp",
        "active": "boolean",
        "rows_read": "bigint",
    }
    quarantine_table = catalog.get_table("processed", "quarantine")
    assert [k["Name"] for k in quarantine_table["PartitionKeys"]] == ["entity", "year", "month", "day"]
    assert catalog.get_partitions("processed", "quarantine")[0]["Values"] == ["clients", "2026", "03", "29"]
    assert quarantine_table["Parameters"]["classification"] == "parquet"


def test_a_new_column_under_log_is_recorded_but_the_schema_is_kept(datalake_home):
    write_parquet(
        datalake_home, "clients", "year=2026/month=03/day=29", pa.table({"client_id": ["C1"]}), 1_000
    )
    crawl("processed-data-crawler", "processed", ["s3://lake/processed/"], LOG)
    wider = pa.table({"client_id": ["C1"], "loyalty_tier": ["gold"]})
    write_parquet(datalake_home, "clients", "year=2026/month=03/day=30", wider, 2_000)

    summary = crawl("processed-data-crawler", "processed", ["s3://lake/processed/"], LOG)

    catalog = Catalog()
    assert columns(catalog.get_table("processed", "clients")) == {"client_id": "string"}
    assert summary.schema_changes == [
        {
            "table": "processed.clients",
            "columns": [{"Name": "loyalty_tier", "Type": "string"}],
            "applied": False,
        }
    ]
    crawl("processed-data-crawler", "processed", ["s3://lake/processed/"], LOG)  # the same change, again
    (change,) = catalog.get_schema_changes("processed", "clients")
    assert change["AddedColumns"] == [{"Name": "loyalty_tier", "Type": "string"}]
    assert change["Applied"] is False
    assert len(catalog.get_partitions("processed", "clients")) == 2


def test_a_new_column_under_update_in_database_is_a_new_table_version(datalake_home):
    write_csv(datalake_home, "clients", "29", "client_id,tariff\nC1,2.0TD\n")
    crawl("raw-data-crawler", "raw", ["s3://lake/raw/clients/"], UPDATE)
    folder = write_csv(datalake_home, "clients", "30", "client_id,tariff,email\nC1,2.0TD,a@b.es\n")
    os.utime(folder / "clients_20260330.csv", (4_000_000_000, 4_000_000_000))

    summary = crawl("raw-data-crawler", "raw", ["s3://lake/raw/clients/"], UPDATE)

    catalog = Catalog()
    assert list(columns(catalog.get_table("raw", "clients"))) == ["client_id", "tariff", "email"]
    assert summary.tables_updated == ["raw.clients"]
    assert [v["VersionId"] for v in catalog.get_table_versions("raw", "clients")] == ["2", "1"]
    assert catalog.get_schema_changes("raw", "clients")[0]["Applied"] is True


def test_recrawl_is_idempotent_and_vanished_partitions_follow_the_delete_behaviour(datalake_home):
    write_csv(datalake_home, "providers", "29", "provider_id\nP1\n")
    gone = write_csv(datalake_home, "providers", "30", "provider_id\nP1\n")
    crawl("c", "raw", ["s3://lake/raw/providers/"], UPDATE)

    again = crawl("c", "raw", ["s3://lake/raw/providers/"], UPDATE)
    assert (again.tables_created, again.tables_updated, again.partitions_added) == ([], [], 0)
    assert [v["VersionId"] for v in Catalog().get_table_versions("raw", "providers")] == ["1"]

    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    logged = crawl("c", "raw", ["s3://lake/raw/providers/"], LOG)
    assert logged.partitions_deleted == 0
    deleted = crawl("c", "raw", ["s3://lake/raw/providers/"], UPDATE)
    assert deleted.partitions_deleted == 1
    assert [p["Values"] for p in Catalog().get_partitions("raw", "providers")] == [["2026", "03", "29"]]


def test_new_folders_only_sniffs_only_the_new_partitions(datalake_home):
    policy = {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
    write_parquet(
        datalake_home, "transactions", "year=2026/month=03/day=29", pa.table({"transaction_id": ["T1"]})
    )
    crawl("p", "processed", ["s3://lake/processed/transactions/"], LOG, policy)

    quiet = crawl("p", "processed", ["s3://lake/processed/transactions/"], LOG, policy)
    wider = pa.table({"transaction_id": ["T2"], "channel": ["web"]})
    write_parquet(datalake_home, "transactions", "year=2026/month=03/day=30", wider)
    seen = crawl("p", "processed", ["s3://lake/processed/transactions/"], LOG, policy)

    assert (quiet.partitions_added, quiet.schema_changes) == (0, [])
    assert seen.partitions_added == 1
    assert seen.schema_changes[0]["columns"] == [{"Name": "channel", "Type": "string"}]


def test_a_missing_or_empty_target_creates_no_table(datalake_home):
    (datalake_home / "s3/lake/raw/clients/year=2026/month=03/day=29").mkdir(parents=True)
    (datalake_home / "s3/lake/raw/clients/year=2026/month=03/day=29/_SUCCESS").write_text("")

    summary = crawl("c", "raw", ["s3://lake/raw/clients/", "s3://lake/raw/nothing/"], LOG)

    assert summary.tables_created == []
    assert Catalog().get_tables("raw") == []


def test_excluded_files_are_neither_sniffed_nor_partitions(datalake_home):
    write_csv(datalake_home, "clients", "29", "client_id\nC1\n")
    write_csv(datalake_home, "clients", "30", "whatever,else\n1,2\n", name="notes_bad.csv")
    target = "s3://lake/raw/clients/"

    crawl("c", "raw", [target], UPDATE, exclusions={target: ["**/*_bad.csv"]})

    assert columns(Catalog().get_table("raw", "clients")) == {"client_id": "string"}
    assert [p["Values"] for p in Catalog().get_partitions("raw", "clients")] == [["2026", "03", "29"]]


def test_the_templates_crawlers_run_by_name_and_declared_tables_exist_before_data(datalake_home):
    environment = templates.load()

    summary = run_crawler("processed-data-crawler")

    catalog = Catalog()
    declared = {t.split(".")[1] for t in environment.tables if t.startswith("processed.")}
    assert {t["Name"] for t in catalog.get_tables("processed")} == declared
    quarantine = catalog.get_table("processed", "quarantine")
    assert [k["Name"] for k in quarantine["PartitionKeys"]] == ["entity", "year", "month", "day"]
    assert (
        quarantine["StorageDescriptor"]["Location"] == f"s3://{environment.lake_bucket}/processed/quarantine/"
    )
    assert (summary.tables_created, summary.partitions_added) == ([], 0)
    with pytest.raises(KeyError, match="no crawler 'nope'"):
        run_crawler("nope")


def test_refresh_catalog_adds_the_processed_and_curated_partitions(datalake_home):
    bucket = datalake_home / "s3" / templates.load().lake_bucket
    for table in ("processed/transactions", "curated/daily_energy_balance"):
        folder = bucket / table / "year=2026/month=03/day=29"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"transaction_id": ["T1"]}), folder / "part-00000.snappy.parquet")

    summaries = refresh_catalog()

    assert [s.crawler for s in summaries] == ["processed-data-crawler", "curated-data-crawler"]
    catalog = Catalog()
    assert len(catalog.get_partitions("processed", "transactions")) == 1
    assert catalog.get_table("curated", "daily_energy_balance")["Parameters"]["classification"] == "parquet"
    assert len(catalog.get_partitions("curated", "daily_energy_balance")) == 1


def test_an_unreadable_file_is_reported_and_the_newest_readable_one_is_sniffed(datalake_home):
    write_csv(datalake_home, "clients", "29", "client_id,tariff\nC1,2.0TD\n")
    folder = write_csv(datalake_home, "clients", "30", "")
    bad = folder / "clients_20260330.csv"
    bad.write_bytes("client_id,full_name\nC2,Muñoz\n".encode("utf-16"))
    os.utime(bad, (4_000_000_000, 4_000_000_000))

    summary = crawl("c", "raw", ["s3://lake/raw/clients/"], UPDATE)

    assert columns(Catalog().get_table("raw", "clients")) == {"client_id": "string", "tariff": "string"}
    assert len(summary.unreadable_files) == 1 and str(bad) in summary.unreadable_files[0]
    assert summary.partitions_added == 2


def test_declared_tables_follow_their_declaration_and_an_unchanged_one_changes_nothing(datalake_home):
    catalog = Catalog()
    catalog.create_database("processed")
    stale = {
        "Name": "load_manifest",
        "StorageDescriptor": {"Columns": [{"Name": "entity", "Type": "string"}]},
    }
    catalog.create_or_update_table("processed", stale)

    changed = register_declared_tables(database="processed")
    again = register_declared_tables(database="processed")

    declared = templates.load().tables["processed.load_manifest"]
    table = catalog.get_table("processed", "load_manifest")
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == list(declared.columns)
    assert table["VersionId"] == "2"
    assert "processed.load_manifest" in changed and again == []


def test_same_shaped_curated_tables_are_crawled_each_into_its_own_table(datalake_home):
    bucket = datalake_home / "s3" / templates.load().lake_bucket
    same_shape = pa.table({"delivery_date": [date(2026, 3, 29)], "sold_kwh": [Decimal("1.500")]})
    for table in ("daily_energy_balance", "daily_sales_by_segment", "not_a_kpi_table"):
        folder = bucket / "curated" / table / "year=2026/month=03/day=29"
        folder.mkdir(parents=True)
        pq.write_table(same_shape, folder / "part-00000.snappy.parquet")

    summary = run_crawler("curated-data-crawler")

    catalog = Catalog()
    assert sorted(summary.tables_created) == [
        "curated.daily_energy_balance",
        "curated.daily_sales_by_segment",
    ]
    for name in ("daily_energy_balance", "daily_sales_by_segment"):
        table = catalog.get_table("curated", name)
        assert table["StorageDescriptor"]["Location"] == f"s3://{bucket.name}/curated/{name}/"
        assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month", "day"]
        assert "partition_0" not in columns(table)
    # Only the curated tables of glue_jobs/lib/curated_tables.py are the crawler's targets.
    assert not catalog.table_exists("curated", "not_a_kpi_table")


def test_refresh_catalog_needs_the_templates_curated_crawler(datalake_home, tmp_path, monkeypatch):
    copy = tmp_path / "cloudformation"
    shutil.copytree(config.CLOUDFORMATION_DIR, copy)
    catalog_yaml = copy / "catalog.yaml"
    catalog_yaml.write_text(
        catalog_yaml.read_text().replace(
            "DatabaseName: !Ref CuratedDatabase\n", "DatabaseName: !Ref ProcessedDatabase\n", 1
        )
    )
    monkeypatch.setattr(config, "CLOUDFORMATION_DIR", copy)

    with pytest.raises(LookupError, match="expected one crawler of the curated database in the templates"):
        refresh_catalog()


NEW_FOLDERS_ONLY = {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}


def test_an_incremental_crawl_looks_only_into_the_folders_the_catalog_lacks(datalake_home, monkeypatch):
    from energy_datalake.emulator import glue_catalog, glue_crawler

    target = "s3://lake/processed/transactions/"
    for day in range(1, 29):
        write_parquet(
            datalake_home,
            "transactions",
            f"year=2026/month=02/day={day:02d}",
            pa.table({"transaction_id": ["T"]}),
        )
    first = crawl("p", "processed", [target], LOG, NEW_FOLDERS_ONLY)
    new = write_parquet(
        datalake_home, "transactions", "year=2026/month=03/day=01", pa.table({"transaction_id": ["T"]})
    )
    listed, sniffed, read = [], [], []
    scandir, infer, read_json = os.scandir, glue_crawler.infer_columns, glue_catalog._read_json
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(str(path)) or scandir(path))
    monkeypatch.setattr(glue_crawler, "infer_columns", lambda path: sniffed.append(path) or infer(path))
    monkeypatch.setattr(glue_catalog, "_read_json", lambda path: read.append(path) or read_json(path))

    summary = crawl("p", "processed", [target], LOG, NEW_FOLDERS_ONLY)

    assert (first.tables_created, first.partitions_added) == (["processed.transactions"], 28)
    assert summary.partitions_added == 1
    assert sniffed == [new]
    # The lake: the table's folder and each year's and month's, then the new day's only (no old day's).
    lake = [p for p in listed if "/s3/" in p]
    assert [p for p in lake if "day=" in p] == [str(new.parent)]
    assert len(lake) == 1 + 1 + 2 + 1
    # The catalog: its table's file, never a partition's (the known values come from the folder names).
    assert read and not [p for p in read if "partitions" in p.parts]
    assert [p["Values"][-2:] for p in Catalog().get_partitions("processed", "transactions")][-1] == [
        "03",
        "01",
    ]


def test_an_incremental_crawl_does_not_notice_a_vanished_folder_as_on_glue(datalake_home):
    target = "s3://lake/processed/clients/"
    write_parquet(datalake_home, "clients", "year=2026/month=03/day=29", pa.table({"client_id": ["C1"]}))
    gone = write_parquet(
        datalake_home, "clients", "year=2026/month=03/day=30", pa.table({"client_id": ["C1"]})
    )
    crawl("p", "processed", [target], UPDATE, NEW_FOLDERS_ONLY)
    shutil.rmtree(gone.parent)

    summary = crawl("p", "processed", [target], UPDATE, NEW_FOLDERS_ONLY)

    # Glue forces DeleteBehavior LOG on incremental crawls; a full crawl with the same policy deletes it.
    assert summary.partitions_deleted == 0
    assert len(Catalog().get_partitions("processed", "clients")) == 2
    assert crawl("p", "processed", [target], UPDATE).partitions_deleted == 1


def test_the_processed_crawler_adds_each_new_day_to_the_declared_tables(datalake_home):
    bucket = datalake_home / "s3" / templates.load().lake_bucket
    data = pa.table({"entity": ["clients"], "rows_read": pa.array([3], pa.int64())})

    def land(day: str) -> None:
        folder = bucket / f"processed/load_manifest/year=2026/month=03/day={day}"
        folder.mkdir(parents=True)
        pq.write_table(data, folder / "part-00000.snappy.parquet")

    land("28")
    land("29")
    first = run_crawler("processed-data-crawler")
    land("30")
    second = run_crawler("processed-data-crawler")
    third = run_crawler("processed-data-crawler")

    assert (first.tables_created, first.partitions_added) == ([], 2)
    assert (second.partitions_added, third.partitions_added) == (1, 0)
    days = [p["Values"][-1] for p in Catalog().get_partitions("processed", "load_manifest")]
    assert days == ["28", "29", "30"]
    declared = templates.load().tables["processed.load_manifest"]
    table = Catalog().get_table("processed", "load_manifest")
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [n for n, _ in declared.columns]


def test_an_excluded_file_in_a_new_folder_is_not_a_partition_of_an_incremental_crawl(datalake_home):
    target = "s3://lake/raw/clients/"
    write_csv(datalake_home, "clients", "29", "client_id\nC1\n")
    crawl("c", "raw", [target], LOG, NEW_FOLDERS_ONLY)
    write_csv(datalake_home, "clients", "30", "whatever\n1\n", name="notes_bad.csv")

    summary = crawl("c", "raw", [target], LOG, NEW_FOLDERS_ONLY, exclusions={target: ["**/*_bad.csv"]})

    assert (summary.partitions_added, summary.schema_changes) == (0, [])
    assert [p["Values"] for p in Catalog().get_partitions("raw", "clients")] == [["2026", "03", "29"]]
