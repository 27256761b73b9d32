"""Writing one run date's partition of a table, replacing only that partition, with no partial result.

``replace_partition(df, base, table, run_date)`` writes ``df`` to ``<base>/<table>/year=/month=/day=/``
(``contract.partition_path`` of the run date, a ``datetime.date``; Snappy Parquet; the partition columns
live in the path, not in the files) and touches nothing else.

On a file system with rename (local disk, HDFS) the data is first written completely to
``<base>/_staging/<table>/year=/month=/day=/``, then swapped in: the old partition is renamed aside, the
staging folder renamed into its place, the old one deleted. Whenever a run is killed, the table holds the
old partition, the new one, or (killed between the two renames) none of it, never a mix or two copies;
the leftovers live under ``_staging`` (which readers ignore: it starts with ``_``, and it is outside every
table's folder) and are cleared by the next run.

On S3 there is no rename: Spark's dynamic partition overwrite (``partitionOverwriteMode=dynamic``, set by
``glue_jobs.runtime``) writes the task files under the table's ``.spark-staging-<job>`` prefix and, when
every task has succeeded, deletes the run date's partition and moves the new files in. A run killed
before that commit leaves the old partition untouched; a run killed during it leaves an incomplete
partition that the retry (Airflow retries the task) replaces whole.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from glue_jobs.lib.contract import partition_path, partition_values
from glue_jobs.lib.raw_reader import is_s3, join

STAGING = "_staging"


class FileSystem:
    """The Hadoop FileSystem API (the one Spark writes with), for the few operations a swap needs."""

    def __init__(self, spark: SparkSession):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str):
        path = self._jvm.org.apache.hadoop.fs.Path(uri)
        return path, path.getFileSystem(self._conf)

    def exists(self, uri: str) -> bool:
        path, fs = self._path(uri)
        return fs.exists(path)

    def delete(self, uri: str) -> None:
        path, fs = self._path(uri)
        if fs.exists(path) and not fs.delete(path, True):
            raise OSError(f"could not delete {uri}")

    def rename(self, source: str, target: str) -> None:
        src, fs = self._path(source)
        dst, _ = self._path(target)
        fs.mkdirs(dst.getParent())
        if not fs.rename(src, dst):
            raise OSError(f"could not rename {source} to {target}")

    def copy(self, source: str, target: str) -> None:
        src, src_fs = self._path(source)
        dst, dst_fs = self._path(target)
        fs_util = self._jvm.org.apache.hadoop.fs.FileUtil
        if not fs_util.copy(src_fs, src, dst_fs, dst, False, True, self._conf):
            raise OSError(f"could not copy {source} to {target}")


def partition_uri(base: str, table: str, run_date: dt.date) -> str:
    return join(base, table, partition_path(run_date))


def replace_partition(df: DataFrame, base: str, table: str, run_date: dt.date) -> str:
    """Writes ``df`` as the run date's partition of ``<base>/<table>`` (``table`` may be nested, e.g.
    ``quarantine/entity=clients``); returns the partition's URI."""
    target = partition_uri(base, table, run_date)
    if is_s3(base):
        _overwrite_dynamic(df, join(base, table), run_date)
        return target
    fs = FileSystem(df.sparkSession)
    staging = partition_uri(join(base, STAGING), table, run_date)
    previous = staging + ".previous"
    fs.delete(staging)
    df.write.mode("overwrite").parquet(staging)
    fs.delete(previous)
    if fs.exists(target):
        fs.rename(target, previous)
    fs.rename(staging, target)
    fs.delete(previous)
    return target


def replace_files(
    spark: SparkSession, sources: dict[str, str], base: str, table: str, run_date: dt.date
) -> str:
    """Makes ``<base>/<table>/year=/month=/day=/`` hold exactly copies of ``sources`` ({name: uri})."""
    target = partition_uri(base, table, run_date)
    fs = FileSystem(spark)
    fs.delete(target)
    for name, uri in sorted(sources.items()):
        fs.copy(uri, join(target, name))
    return target


def _overwrite_dynamic(df: DataFrame, table_uri: str, run_date: dt.date) -> None:
    # The same values partition_path puts in the path: Spark names the folders after them.
    values = partition_values(run_date)
    (
        df.withColumns({column: F.lit(value) for column, value in values.items()})
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(*values)
        .parquet(table_uri)
    )
