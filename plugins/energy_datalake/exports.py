"""A day's exports: where their ``_SUCCESS`` markers land, and how long a run waits for them.

Light on purpose (no Airflow import): the DAG's sensors and ``datalake run``, which tells the person at the
keyboard what it waits for before Airflow has even started, read the same settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from energy_datalake import config
from glue_jobs.lib.contract import ENTITIES, partition_path

TIMEOUT_ENV = "DATALAKE_EXPORT_TIMEOUT_SECONDS"
POKE_ENV = "DATALAKE_EXPORT_POKE_SECONDS"
# A day's export normally lands within hours of the day's end.
DEFAULT_TIMEOUT_SECONDS = 6 * 3600.0


def _seconds(name: str, default: float, environ: Mapping[str, str] | None) -> float:
    text = (os.environ if environ is None else environ).get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {text!r}")
    return value


def timeout_seconds(environ: Mapping[str, str] | None = None) -> float:
    """How long the sensor waits for a day's exports before it fails the run (``$DATALAKE_EXPORT_TIMEOUT_SECONDS``
    of ``environ``, default this process's environment)."""
    return _seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS, environ)


def poke_seconds(default: float, environ: Mapping[str, str] | None = None) -> float:
    """How often the sensor looks (``$DATALAKE_EXPORT_POKE_SECONDS``); each target has its own default."""
    return _seconds(POKE_ENV, default, environ)


class NoBusinessDate(ValueError):
    """A run with neither a ``run_date`` param nor a logical date (Airflow 3's manual trigger may have none)."""


def business_date(rendered: str) -> date:
    """The run's business date from the DAG's rendered ``RUN_DATE`` (empty: the run has neither)."""
    if not rendered:
        raise NoBusinessDate(
            "this run has no business date: no run_date param and no logical date; "
            "trigger it with run_date = YYYY-MM-DD (or with a logical date)"
        )
    return date.fromisoformat(rendered)


def success_markers(run_date: date) -> dict[str, Path]:
    """The local raw zone's ``_SUCCESS`` marker of each entity's export of the run date."""
    from energy_datalake import templates

    raw = config.local_path(f"s3://{templates.load().lake_bucket}/raw")
    partition = partition_path(run_date)
    return {entity: raw / entity / partition / "_SUCCESS" for entity in ENTITIES}


def missing_locally(run_date: date) -> dict[str, Path]:
    """The entities whose export of the run date has no marker yet in the local raw zone, with the marker."""
    return {entity: marker for entity, marker in success_markers(run_date).items() if not marker.exists()}


def duration(seconds: float) -> str:
    """``6 h``, ``90 min``, ``45 s``: how long, as a person says it."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
