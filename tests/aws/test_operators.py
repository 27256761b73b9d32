"""The AWS target's operators on top of the provider's, against botocore's Glue and S3 models."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from energy_datalake.compat import AirflowException, AirflowFailException, AirflowSensorTimeout
from energy_datalake.pipeline.operators.glue import (
    GlueCrawlersRunOperator,
    GlueJobRunFailed,
    GlueJobRunOperator,
)
from energy_datalake.pipeline.operators.s3 import ExportsSensor, success_keys

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def _aws(aws_credentials, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", '{"conn_type": "aws", "extra": {"region_name": "eu-west-1"}}'
    )


class TaskInstance:
    task_id = "raw_to_processed"

    def __init__(self, xcom: dict | None = None):
        self.xcom = xcom or {}

    def xcom_pull(self, task_ids, key):
        return self.xcom.get(key)


def _job_operator(glue) -> GlueJobRunOperator:
    operator = GlueJobRunOperator(task_id="raw_to_processed", job_name="raw-to-processed")
    operator.hook.__dict__["conn"] = glue
    return operator


def _failed_run(stub: Stubber, message: str, state: str = "FAILED") -> None:
    stub.add_response(
        "get_job_run",
        {
            "JobRun": {
                "Id": "jr_1",
                "JobName": "raw-to-processed",
                "JobRunState": state,
                "ErrorMessage": message,
            }
        },
        {"JobName": "raw-to-processed", "RunId": "jr_1"},
    )


def test_a_deterministic_glue_failure_fails_the_task_at_once_naming_job_run_and_error():
    glue = boto3.client("glue", region_name=REGION)
    operator = _job_operator(glue)
    with Stubber(glue) as stub:
        _failed_run(
            stub, "DeterministicJobFailure: transactions: 7.5 % quarantined, above the 5.0 % threshold"
        )
        error = operator._explained({"ti": TaskInstance({"glue_job_run_id": "jr_1"})}, AirflowException("x"))

    assert isinstance(error, AirflowFailException)
    assert str(error) == (
        "Glue job raw-to-processed run jr_1 ended FAILED: "
        "DeterministicJobFailure: transactions: 7.5 % quarantined, above the 5.0 % threshold"
    )


def test_a_transient_glue_failure_is_left_to_the_retries_and_says_why():
    glue = boto3.client("glue", region_name=REGION)
    operator = _job_operator(glue)
    with Stubber(glue) as stub:
        _failed_run(stub, "Resource unavailable: not enough capacity", state="ERROR")
        error = operator._explained(
            {"ti": TaskInstance()}, AirflowException("Error in glue job"), run_id="jr_1"
        )

    assert isinstance(error, GlueJobRunFailed) and not isinstance(error, AirflowFailException)
    assert "raw-to-processed run jr_1 ended ERROR: Resource unavailable" in str(error)


def test_the_deferred_failure_event_is_explained_from_its_run_id():
    glue = boto3.client("glue", region_name=REGION)
    operator = _job_operator(glue)
    event = {
        "status": "error",
        "message": "Glue Job raw-to-processed Run jr_1 exited with state: FAILED",
        "run_id": "jr_1",
    }
    with Stubber(glue) as stub:
        _failed_run(stub, "DeterministicJobFailure: --run_date must be a date YYYY-MM-DD, not '2026-02-30'")
        with pytest.raises(AirflowFailException, match="not '2026-02-30'"):
            operator.execute_complete({"ti": TaskInstance()}, event)


@mock_aws
def test_crawlers_run_one_after_the_other_and_a_failed_crawl_names_its_error():
    from moto.glue.models import glue_backends
    from moto.moto_api import state_manager

    state_manager.set_transition("glue::crawl", {"progression": "immediate"})
    glue = boto3.client("glue", region_name=REGION)
    for name in ("processed-data-crawler", "curated-data-crawler"):
        glue.create_crawler(
            Name=name, Role="arn:aws:iam::123456789012:role/c", Targets={"S3Targets": [{"Path": "s3://b/x/"}]}
        )
    operator = GlueCrawlersRunOperator(
        task_id="refresh_catalog",
        crawler_names=["processed-data-crawler", "curated-data-crawler"],
        deferrable=False,
    )
    operator.hook.__dict__["glue_client"] = glue
    # moto implements no GetCrawlerMetrics, which the provider's synchronous wait logs at the end.
    operator.hook.wait_for_crawler_completion = lambda crawler_name, poll_interval: glue.get_crawler(
        Name=crawler_name
    )

    assert operator.execute({}) == ["processed-data-crawler", "curated-data-crawler"]
    backend = glue_backends["123456789012"][REGION]
    assert [len(backend.crawlers[n].crawls) for n in operator.crawler_names] == [1, 1]

    original = backend.get_crawler

    def failed(name):
        crawler = original(name)
        crawler.crawls[-1].status = "FAILED"
        return crawler

    backend.get_crawler = failed
    last_crawl = glue.get_crawler(Name="processed-data-crawler")["Crawler"].get("LastCrawl", {})
    if last_crawl.get("Status") != "FAILED":
        pytest.skip(f"moto reports the last crawl as {last_crawl}: cannot stage a failed crawl")
    with pytest.raises(AirflowException, match="Glue crawler processed-data-crawler failed"):
        operator._raise_if_failed("processed-data-crawler")


@mock_aws
def test_the_export_sensor_builds_its_keys_from_the_run_date_and_names_the_missing_on_timeout():
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="lake-dev", CreateBucketConfiguration={"LocationConstraint": REGION})
    keys = success_keys("lake-dev", "2026-03-29")
    assert keys[0] == "s3://lake-dev/raw/providers/year=2026/month=03/day=29/_SUCCESS"
    s3.put_object(Bucket="lake-dev", Key=keys[0].removeprefix("s3://lake-dev/"), Body=b"")
    sensor = ExportsSensor(task_id="wait_for_exports", bucket="lake-dev", run_date="2026-03-29", timeout=60)

    assert sensor.missing() == keys[1:]
    error = sensor._timed_out()
    assert isinstance(error, AirflowSensorTimeout)
    assert str(error) == f"exports of 2026-03-29 not complete after 60 s; missing: {', '.join(keys[1:])}"


@mock_aws
def test_a_deferred_wait_that_times_out_fails_without_retries_naming_the_missing_exports():
    # What the triggerer hands back when the deferral's timeout passes (task runner: next_method "__fail__").
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="lake-dev", CreateBucketConfiguration={"LocationConstraint": REGION})
    sensor = ExportsSensor(
        task_id="wait_for_exports", bucket="lake-dev", run_date="2026-03-29", timeout=21600
    )

    with pytest.raises(AirflowSensorTimeout, match="after 21600 s; missing: s3://lake-dev/raw/providers/"):
        sensor.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {})
    with pytest.raises(AirflowException, match="TRIGGER_FAILURE") as other:
        sensor.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_FAILURE}, {})
    assert not isinstance(other.value, AirflowSensorTimeout)
