"""The warehouse tests' PostgreSQL: one embedded server for the whole run, a fresh database per test."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from warehouse_db import fresh_database, with_schema

from energy_datalake.emulator.redshift import Warehouse


@pytest.fixture(scope="session")
def server():
    """The server's home. Not under pytest's base temp dir: concurrent pytest sessions reset its permissions,
    and the server runs as another user when the tests run as root."""
    home = Path(tempfile.mkdtemp(prefix="dl-warehouse-test-"))
    Warehouse(home).start()
    yield home
    Warehouse(home).stop()
    shutil.rmtree(home)


@pytest.fixture
def bare_url(server):
    """A fresh database without the schema the admin creates."""
    return fresh_database(server)


@pytest.fixture
def url(bare_url):
    """A fresh database with the admin's schema, so each test starts from an empty warehouse."""
    return with_schema(bare_url)
