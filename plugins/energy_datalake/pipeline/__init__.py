"""The target that builds the DAG's tasks: ``local`` (embedded engines) or ``aws`` (the Amazon provider).

Each target module has one function per step of the daily DAG, named like the task it returns. Both build
the same task ids, and the DAG file wires them in the same order, so the graph does not depend on the
target. This module stays light (the DAG file imports it at parse time): the target module is imported
lazily, and what the two targets share (the run date, the steps, the zones' assets) lives here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from airflow.sdk import Asset

from energy_datalake import config
from glue_jobs.lib.contract import ENTITIES
from glue_jobs.lib.curated_tables import CURATED_TABLES

STEPS = (
    "deploy_stacks",
    "wait_for_exports",
    "crawl_raw",
    "raw_to_processed",
    "processed_to_curated",
    "refresh_catalog",
    "athena_checks",
    "load_redshift",
)

# The Glue entry script each job step runs (glue_jobs/<script>.py); on both targets the step runs the job of
# the templates whose script it is, by that job's name.
JOB_SCRIPTS = {
    "raw_to_processed": "raw_to_processed",
    "processed_to_curated": "processed_to_curated",
    "load_redshift": "curated_to_redshift",
}

# A manual trigger may name the date to (re)process; a scheduled run processes its logical date. An Airflow 3
# manual run may have no logical date (no ``ds``): then the date is empty, and the export sensor, the first
# dated task, fails the run saying so (exports.business_date) instead of a template error in every task.
RUN_DATE = "{{ params.run_date or ds | default('') }}"

PROCESSED_TABLES = (*ENTITIES, "quarantine", "load_manifest")


def load(name: str | None = None) -> ModuleType:
    """The target module (``DATALAKE_TARGET``, default ``local``)."""
    return importlib.import_module(f"{__name__}.{name or config.target()}")


def catalog_asset(database: str, table: str) -> Asset:
    # The catalog table names the data on both targets. An "x-" scheme has no URI normalizer, so Airflow
    # does not load every provider (boto3 for s3://) while parsing the DAG.
    return Asset(uri=f"x-glue://{database}/{table}", name=f"{database}.{table}", group="energy_datalake")


def outlets(step: str) -> list[Asset]:
    """The zone tables a step writes, as Airflow assets (lineage in the UI, data-aware scheduling)."""
    tables = {
        "raw_to_processed": [("processed", t) for t in PROCESSED_TABLES],
        "processed_to_curated": [("curated", t) for t in CURATED_TABLES],
    }.get(step, [])
    return [catalog_asset(database, table) for database, table in tables]
