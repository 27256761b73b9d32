"""The export sensor of the AWS target: the provider's ``S3KeySensor`` on the run date's ``_SUCCESS`` markers.

The keys are built from the run date when the task runs (one partition helper for every target), and a
timeout names the exports still missing instead of the provider's bare "Trigger timeout". A timeout fails
the task at once: two retries would only wait another timeout each for files that did not come.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

from energy_datalake import exports
from energy_datalake.compat import AirflowException, AirflowFailException, AirflowSensorTimeout
from glue_jobs.lib.contract import ENTITIES, partition_path


def success_keys(bucket: str, run_date: str) -> list[str]:
    """The ``_SUCCESS`` marker of every entity's export of ``run_date``, the date as Airflow renders it
    (docs/architecture.md: storage)."""
    partition = partition_path(exports.business_date(run_date))
    return [f"s3://{bucket}/raw/{entity}/{partition}/_SUCCESS" for entity in ENTITIES]


class ExportsSensor(S3KeySensor):
    """Waits until every entity's export of ``run_date`` is complete in the raw zone of ``bucket``."""

    template_fields: Sequence[str] = (*S3KeySensor.template_fields, "run_date")

    def __init__(self, *, bucket: str, run_date: str, **kwargs):
        super().__init__(bucket_key=[], **kwargs)
        self.bucket = bucket
        self.run_date = run_date

    def execute(self, context) -> None:
        try:
            self.bucket_key = success_keys(self.bucket, self.run_date)
        except exports.NoBusinessDate as error:
            raise AirflowFailException(str(error)) from None
        try:
            return super().execute(context)
        except AirflowSensorTimeout as timeout:
            raise self._timed_out() from timeout

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context):
        self.bucket_key = success_keys(self.bucket, self.run_date)
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowException as error:
            # A deferred wait that outlived its timeout comes back as TaskDeferralTimeout, which the
            # sensor base class turns into a bare AirflowSensorTimeout on some versions.
            if not isinstance(error, AirflowSensorTimeout) and type(error).__name__ != "TaskDeferralTimeout":
                raise
            raise self._timed_out() from error

    def missing(self) -> list[str]:
        return [key for key in success_keys(self.bucket, self.run_date) if not self._check_key(key, {})]

    def _timed_out(self) -> AirflowSensorTimeout:
        return AirflowSensorTimeout(
            f"exports of {self.run_date} not complete after {self.timeout:.0f} s; "
            f"missing: {', '.join(self.missing())}"
        )
