"""The local Glue Data Catalog: databases, tables and partitions in the shape of Glue's API.

What Glue stores, stored the way Glue returns it (``GetDatabase``, ``GetTable``, ``GetTables``,
``GetPartitions``, ``GetTableVersions`` response structures), so that code and tests written against the
local catalog read the same fields as against Glue. Locations stay ``s3://`` URIs, as in Glue; the query
engine maps them to local folders.

Persisted as JSON under ``$DATALAKE_HOME/catalog/``: one file per database, one per table (its versions and
its recorded schema changes) and one per partition, in folders named after the partition values
(``partitions/<db>/<table>/year=2026/month=03/day=29.json``). So adding a day's partition writes that
partition alone, and a look-up by values (``get_partition``, ``get_partitions`` with an ``Expression``
on the keys) reads only the folders on its way: the cost of a day's catalog work does not grow with the
days already registered. Every write goes to a temporary file and is renamed over the old one, so a crash
never leaves a half-written catalog file. A table file of an older catalog, with its partitions inside,
has them moved to their own files the first time it is read.
"""

from __future__ import annotations

import copy
import json
import operator
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

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
        state = self._table_state(database, name) if path.exists() else {"versions": [], "schema_changes": []}
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
        # As in Glue, a table's partitions go with it.
        shutil.rmtree(self._partitions_folder(database, name), ignore_errors=True)

    def table_exists(self, database: str, name: str) -> bool:
        return self._table_file(database, name).exists()

    # Partitions

    def batch_create_partition(self, database: str, name: str, partition_inputs: list[dict]) -> list[dict]:
        """``BatchCreatePartition``; returns Glue's ``Errors``: a partition that already exists is left as it
        is (``AlreadyExistsException``), one whose values do not match the partition keys is refused
        (``InvalidInputException``)."""
        keys = self._partition_keys(database, name)
        errors = []
        now = _now()
        for partition_input in partition_inputs:
            values = [str(v) for v in partition_input["Values"]]
            if len(values) != len(keys):
                errors.append(
                    _partition_error(
                        values,
                        "InvalidInputException",
                        f"{len(values)} partition value(s) {values} for the {len(keys)} partition key(s) "
                        f"{keys} of {database}.{name}",
                    )
                )
                continue
            path = self._partition_file(database, name, keys, values)
            if path.exists():
                errors.append(_partition_error(values, "AlreadyExistsException", "Partition already exists."))
                continue
            partition = {
                **copy.deepcopy(partition_input),
                "Values": values,
                "DatabaseName": database,
                "TableName": name,
                "CreationTime": now,
                "CatalogId": CATALOG_ID,
            }
            _write_json(path, partition)
        return errors

    def batch_delete_partition(self, database: str, name: str, values_list: list[list[str]]) -> list[dict]:
        """``BatchDeletePartition``; returns Glue's ``Errors`` (``EntityNotFoundException`` for a partition
        that does not exist)."""
        keys = self._partition_keys(database, name)
        root = self._partitions_folder(database, name)
        errors = []
        for values in values_list:
            values = [str(v) for v in values]
            path = self._partition_file(database, name, keys, values) if len(values) == len(keys) else None
            if path is None or not path.exists():
                errors.append(_partition_error(values, "EntityNotFoundException", "Partition not found."))
                continue
            path.unlink()
            # Folders left empty would be listed by every later walk.
            folder = path.parent
            while folder != root and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
        return errors

    def get_partition(self, database: str, name: str, values: list[str]) -> dict:
        """``GetPartition``: the partition with these values, or EntityNotFoundException."""
        keys = self._partition_keys(database, name)
        values = [str(v) for v in values]
        path = self._partition_file(database, name, keys, values) if len(values) == len(keys) else None
        if path is None or not path.exists():
            raise EntityNotFoundException(f"Partition {values} of table {database}.{name} not found.")
        return _partition_with_datetimes(_read_json(path))

    def get_partitions(self, database: str, name: str, expression: str | None = None) -> list[dict]:
        """``GetPartitions``, sorted by values; ``expression`` is Glue's ``Expression`` filter.

        Supported: comparisons of a partition key with a literal (``=``, ``<>``, ``!=``, ``<``, ``<=``,
        ``>``, ``>=``, ``IN (...)``) joined by ``AND``, e.g. ``year = '2026' AND month = '03'``; anything
        else is a ValueError naming it. Keys compared with ``=`` or ``IN`` prune the folders read.
        """
        keys = self._partition_keys(database, name)
        accepts = _partition_filter(expression, keys) if expression else [None] * len(keys)
        paths = self._partition_files(self._partitions_folder(database, name), accepts)
        partitions = [_read_json(path) for _, path in paths]
        return [_partition_with_datetimes(p) for p in sorted(partitions, key=lambda p: p["Values"])]

    def get_partition_values(self, database: str, name: str) -> set[tuple[str, ...]]:
        """The values of every partition of the table, from the folder names alone (no partition is
        read): what a crawler compares the folders it finds with."""
        keys = self._partition_keys(database, name)
        return {
            values
            for values, _ in self._partition_files(
                self._partitions_folder(database, name), [None] * len(keys)
            )
        }

    # Storage

    def _database_file(self, name: str) -> Path:
        return self.root / "databases" / f"{_safe(name)}.json"

    def _table_file(self, database: str, name: str) -> Path:
        return self.root / "tables" / _safe(database) / f"{_safe(name)}.json"

    def _partitions_folder(self, database: str, name: str) -> Path:
        return self.root / "partitions" / _safe(database) / _safe(name)

    def _partition_file(self, database: str, name: str, keys: list[str], values: list[str]) -> Path:
        # key=value folders as in the lake, the values percent-encoded: any value is one safe file name.
        parts = [
            f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in zip(keys, values, strict=True)
        ]
        folder = self._partitions_folder(database, name).joinpath(*parts[:-1])
        return folder / f"{parts[-1]}.json"

    def _partition_keys(self, database: str, name: str) -> list[str]:
        return [
            k["Name"]
            for k in self._table_state(database, name)["versions"][-1]["Table"].get("PartitionKeys", [])
        ]

    @staticmethod
    def _partition_files(
        root: Path, accepts: list[Callable[[str], bool] | None]
    ) -> list[tuple[tuple[str, ...], Path]]:
        """(values, file) of the partitions under ``root`` whose value at each level ``accepts[level]``
        takes (None: any value); only the folders of accepted values are listed."""
        level: list[tuple[tuple[str, ...], Path]] = [((), root)] if accepts else []
        for depth, accept in enumerate(accepts):
            leaf = depth == len(accepts) - 1
            deeper = []
            for values, folder in level:
                try:
                    entries = list(os.scandir(folder))
                except FileNotFoundError:
                    continue
                for entry in entries:
                    # A partition is a file at the last level, a folder above it; "." is a write in progress.
                    if entry.name.startswith(".") or "=" not in entry.name:
                        continue
                    if leaf != (entry.is_file() and entry.name.endswith(".json")):
                        continue
                    encoded = entry.name.split("=", 1)[1]
                    value = unquote(encoded.removesuffix(".json") if leaf else encoded)
                    if accept is None or accept(value):
                        deeper.append(((*values, value), Path(entry.path)))
            level = deeper
        return level

    def _table_state(self, database: str, name: str) -> dict:
        path = self._table_file(database, name)
        if not path.exists():
            raise EntityNotFoundException(f"Table {database}.{name} not found.")
        state = _read_json(path)
        if "partitions" in state:
            state = self._move_partitions_to_their_files(database, name, state)
        return state

    def _move_partitions_to_their_files(self, database: str, name: str, state: dict) -> dict:
        """An older catalog kept the partitions inside the table file: each one goes to its own file,
        then the table file is rewritten without them (a crash in between repeats the move, harmlessly)."""
        keys = (
            [k["Name"] for k in state["versions"][-1]["Table"].get("PartitionKeys", [])]
            if state["versions"]
            else []
        )
        for partition in state.pop("partitions"):
            if len(partition["Values"]) == len(keys):
                _write_json(self._partition_file(database, name, keys, partition["Values"]), partition)
        _write_json(self._table_file(database, name), state)
        return state

    @staticmethod
    def _append_schema_change(state: dict, added: list[dict], applied: bool, source: str = "") -> None:
        state["schema_changes"].append(
            {"Time": _now(), "AddedColumns": added, "Applied": applied, "Source": source}
        )


def _partition_error(values: list[str], code: str, message: str) -> dict:
    return {"PartitionValues": list(values), "ErrorDetail": {"ErrorCode": code, "ErrorMessage": message}}


_COMPARISONS = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_EXPRESSION_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<operator><>|!=|<=|>=|=|<|>)|(?P<punctuation>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))\s*"
)


class _Condition:
    """One comparison of a partition key's value (a string, as the lake's partition keys are)."""

    def __init__(self, compare: Callable[[str, str], bool], literals: frozenset[str]):
        self.compare = compare
        self.literals = literals

    def __call__(self, value: str) -> bool:
        return any(self.compare(value, literal) for literal in self.literals)


def _partition_filter(expression: str, keys: list[str]) -> list[Callable[[str], bool] | None]:
    """Glue's GetPartitions ``Expression`` as one test per partition key (None: no condition on that key)."""
    tokens = _expression_tokens(expression)

    def unsupported(detail: str) -> ValueError:
        return ValueError(f"unsupported partition expression {expression!r}: {detail}")

    def take(kind: str, text: str | None = None) -> str:
        if not tokens:
            raise unsupported(f"expected {text or kind} at the end")
        token_kind, token = tokens.pop(0)
        if token_kind != kind or (text is not None and token.upper() != text):
            raise unsupported(f"expected {text or kind}, found {token!r}")
        return token

    conditions: dict[int, list[_Condition]] = {}
    while True:
        key = take("word").lower()
        if key not in keys:
            raise unsupported(f"{key!r} is not a partition key (keys: {', '.join(keys)})")
        if tokens and tokens[0][0] == "word" and tokens[0][1].upper() == "IN":
            take("word", "IN")
            take("punctuation", "(")
            literals = {_literal(take("string"))}
            while take("punctuation") == ",":
                literals.add(_literal(take("string")))
            condition = _Condition(operator.eq, frozenset(literals))
        else:
            compare = _COMPARISONS[take("operator")]
            condition = _Condition(compare, frozenset({_literal(take("string"))}))
        conditions.setdefault(keys.index(key), []).append(condition)
        if not tokens:
            break
        take("word", "AND")
    return [_all_of(conditions[i]) if i in conditions else None for i in range(len(keys))]


def _all_of(conditions: list[_Condition]) -> Callable[[str], bool]:
    return lambda value: all(condition(value) for condition in conditions)


def _expression_tokens(expression: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expression):
        match = _EXPRESSION_TOKEN.match(expression, position)
        if match is None or match.lastgroup is None:
            raise ValueError(
                f"unsupported partition expression {expression!r} at {expression[position:].strip()!r}"
            )
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def _literal(quoted: str) -> str:
    return quoted[1:-1].replace("''", "'")


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


def _partition_with_datetimes(partition: dict) -> dict:
    # Glue's Partition has its timestamps at the top only; a table's whole copy in its StorageDescriptor
    # need not be walked for every one of a table's partitions.
    return {
        k: datetime.fromisoformat(v) if k in _TIME_KEYS and isinstance(v, str) else v
        for k, v in partition.items()
    }


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, value: Any) -> None:
    write_json(path, value, sort_keys=True)
