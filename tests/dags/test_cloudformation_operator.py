"""Create-or-update of a stack through change sets, against botocore's CloudFormation model (Stubber).

moto's CloudFormation needs extras this environment does not install; the Stubber checks every request
against the real service model, which is what this operator's correctness depends on.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber

from energy_datalake.operators.cloudformation import StackDeployFailed, deploy_stack, stack_exists

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Name:
    Type: String
Resources:
  Lake:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref Name
Outputs:
  Lake:
    Description: the bucket
    Value: !Ref Lake
"""
REGION = "eu-west-1"
PARAMETERS = [{"ParameterKey": "Name", "ParameterValue": "lake-a"}]


@pytest.fixture
def aws_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


def test_a_new_stack_is_created_through_a_create_change_set(aws_credentials):
    client = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id lake does not exist", 400, {"StackName": "lake"}
    )
    stubber.add_response(
        "create_change_set",
        {"Id": "arn:cs", "StackId": "arn:stack"},
        {
            "StackName": "lake",
            "ChangeSetName": "cs",
            "ChangeSetType": "CREATE",
            "TemplateBody": TEMPLATE,
            "Parameters": PARAMETERS,
            "Capabilities": ANY,
        },
    )
    ready = {"StackName": "lake", "ChangeSetName": "cs", "Status": "CREATE_COMPLETE"}
    stubber.add_response("describe_change_set", ready, {"StackName": "lake", "ChangeSetName": "cs"})
    stubber.add_response("describe_change_set", ready, {"StackName": "lake", "ChangeSetName": "cs"})
    stubber.add_response("execute_change_set", {}, {"StackName": "lake", "ChangeSetName": "cs"})
    stubber.add_response("describe_stacks", _stacks("CREATE_COMPLETE"), {"StackName": "lake"})
    with stubber:
        assert deploy_stack(client, "lake", TEMPLATE, PARAMETERS, change_set_name="cs") == "created"
    stubber.assert_no_pending_responses()


def test_a_stack_left_in_review_by_a_failed_first_deploy_is_created_again(aws_credentials):
    client = boto3.client("cloudformation", region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_response("describe_stacks", _stacks("REVIEW_IN_PROGRESS"), {"StackName": "lake"})
        assert not stack_exists(client, "lake")


def _stacks(status: str) -> dict:
    return {"Stacks": [{"StackName": "lake", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": status}]}


def _stubbed(status: str, reason: str):
    client = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "lake",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                }
            ]
        },
        {"StackName": "lake"},
    )
    stubber.add_response(
        "create_change_set",
        {"Id": "arn:cs", "StackId": "arn:stack"},
        {
            "StackName": "lake",
            "ChangeSetName": "cs",
            "ChangeSetType": "UPDATE",
            "TemplateBody": TEMPLATE,
            "Parameters": [],
            "Capabilities": ANY,
        },
    )
    described = {"StackName": "lake", "ChangeSetName": "cs", "Status": status, "StatusReason": reason}
    # The waiter's poll, then the status read after it.
    stubber.add_response("describe_change_set", described, {"StackName": "lake", "ChangeSetName": "cs"})
    stubber.add_response("describe_change_set", described, {"StackName": "lake", "ChangeSetName": "cs"})
    return client, stubber


def test_an_unchanged_template_is_a_no_op_and_its_empty_change_set_is_deleted(aws_credentials):
    reason = "The submitted information didn't contain changes. Submit different information to create a change set."
    client, stubber = _stubbed("FAILED", reason)
    stubber.add_response("delete_change_set", {}, {"StackName": "lake", "ChangeSetName": "cs"})
    with stubber:
        assert deploy_stack(client, "lake", TEMPLATE, change_set_name="cs") == "unchanged"
    stubber.assert_no_pending_responses()


def test_a_failed_change_set_is_an_error_with_its_reason(aws_credentials):
    client, stubber = _stubbed("FAILED", "Template error: unresolved resource dependencies [Missing]")
    with stubber, pytest.raises(StackDeployFailed, match="unresolved resource dependencies"):
        deploy_stack(client, "lake", TEMPLATE, change_set_name="cs")
