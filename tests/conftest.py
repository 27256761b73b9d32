"""Shared fixtures: one local SparkSession for the whole test run (the JVM start is the slow part)."""

from __future__ import annotations

import logging

import pytest

# py4j logs from its finalizers after pytest has closed the log stream; quieten it so the run ends cleanly.
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def spark():
    from energy_datalake.emulator import spark as local_spark

    local_spark.configure_process()
    from pyspark.sql import SparkSession

    from glue_jobs.runtime import SPARK_CONF

    builder = (
        SparkSession.builder.master("local[2]")
        .appName("energy-datalake-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.adaptive.enabled", "false")
    )
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def datalake_home(tmp_path, monkeypatch):
    """An empty $DATALAKE_HOME for one test."""
    home = tmp_path / "datalake"
    home.mkdir()
    monkeypatch.setenv("DATALAKE_HOME", str(home))
    return home


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials and a region for AWS clients that talk to moto or a Stubber, never to AWS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
