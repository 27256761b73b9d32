"""processed_writer's S3 way (dynamic partition overwrite) writes the partition the local swap writes."""

from __future__ import annotations

import datetime as dt

from glue_jobs.lib import processed_writer
from glue_jobs.lib.raw_reader import join

DAY = dt.date(2026, 3, 9)
OTHER_DAY = dt.date(2026, 3, 10)


def test_the_dynamic_overwrite_replaces_the_partition_the_uri_names_and_no_other(spark, tmp_path):
    base = str(tmp_path)
    table_uri = join(base, "clients")
    # S3 has no rename: the S3 branch of replace_partition, run here on a folder.
    processed_writer._overwrite_dynamic(spark.createDataFrame([("old",)], "v string"), table_uri, DAY)
    processed_writer._overwrite_dynamic(spark.createDataFrame([("other",)], "v string"), table_uri, OTHER_DAY)
    processed_writer._overwrite_dynamic(spark.createDataFrame([("new",)], "v string"), table_uri, DAY)

    uri = processed_writer.partition_uri(base, "clients", DAY)
    assert uri == f"{base}/clients/year=2026/month=03/day=09"
    assert [r.v for r in spark.read.parquet(uri).collect()] == ["new"]
    other = processed_writer.partition_uri(base, "clients", OTHER_DAY)
    assert [r.v for r in spark.read.parquet(other).collect()] == ["other"]
