"""The local Glue crawler: schema and partition inference over a zone, written to the local catalog.

A crawler declared in the CloudFormation templates (name, database, S3 targets, SchemaChangePolicy,
RecrawlPolicy, table prefix) runs here the way Glue runs it:

- one table per folder: an S3 target whose children are data files or ``key=value`` folders is itself a
  table (``s3://lake/raw/transactions/`` → ``raw.transactions``); otherwise each child folder is a table
  (``s3://lake/processed/`` → ``processed.clients``, ``processed.quarantine``, ...). The templates give
  every table its own target (the curated crawler one per KPI table), so a table is never guessed from
  the shape of its neighbours;
- partition keys from the ``key=value`` folders (``year/month/day``, ``entity/year/month/day``), partitions
  registered for every such folder holding data; partitions whose folder is gone are removed unless the
  DeleteBehavior is LOG;
- the schema from ONE file per table, the newest: a CSV's header and types from DuckDB's sniffer, a
  Parquet file's footer with pyarrow, mapped to Glue/Hive type names; classification ``csv`` / ``parquet``;
- a column that appears is a schema change: applied with a new table version under UPDATE_IN_DATABASE,
  only recorded under LOG (Glue's behaviour: the table keeps its schema).

RecrawlPolicy, as Glue's incremental crawls:

- CRAWL_EVERYTHING (the default): every file of every table is listed again, the newest sniffed, and the
  vanished partitions found, so a crawl's work grows with the days in the zone, as on Glue (which, without
  a SampleSize, also reads every folder again);
- CRAWL_NEW_FOLDERS_ONLY: a table not yet in the catalog gets a full crawl; once it is there, only the
  partition folders it does not have are looked into. Finding them takes the names of the ``key=value``
  folders of the table's partition keys (no file listed, none opened, in the partitions already known) and
  the catalog's partition values (names only, ``Catalog.get_partition_values``); the schema is sniffed
  from the new folders' files only, and a folder gone from the lake is not noticed (Glue forces
  DeleteBehavior LOG with this policy). So a daily crawl reads the day's folder and nothing older.

Files whose names start with ``_`` or ``.`` (``_SUCCESS``, Spark's ``.crc``) are not data, as in Glue.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from energy_datalake import config, templates
from energy_datalake.emulator.glue_catalog import Catalog, column_changes

DATA_SUFFIXES = {".csv": "csv", ".parquet": "parquet"}

# The export contract's dialect (as the templates' CSV classifier declares it): the sniffer only guesses
# types, and a short or long row among the sampled ones must not make it guess another dialect.
EXPORT_CSV = "delim=',', quote='\"', escape='\"', header=true, strict_mode=false, null_padding=true"

STORAGE = {
    "csv": {
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
            "Parameters": {"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\"},
        },
    },
    "parquet": {
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            "Parameters": {"serialization.format": "1"},
        },
    },
}


@dataclass
class CrawlSummary:
    """What a crawl did, like Glue's crawler metrics."""

    crawler: str
    tables_created: list[str] = field(default_factory=list)
    tables_updated: list[str] = field(default_factory=list)
    partitions_added: int = 0
    partitions_deleted: int = 0
    # {"table": "db.t", "columns": [{"Name", "Type"}], "applied": bool}
    schema_changes: list[dict] = field(default_factory=list)
    # Files the crawler could not read (reported, not fatal): "<path>: <reason>".
    unreadable_files: list[str] = field(default_factory=list)


def run_crawler(name: str, env: str | None = None, catalog: Catalog | None = None) -> CrawlSummary:
    """Run the crawler ``name`` declared in the templates of environment ``env`` over the local lake."""
    crawlers = templates.load(env).crawlers
    if name not in crawlers:
        raise KeyError(f"no crawler {name!r} in the templates (known: {', '.join(sorted(crawlers))})")
    crawler = crawlers[name]
    register_declared_tables(env, catalog, database=crawler.database)
    return crawl(
        name,
        crawler.database,
        crawler.s3_targets,
        schema_change_policy=crawler.schema_change_policy or {},
        recrawl_policy=crawler.recrawl_policy or {},
        table_prefix=crawler.table_prefix or "",
        exclusions=crawler.exclusions,
        catalog=catalog,
    )


def register_declared_tables(
    env: str | None = None, catalog: Catalog | None = None, database: str | None = None
) -> list[str]:
    """Create or update the tables the templates declare (``AWS::Glue::Table``), as a deploy does.

    On AWS the catalog stack creates them before any crawl, so a declared table exists even with no data
    yet (an empty quarantine is still a table), and a changed declaration updates the table (a new
    version). An unchanged declaration changes nothing. Returns the tables created or updated.
    """
    catalog = catalog or Catalog()
    changed = []
    for qualified, declared in sorted(templates.load(env).tables.items()):
        if database not in (None, declared.database):
            continue
        catalog.create_database(declared.database)
        before = (
            catalog.get_table(declared.database, declared.name)["VersionId"]
            if catalog.table_exists(declared.database, declared.name)
            else None
        )
        after = catalog.create_or_update_table(declared.database, _declared_input(declared))["VersionId"]
        if after != before:
            changed.append(qualified)
    return changed


def _declared_input(declared) -> dict:
    columns = [{"Name": n, "Type": t} for n, t in declared.columns]
    keys = [{"Name": k, "Type": "string"} for k in declared.partition_keys]
    classification = declared.parameters.get("classification", "parquet")
    table = _table_input(declared.name, declared.location, classification, columns, keys)
    table["Parameters"] = {**table["Parameters"], **declared.parameters}
    return table


def refresh_catalog(env: str | None = None, catalog: Catalog | None = None) -> list[CrawlSummary]:
    """After the ETL jobs: every crawler but the raw zone's, then the curated tables."""
    environment = templates.load(env)
    summaries = [
        run_crawler(name, env, catalog)
        for name, crawler in sorted(environment.crawlers.items())
        if crawler.database not in ("raw", "curated")
    ]
    summaries.append(register_curated(env, catalog))
    return summaries


def register_curated(env: str | None = None, catalog: Catalog | None = None) -> CrawlSummary:
    """Register the curated KPI tables and their partitions: the templates' crawler of the curated database.

    It has one S3 target per curated table, so each table is crawled on its own, as on Glue.
    """
    environment = templates.load(env)
    declared = [n for n, c in sorted(environment.crawlers.items()) if c.database == "curated"]
    if len(declared) != 1:
        raise LookupError(f"expected one crawler of the curated database in the templates, found {declared}")
    return run_crawler(declared[0], env, catalog)


def crawl(
    name: str,
    database: str,
    s3_targets: list[str],
    schema_change_policy: dict | None = None,
    recrawl_policy: dict | None = None,
    table_prefix: str = "",
    exclusions: dict[str, list[str]] | None = None,
    catalog: Catalog | None = None,
) -> CrawlSummary:
    """Crawl ``s3_targets`` into ``database`` (see the module docstring for the rules).

    ``exclusions``: {target: glob patterns relative to the target}, as in Glue's S3Target.Exclusions.
    """
    catalog = catalog or Catalog()
    catalog.create_database(database)
    summary = CrawlSummary(crawler=name)
    policy = _Policy(schema_change_policy or {}, recrawl_policy or {})
    for target in s3_targets:
        excluded = _Exclusions(
            config.local_path(target.rstrip("/") + "/"), (exclusions or {}).get(target, ())
        )
        for table_name, uri in table_folders(target):
            table = table_prefix + table_name
            if policy.new_folders_only and catalog.table_exists(database, table):
                _crawl_new_folders(catalog, database, table, uri, excluded, policy, summary)
            else:
                files = [f for f in _data_files(config.local_path(uri)) if not excluded(f)]
                _crawl_table(catalog, database, table, uri, files, policy, summary)
    return summary


def table_folders(target: str) -> list[tuple[str, str]]:
    """(table name, location URI) of each table under an S3 target."""
    target = target.rstrip("/") + "/"
    folder = config.local_path(target)
    if not folder.is_dir():
        return []
    children = [c for c in sorted(folder.iterdir()) if _visible(c)]
    if any(c.is_file() or "=" in c.name for c in children):
        return [(_table_name(folder.name), target)]
    return [(_table_name(c.name), f"{target}{c.name}/") for c in children if c.is_dir()]


@dataclass(frozen=True)
class _Policy:
    schema_change: dict
    recrawl: dict

    @property
    def apply_schema_changes(self) -> bool:
        return self.schema_change.get("UpdateBehavior", "UPDATE_IN_DATABASE") == "UPDATE_IN_DATABASE"

    @property
    def delete_vanished(self) -> bool:
        return self.schema_change.get("DeleteBehavior", "DEPRECATE_IN_DATABASE") != "LOG"

    @property
    def new_folders_only(self) -> bool:
        return self.recrawl.get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY"


def _crawl_table(
    catalog: Catalog,
    database: str,
    name: str,
    uri: str,
    files: list[Path],
    policy: _Policy,
    summary: CrawlSummary,
):
    """A full crawl of one table: every file listed (oldest first), the newest sniffed."""
    folder = config.local_path(uri)
    if not files:
        return
    partition_keys = _partition_keys(folder, files[-1])
    partitions = _partition_folders(folder, files, len(partition_keys))
    exists = catalog.table_exists(database, name)
    known = catalog.get_partition_values(database, name) if exists else set()
    new_partitions = {values: path for values, path in partitions.items() if values not in known}

    sampled = _sniff_newest(files, summary)
    if sampled is not None:
        _update_schema(catalog, database, name, uri, *sampled, partition_keys, policy, summary, exists)
    if not catalog.table_exists(database, name):
        return
    _add_partitions(catalog, database, name, uri, partition_keys, new_partitions, summary)
    vanished = sorted(known - set(partitions))
    if vanished and policy.delete_vanished:
        catalog.batch_delete_partition(database, name, [list(v) for v in vanished])
        summary.partitions_deleted += len(vanished)


def _crawl_new_folders(
    catalog: Catalog,
    database: str,
    name: str,
    uri: str,
    excluded: _Exclusions,
    policy: _Policy,
    summary: CrawlSummary,
):
    """An incremental crawl of a catalogued table: only the partition folders the catalog lacks."""
    table = catalog.get_table(database, name)
    keys = [k["Name"] for k in table.get("PartitionKeys", [])]
    if not keys:
        # An unpartitioned table has no folder to add; its schema is a full crawl's business.
        return
    known = catalog.get_partition_values(database, name)
    new_files = {}
    for values, folder in _partition_folders_named(config.local_path(uri), keys):
        if values not in known:
            files = [f for f in _files_in(folder) if not excluded(f)]
            if files:
                new_files[values] = files
    if not new_files:
        return
    candidates = sorted((f for files in new_files.values() for f in files), key=_age)
    sampled = _sniff_newest(candidates, summary)
    if sampled is not None:
        _update_schema(catalog, database, name, uri, *sampled, keys, policy, summary, exists=True)
    new_partitions = {values: files[0].parent for values, files in new_files.items()}
    _add_partitions(catalog, database, name, uri, keys, new_partitions, summary)


def _add_partitions(catalog, database, name, uri, keys, new_partitions: dict, summary: CrawlSummary):
    table = catalog.get_table(database, name)
    inputs = [_partition_input(table, uri, keys, values) for values in sorted(new_partitions)]
    if inputs:
        catalog.batch_create_partition(database, name, inputs)
        summary.partitions_added += len(inputs)


def _sniff_newest(files: list[Path], summary: CrawlSummary) -> tuple[Path, list[dict]] | None:
    """The newest file that reads, with its columns. A file that does not (not UTF-8, not Parquet) is
    reported and skipped: the ETL job quarantines it, and a crawl must not stop the day for it."""
    import duckdb
    import pyarrow as pa

    for path in reversed(files):
        try:
            return path, infer_columns(path)
        except (duckdb.Error, pa.ArrowException, OSError) as e:
            summary.unreadable_files.append(f"{path}: {str(e).splitlines()[0]}")
    return None


def _update_schema(
    catalog, database, name, uri, sample: Path, inferred: list[dict], partition_keys, policy, summary, exists
):
    classification = DATA_SUFFIXES[sample.suffix]
    columns = [c for c in inferred if c["Name"] not in partition_keys]
    keys = [{"Name": k, "Type": "string"} for k in partition_keys]
    qualified = f"{database}.{name}"
    if not exists:
        catalog.create_or_update_table(database, _table_input(name, uri, classification, columns, keys))
        summary.tables_created.append(qualified)
        return
    table = catalog.get_table(database, name)
    current = table["StorageDescriptor"]["Columns"]
    added = column_changes(current, columns)
    if not added:
        return
    summary.schema_changes.append(
        {"table": qualified, "columns": added, "applied": policy.apply_schema_changes}
    )
    if not policy.apply_schema_changes:
        catalog.record_schema_change(database, name, added, source=str(sample))
        return
    changed = {c["Name"]: c for c in added}
    merged = [changed.pop(c["Name"], c) for c in current] + list(changed.values())
    catalog.create_or_update_table(database, _table_input(name, uri, classification, merged, keys))
    summary.tables_updated.append(qualified)


def infer_columns(path: Path) -> list[dict]:
    """Glue columns (``{"Name", "Type"}``) of one data file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        return [{"Name": f.name, "Type": _arrow_type(f.type)} for f in schema]
    import duckdb

    with duckdb.connect() as con:
        (columns,) = con.execute(f"SELECT Columns FROM sniff_csv(?, {EXPORT_CSV})", [str(path)]).fetchone()
    return [{"Name": c["name"], "Type": _duckdb_type(c["type"])} for c in columns]


def _arrow_type(t) -> str:
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_string(t) or pt.is_large_string(t):
        return "string"
    if pt.is_boolean(t):
        return "boolean"
    if pt.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pt.is_timestamp(t):
        return "timestamp"
    if pt.is_date(t):
        return "date"
    if pt.is_list(t) or pt.is_large_list(t):
        return f"array<{_arrow_type(t.value_type)}>"
    if pt.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{_arrow_type(f.type)}" for f in t) + ">"
    if pt.is_map(t):
        return f"map<{_arrow_type(t.key_type)},{_arrow_type(t.item_type)}>"
    simple = {
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.binary(): "binary",
    }
    return simple.get(t, "string")


def _duckdb_type(t: str) -> str:
    t = t.upper()
    if t.startswith("DECIMAL"):
        return t.lower().replace(" ", "")
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    simple = {
        "BIGINT": "bigint",
        "INTEGER": "int",
        "SMALLINT": "smallint",
        "TINYINT": "tinyint",
        "DOUBLE": "double",
        "FLOAT": "float",
        "BOOLEAN": "boolean",
        "DATE": "date",
    }
    return simple.get(t, "string")


def _table_input(name, uri, classification, columns, partition_keys) -> dict:
    storage = STORAGE[classification]
    parameters = {"classification": classification}
    if classification == "csv":
        parameters.update({"delimiter": ",", "skip.header.line.count": "1"})
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": partition_keys,
        "StorageDescriptor": {
            "Columns": columns,
            "Location": uri,
            "InputFormat": storage["InputFormat"],
            "OutputFormat": storage["OutputFormat"],
            "Compressed": False,
            "NumberOfBuckets": -1,
            "SerdeInfo": storage["SerdeInfo"],
            "BucketColumns": [],
            "SortColumns": [],
            "Parameters": parameters,
            "StoredAsSubDirectories": False,
        },
    }


def _partition_input(table: dict, uri: str, keys: list[str], values: tuple[str, ...]) -> dict:
    storage = dict(table["StorageDescriptor"])
    storage["Location"] = uri + "".join(f"{k}={v}/" for k, v in zip(keys, values, strict=True))
    return {
        "Values": list(values),
        "StorageDescriptor": storage,
        "Parameters": dict(table.get("Parameters", {})),
    }


def _data_files(folder: Path) -> list[Path]:
    """The table's data files, oldest first (the newest is the one sniffed); hidden folders are skipped."""
    files = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if not _visible(entry.name):
                    continue
                if entry.is_dir():
                    pending.append(Path(entry.path))
                elif os.path.splitext(entry.name)[1] in DATA_SUFFIXES and entry.is_file():
                    files.append((entry.stat().st_mtime_ns, entry.path))
    return [Path(path) for _, path in sorted(files)]


def _files_in(folder: Path) -> list[Path]:
    """The data files directly in one partition folder, oldest first."""
    with os.scandir(folder) as entries:
        found = [
            (entry.stat().st_mtime_ns, entry.path)
            for entry in entries
            if _visible(entry.name) and os.path.splitext(entry.name)[1] in DATA_SUFFIXES and entry.is_file()
        ]
    return [Path(path) for _, path in sorted(found)]


def _age(path: Path) -> tuple[int, str]:
    return path.stat().st_mtime_ns, str(path)


def _partition_folders_named(folder: Path, keys: list[str]) -> list[tuple[tuple[str, ...], Path]]:
    """(values, folder) of the ``k1=v1/k2=v2/...`` folders of the table's partition keys, read from folder
    names alone: a level lists only the folders of the level above, and no partition folder is opened."""
    level: list[tuple[tuple[str, ...], Path]] = [((), folder)]
    for key in keys:
        deeper = []
        for values, parent in level:
            try:
                entries = list(os.scandir(parent))
            except (FileNotFoundError, NotADirectoryError):
                continue
            deeper += [
                ((*values, entry.name.split("=", 1)[1]), Path(entry.path))
                for entry in entries
                if entry.name.startswith(f"{key}=") and entry.is_dir()
            ]
        level = deeper
    return level


class _Exclusions:
    """Glue's S3Target.Exclusions: glob patterns matched against a file's path below the target."""

    def __init__(self, root: Path, patterns) -> None:
        self.root = root
        self.patterns = tuple(patterns)

    def __call__(self, path: Path) -> bool:
        if not self.patterns:
            return False
        relative = path.relative_to(self.root).as_posix()
        return any(fnmatch.fnmatchcase(relative, pattern) for pattern in self.patterns)


def _visible(path: Path | str) -> bool:
    name = path.name if isinstance(path, Path) else path
    return not name.startswith(("_", "."))


def _partition_keys(folder: Path, sample: Path) -> list[str]:
    parts = sample.parent.relative_to(folder).parts
    return [p.split("=", 1)[0] for p in parts if "=" in p]


def _partition_folders(folder: Path, files: list[Path], depth: int) -> dict[tuple[str, ...], Path]:
    """{partition values: folder} for each ``k=v/...`` folder of the table's depth holding data."""
    if depth == 0:
        return {}
    found = {}
    for f in files:
        parts = f.parent.relative_to(folder).parts
        if len(parts) == depth and all("=" in p for p in parts):
            found[tuple(p.split("=", 1)[1] for p in parts)] = f.parent
    return found


def _table_name(folder_name: str) -> str:
    # Glue lower-cases table names and turns characters Athena cannot quote-free into underscores.
    return folder_name.lower().replace("-", "_").replace(".", "_")
