"""The local Glue Data Catalog: databases, tables and partitions in the shape of Glue's API.

What Glue stores, stored the way Glue returns it (``GetDatabase``, ``GetTable``, ``GetTables``,
``GetPartitions``, ``GetTableVersions`` response structures), so that code and tests written against the
local catalog read the same fields as against Glue. Locations stay ``s3://`` URIs, as in Glue; the query
engine maps them to local folders.

Persisted as JSON under ``$DATALAKE_HOME/catalog/``: one file per database and one per table (the table's
versions, its partitions and its recorded schema changes). Every write goes to a temporary file and is
renamed over the old one, so a crash never leaves a half-written catalog file.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from energy_datalake import config
from energy_datalake.files import write_json

CATALOG_ID = "000000000000"

# Keys of Glue's Table structure that GetTable returns but TableInput (CreateTable/UpdateTable) refuses.
_TABLE_OUTPUT_ONLY = (
    "DatabaseName",
    "CreateTime",
    "UpdateTime",
    "CreatedBy",
    "IsRegisteredWithLakeFormation",
    "CatalogId",
    "VersionId",
)


class EntityNotFoundException(KeyError):
    """Glue's ``EntityNotFoundException``: the database, table or partition does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


class Catalog:
    """A Glue Data Catalog kept in ``<home>/catalog`` (default: ``$DATALAKE_HOME``)."""

    def __init__(self, home: str | Path | None = None):
        self.root = Path(home or config.home()) / "catalog"

    # Databases

    def create_database(self, name: str, description: str = "", location_uri: str | None = None) -> dict:
        """Create the database, or return it unchanged when it exists (a deploy step re-runs safely)."""
        path = self._database_file(name)
        if path.exists():
            return self.get_database(name)
        database = {"Name": name, "CreateTime": _now(), "CatalogId": CATALOG_ID, "Parameters": {}}
        if description:
            database["Description"] = description
        if location_uri:
            database["LocationUri"] = location_uri
        _write_json(path, database)
        return self.get_database(name)

    def get_database(self, name: str) -> dict:
        path = self._database_file(name)
        if not path.exists():
            raise EntityNotFoundException(f"Database {name} not found.")
        return _with_datetimes(_read_json(path))

    def get_databases(self) -> list[dict]:
        folder = self.root / "databases"
        return [self.get_database(p.stem) for p in sorted(folder.glob("*.json"))]

    # Tables

    def create_or_update_table(self, database: str, table_input: dict) -> dict:
        """CreateTable or UpdateTable with a Glue ``TableInput``; a changed definition is a new version.

        Columns that appear (or change type) against the current version are recorded as a schema change,
        which ``get_schema_changes`` returns. An identical definition changes nothing (no new version).
        """
        self.get_database(database)
        name = table_input["Name"]
        path = self._table_file(database, name)
        state = (
            _read_json(path) if path.exists() else {"versions": [], "partitions": [], "schema_changes": []}
        )
        now = _now()
        current = state["versions"][-1]["Table"] if state["versions"] else None
        table = {**copy.deepcopy(table_input), "DatabaseName": database, "CatalogId": CATALOG_ID}
        table.setdefault("TableType", "EXTERNAL_TABLE")
        table.setdefault("Retention", 0)
        if current is not None and _definition(current) == _definition(table):
            return self.get_table(database, name)
        if current is not None:
            added = column_changes(_all_columns(current), _all_columns(table))
            if added:
                self._append_schema_change(state, added, applied=True)
        table["CreateTime"] = current["CreateTime"] if current else now
        table["UpdateTime"] = now
        table["IsRegisteredWithLakeFormation"] = False
        table["VersionId"] = str(len(state["versions"]) + 1)
        state["versions"].append({"Table": table, "VersionId": table["VersionId"]})
        _write_json(path, state)
        return self.get_table(database, name)

    def record_schema_change(self, database: str, name: str, added: list[dict], source: str) -> None:
        """Record columns seen in the data but not applied to the table (a crawler's ``LOG`` policy).

        The same pending change seen again (a re-crawl) is not recorded twice.
        """
        path = self._table_file(database, name)
        state = self._table_state(database, name)
        pending = [c for c in state["schema_changes"] if not c["Applied"]]
        if pending and pending[-1]["AddedColumns"] == added:
            return
        self._append_schema_change(state, added, applied=False, source=source)
        _write_json(path, state)

    def get_schema_changes(self, database: str, name: str) -> list[dict]:
        return _with_datetimes(self._table_state(database, name)["schema_changes"])

    def get_table(self, database: str, name: str) -> dict:
        return _with_datetimes(self._table_state(database, name)["versions"][-1]["Table"])

    def get_tables(self, database: str) -> list[dict]:
        self.get_database(database)
        folder = self.root / "tables" / database
        return [self.get_table(database, p.stem) for p in sorted(folder.glob("*.json"))]

    def get_table_versions(self, database: str, name: str) -> list[dict]:
        """``GetTableVersions``: newest first, as Glue lists them."""
        return _with_datetimes(list(reversed(self._table_state(database, name)["versions"])))

    def delete_table(self, database: str, name: str) -> None:
        path = self._table_file(database, name)
        if not path.exists():
            raise EntityNotFoundException(f"Table {database}.{name} not found.")
        path.unlink()

    def table_exists(self, database: str, name: str) -> bool:
        return self._table_file(database, name).exists()

    # Partitions

    def batch_create_partition(self, database: str, name: str, partition_inputs: list[dict]) -> list[dict]:
        """``BatchCreatePartition``; a partition that already exists is left as it is (Glue reports it
        as ``AlreadyExistsException`` in ``Errors``, which is returned here the same way)."""
        path = self._table_file(database, name)
        state = self._table_state(database, name)
        existing = {tuple(p["Values"]) for p in state["partitions"]}
        errors = []
        now = _now()
        for partition_input in partition_inputs:
            values = tuple(partition_input["Values"])
            if values in existing:
                errors.append(
                    {
                        "PartitionValues": list(values),
                        "ErrorDetail": {
                            "ErrorCode": "AlreadyExistsException",
                            "ErrorMessage": "Partition already exists.",
                        },
                    }
                )
                continue
            partition = {
                **copy.deepcopy(partition_input),
                "DatabaseName": database,
                "TableName": name,
                "CreationTime": now,
                "CatalogId": CATALOG_ID,
            }
            state["partitions"].append(partition)
            existing.add(values)
        _write_json(path, state)
        return errors

    def batch_delete_partition(self, database: str, name: str, values_list: list[list[str]]) -> None:
        path = self._table_file(database, name)
        state = self._table_state(database, name)
        doomed = {tuple(v) for v in values_list}
        state["partitions"] = [p for p in state["partitions"] if tuple(p["Values"]) not in doomed]
        _write_json(path, state)

    def get_partitions(self, database: str, name: str) -> list[dict]:
        partitions = self._table_state(database, name)["partitions"]
        return _with_datetimes(sorted(partitions, key=lambda p: p["Values"]))

    # Storage

    def _database_file(self, name: str) -> Path:
        return self.root / "databases" / f"{_safe(name)}.json"

    def _table_file(self, database: str, name: str) -> Path:
        return self.root / "tables" / _safe(database) / f"{_safe(name)}.json"

    def _table_state(self, database: str, name: str) -> dict:
        path = self._table_file(database, name)
        if not path.exists():
            raise EntityNotFoundException(f"Table {database}.{name} not found.")
        return _read_json(path)

    @staticmethod
    def _append_schema_change(state: dict, added: list[dict], applied: bool, source: str = "") -> None:
        state["schema_changes"].append(
            {"Time": _now(), "AddedColumns": added, "Applied": applied, "Source": source}
        )


def table_input(table: dict) -> dict:
    """The ``TableInput`` (CreateTable / UpdateTable) that recreates a table returned by ``get_table``."""
    return {k: v for k, v in copy.deepcopy(table).items() if k not in _TABLE_OUTPUT_ONLY}


def column_changes(old: list[dict], new: list[dict]) -> list[dict]:
    """Columns of ``new`` that ``old`` lacks or types differently."""
    old_types = {c["Name"]: c["Type"] for c in old}
    return [c for c in new if old_types.get(c["Name"]) != c["Type"]]


def _all_columns(table: dict) -> list[dict]:
    return table["StorageDescriptor"]["Columns"] + table.get("PartitionKeys", [])


def _definition(table: dict) -> dict:
    # What makes two versions different: everything but the bookkeeping fields.
    return {k: v for k, v in table.items() if k not in _TABLE_OUTPUT_ONLY}


def _safe(name: str) -> str:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid catalog name {name!r}")
    return name


def _now() -> str:
    return datetime.now(UTC).isoformat()


_TIME_KEYS = {"CreateTime", "UpdateTime", "CreationTime", "LastAccessTime", "Time"}


def _with_datetimes(value: Any) -> Any:
    """Timestamps as ``datetime``, as boto3 returns them."""
    if isinstance(value, dict):
        return {
            k: datetime.fromisoformat(v) if k in _TIME_KEYS and isinstance(v, str) else _with_datetimes(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_datetimes(v) for v in value]
    return value


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, value: Any) -> None:
    write_json(path, value, sort_keys=True)
