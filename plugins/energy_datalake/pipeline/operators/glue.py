"""The Amazon provider's Glue operators, with what this pipeline needs on top.

- ``GlueJobRunOperator``: a failed run names the job, the run and Glue's error message; a run that failed
  deterministically (the script raised ``DeterministicJobFailure``: quarantine threshold passed, bad
  arguments) fails the task at once instead of being retried twice with the same inputs.
- ``GlueCrawlersRunOperator``: several crawlers in one task, one after the other, each waited for by the
  provider's deferrable trigger (the provider's operator runs one crawler).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerRunOperator
from airflow.providers.amazon.aws.triggers.glue_crawler import GlueCrawlerCompleteTrigger

from energy_datalake.compat import AirflowException, AirflowFailException
from glue_jobs.runtime import DeterministicJobFailure

# Glue reports an uncaught Python exception of the script as "<ExceptionClass>: <message>".
DETERMINISTIC_MARKER = DeterministicJobFailure.__name__


class GlueJobRunFailed(AirflowException):
    """The Glue job run failed for a reason a retry may fix (capacity, a transient service error)."""


class GlueJobRunOperator(GlueJobOperator):
    """``GlueJobOperator`` whose failures say which job failed and why, and are retried only if worth it."""

    def execute(self, context) -> str | None:
        try:
            return super().execute(context)
        except AirflowException as error:
            raise self._explained(context, error) from error

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> str:
        try:
            return super().execute_complete(context, event)
        except AirflowException as error:
            raise self._explained(context, error, (event or {}).get("run_id")) from error

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context):
        # A trigger that raised (the waiter saw FAILED) comes back here rather than in execute_complete.
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowException as error:
            if isinstance(error, AirflowFailException | GlueJobRunFailed):
                raise
            raise self._explained(context, error) from error

    def _explained(self, context, error: Exception, run_id: str | None = None) -> Exception:
        if isinstance(error, AirflowFailException | GlueJobRunFailed):
            return error
        run_id = (
            run_id
            or self._job_run_id
            or context["ti"].xcom_pull(task_ids=context["ti"].task_id, key="glue_job_run_id")
        )
        if not run_id:
            return error
        run = self.hook.conn.get_job_run(JobName=self.job_name, RunId=run_id)["JobRun"]
        message = run.get("ErrorMessage") or str(error)
        text = f"Glue job {self.job_name} run {run_id} ended {run.get('JobRunState', 'unknown')}: {message}"
        if DETERMINISTIC_MARKER in message:
            return AirflowFailException(text)
        return GlueJobRunFailed(text)


CRAWLER_INDEX_KEY = "crawler_index"


class GlueCrawlersRunOperator(GlueCrawlerRunOperator):
    """Run ``crawler_names`` one after the other; a crawler already running (a retry) is waited for."""

    template_fields: Sequence[str] = (*GlueCrawlerRunOperator.template_fields, "crawler_names")

    def __init__(self, *, crawler_names: Sequence[str], **kwargs):
        if not crawler_names:
            raise ValueError("GlueCrawlersRunOperator needs at least one crawler name")
        super().__init__(crawler_name=crawler_names[0], **kwargs)
        self.crawler_names = list(crawler_names)

    def execute(self, context) -> list[str]:
        return self._crawl_from(0, context)

    def resume_crawlers(self, context, event: dict[str, Any] | None = None, **_) -> list[str]:
        # Which crawler the trigger waited for is kept in XCom: not every resume hands back the defer
        # kwargs (``dag.test()`` replaces them with the event), and XComs live through a deferral.
        index = int(context["ti"].xcom_pull(task_ids=context["ti"].task_id, key=CRAWLER_INDEX_KEY))
        self.crawler_name = self.crawler_names[index]
        super().execute_complete(context, event)
        self._raise_if_failed(self.crawler_name)
        return self._crawl_from(index + 1, context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context):
        # The trigger raises when the waiter sees a failed crawl: say which crawler failed and why.
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowException:
            # A failed trigger comes back without the index it was given: the crawlers run in order, so the
            # first one whose last crawl failed is the one.
            for name in self.crawler_names:
                self._raise_if_failed(name)
            raise

    def _crawl_from(self, index: int, context) -> list[str]:
        for position in range(index, len(self.crawler_names)):
            self.crawler_name = self.crawler_names[position]
            self._start(self.crawler_name)
            if self.deferrable:
                context["ti"].xcom_push(key=CRAWLER_INDEX_KEY, value=position)
                self.defer(
                    trigger=GlueCrawlerCompleteTrigger(
                        crawler_name=self.crawler_name,
                        waiter_delay=self.poll_interval,
                        aws_conn_id=self.aws_conn_id,
                        region_name=self.region_name,
                        verify=self.verify,
                        botocore_config=self.botocore_config,
                    ),
                    method_name="resume_crawlers",
                )
            self.hook.wait_for_crawler_completion(
                crawler_name=self.crawler_name, poll_interval=self.poll_interval
            )
            self._raise_if_failed(self.crawler_name)
        return self.crawler_names

    def _start(self, name: str) -> None:
        from botocore.exceptions import ClientError

        self.log.info("starting Glue crawler %s", name)
        try:
            self.hook.start_crawler(name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "CrawlerRunningException":
                raise
            self.log.warning("crawler %s is already running (a retry?): waiting for that crawl", name)

    def _raise_if_failed(self, name: str) -> None:
        last = self.hook.get_crawler(name).get("LastCrawl", {})
        if last.get("Status") in ("FAILED", "CANCELLED"):
            raise AirflowException(
                f"Glue crawler {name} {last['Status'].lower()}: {last.get('ErrorMessage', 'no message')}"
            )
