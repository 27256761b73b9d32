"""The Airflow names whose home moved within Airflow 3, importable from one place on 3.0 and later.

MWAA runs Airflow 3.0, where the timetable and the task exceptions are not yet in the task SDK; 3.1 and
later have them in ``airflow.sdk`` and deprecate the old paths. Each name is imported from the SDK first,
so the newer versions never touch a deprecated module, and from its 3.0 home otherwise. Only this module
knows which version is running; the DAG and the targets import these names from here.

Not ``airflow.providers.common.compat.sdk``: that module first shipped in common-compat 1.8.0 (October
2025), newer than what the constraints of Airflow 3.0.6, which MWAA installs against, can pin.
"""

from __future__ import annotations

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.0
    from airflow.timetables.interval import CronDataIntervalTimetable

try:
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:  # Airflow 3.0: the task runner catches these, from here
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "CronDataIntervalTimetable",
]
