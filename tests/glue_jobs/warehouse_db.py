"""Databases on the warehouse tests' PostgreSQL server (the ``server`` fixture of conftest.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import psycopg

from energy_datalake.emulator.redshift import Warehouse
from glue_jobs.lib import warehouse as wh

_databases = itertools.count()


def fresh_database(server: Path, prefix: str = "test") -> str:
    """A new database on the session's server, without the schema the admin creates; its URL."""
    return Warehouse(server, database=f"{prefix}_{next(_databases)}").start()


def with_schema(url: str) -> str:
    """The admin's part (docs/deployment.md): the loader's statements never create the schema."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(wh.create_schema_sql())
    return url
