"""Shared fixtures: one local SparkSession for the whole test run (the JVM start is the slow part).

A test that takes the Spark session, the warehouse's PostgreSQL server or a whole-repository linter run is
marked ``slow`` here, so that ``make test-fast`` (``-m "not slow"``) starts none of them; tests that start
Spark, PostgreSQL, Airflow or a browser otherwise are marked by hand.
"""

from __future__ import annotations

import logging

import pytest

# py4j logs from its finalizers after pytest has closed the log stream; quieten it so the run ends cleanly.
logging.getLogger("py4j").setLevel(logging.WARNING)


# The shared SparkSession, tests/glue_jobs/conftest.py's PostgreSQL and warm Glue runtime, and
# tests/cloudformation/test_lint.py's cfn-lint (informational checks) and checkov runs over every template.
SLOW_FIXTURES = frozenset({"spark", "server", "run_glue_script", "cfn_lint_findings", "checkov_report"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if hasattr(config, "workerinput"):
        # Under pytest-xdist (make test) each worker takes a whole module at a time, in this order: the
        # end-to-end modules first, one per worker (minutes each, and they wait on Airflow much of the time),
        # then the modules with slow tests, the quick ones last to fill the gaps. Every worker sorts the
        # same way, so the collections still agree.
        slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}

        def weight(item) -> int:
            if item.nodeid.startswith("tests/e2e/"):
                return 0
            return 1 if item.module.__name__ in slow_modules else 2

        items.sort(key=weight)


@pytest.fixture(scope="session", autouse=True)
def lint_cache(tmp_path_factory):
    """The deploys' cfn-lint verdicts in a scratch file shared by the session's tests (each lints the
    templates once, not once per lake), never in the user's own cache."""
    import os

    from energy_datalake.emulator.cloudformation import LINT_CACHE_ENV

    saved = os.environ.get(LINT_CACHE_ENV)
    path = tmp_path_factory.mktemp("lint-cache") / "cfn-lint.json"
    os.environ[LINT_CACHE_ENV] = str(path)
    yield path
    if saved is None:
        os.environ.pop(LINT_CACHE_ENV, None)
    else:
        os.environ[LINT_CACHE_ENV] = saved


@pytest.fixture(scope="session")
def spark():
    from energy_datalake.emulator import spark as local_spark

    local_spark.configure_process()
    from pyspark.sql import SparkSession

    from glue_jobs.runtime import LOCAL_CONF, SPARK_CONF

    builder = (
        SparkSession.builder.master("local[2]")
        .appName("energy-datalake-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
    )
    # Adaptive query execution as the jobs run it (LOCAL_CONF, and Glue 5's default): tests see the plans
    # that run.
    for key, value in {
        **SPARK_CONF,
        "spark.sql.adaptive.enabled": LOCAL_CONF["spark.sql.adaptive.enabled"],
    }.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# Debian's package (.ci/run installs it); Playwright drives it, and never downloads a browser of its own.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    """Headless Chromium under Playwright's sync API; the test is skipped, saying why, without either."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian's chromium package; .ci/run installs it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed in this environment"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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
