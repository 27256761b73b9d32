"""Create-or-update of a stack through change sets, against botocore's CloudFormation model (Stubber).

The Stubber checks every request against the real service model and fails on any call not expected in
order, which is what this code's correctness depends on. moto's CloudFormation cannot run our templates
(its YAML loader mangles ``!ImportValue`` with a nested ``Fn::Sub``, and it fails on KMS tags).
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from test_deploy_environment import synthetic  # noqa: F401  (a fixture)

from energy_datalake.aws import glue_code, stacks
from energy_datalake.aws.stacks import StackDeployFailed, deploy_stack, stack_capabilities
from energy_datalake.pipeline.operators.cloudformation import CloudFormationDeployStacksOperator, as_bool

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
STACK = "lake"
CS = "cs"
ROLE = "arn:aws:iam::111111111111:role/DataLakeDeploy"
PARAMETERS = [{"ParameterKey": "Name", "ParameterValue": "lake-a"}]
CHANGE_SET = {"StackName": STACK, "ChangeSetName": CS}
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)


@pytest.fixture(autouse=True)
def _aws(aws_credentials):
    """Every test here talks to moto or a Stubber with fake credentials."""


@pytest.fixture
def stubbed():
    client = boto3.client("cloudformation", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _stacks(status: str, reason: str | None = None) -> dict:
    stack = {"StackName": STACK, "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": status}
    if reason:
        stack["StackStatusReason"] = reason
    return {"Stacks": [stack]}


def _absent(stubber):
    stubber.add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {STACK} does not exist",
        400,
        {"StackName": STACK},
    )


def _change_set(stubber, kind: str, *, status="CREATE_COMPLETE", reason=None, pages=((),)):
    """CreateChangeSet with the service role, then the waiter's poll and the paginated read."""
    stubber.add_response(
        "create_change_set",
        {"Id": "arn:cs", "StackId": "arn:stack"},
        {
            **CHANGE_SET,
            "ChangeSetType": kind,
            "TemplateBody": TEMPLATE,
            "Parameters": PARAMETERS,
            "Capabilities": ["CAPABILITY_IAM"],
            "RoleARN": ROLE,
        },
    )
    head = {**CHANGE_SET, "Status": status, **({"StatusReason": reason} if reason else {})}
    stubber.add_response("describe_change_set", head, CHANGE_SET)
    for number, changes in enumerate(pages):
        page = {**head, "Changes": list(changes)}
        if number < len(pages) - 1:
            page["NextToken"] = f"page-{number + 2}"
        request = {**CHANGE_SET, **({"NextToken": f"page-{number + 1}"} if number else {})}
        stubber.add_response("describe_change_set", page, request)


def _executed(stubber, final_status: str):
    stubber.add_response("execute_change_set", {}, {**CHANGE_SET, "RetainExceptOnCreate": True})
    stubber.add_response("describe_stacks", _stacks(final_status), {"StackName": STACK})


def _deploy(client, **kwargs):
    return deploy_stack(
        client, STACK, TEMPLATE, PARAMETERS, ["CAPABILITY_IAM"], role_arn=ROLE, change_set_name=CS, **kwargs
    )


def _change(kind: str, logical: str, action: str, replacement: str | None = None) -> dict:
    resource = {"Action": action, "LogicalResourceId": logical, "ResourceType": kind}
    if replacement:
        resource["Replacement"] = replacement
    if action != "Add":
        resource["PhysicalResourceId"] = f"{logical.lower()}-physical"
    return {"Type": "Resource", "ResourceChange": resource}


def test_a_new_stack_is_created_by_the_service_role(stubbed):
    client, stubber = stubbed
    _absent(stubber)
    _change_set(stubber, "CREATE", pages=[[_change("AWS::S3::Bucket", "Lake", "Add")]])
    _executed(stubber, "CREATE_COMPLETE")
    assert _deploy(client) == "created"


def test_a_live_stack_is_updated_when_no_data_bearing_resource_is_replaced(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("UPDATE_COMPLETE"), {"StackName": STACK})
    _change_set(
        stubber,
        "UPDATE",
        pages=[
            [
                _change("AWS::S3::Bucket", "Lake", "Modify", "False"),
                _change("AWS::IAM::Role", "JobRole", "Modify", "True"),
            ]
        ],
    )
    _executed(stubber, "UPDATE_COMPLETE")
    assert _deploy(client) == "updated"


def test_an_unchanged_template_is_a_no_op_and_its_empty_change_set_is_deleted(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("CREATE_COMPLETE"), {"StackName": STACK})
    _change_set(stubber, "UPDATE", status="FAILED", reason=NO_CHANGES)
    stubber.add_response("delete_change_set", {}, CHANGE_SET)
    assert _deploy(client) == "unchanged"


def test_a_failed_change_set_is_an_error_with_its_reason(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("CREATE_COMPLETE"), {"StackName": STACK})
    _change_set(
        stubber, "UPDATE", status="FAILED", reason="Template error: unresolved dependencies [Missing]"
    )
    with pytest.raises(StackDeployFailed, match=r"change set cs of stack lake failed: .*\[Missing\]"):
        _deploy(client)


def test_a_failed_first_create_is_deleted_and_created_again(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("ROLLBACK_COMPLETE"), {"StackName": STACK})
    stubber.add_response("delete_stack", {}, {"StackName": STACK, "RoleARN": ROLE})
    _absent(stubber)  # the delete waiter's poll: gone
    _change_set(stubber, "CREATE")
    _executed(stubber, "CREATE_COMPLETE")
    logged = []
    assert _deploy(client, log=logged.append) == "created"
    assert any("ROLLBACK_COMPLETE" in line and "deleting" in line for line in logged)


def test_a_stack_left_in_review_by_a_failed_first_change_set_is_created_again(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("REVIEW_IN_PROGRESS"), {"StackName": STACK})
    _change_set(stubber, "CREATE")
    _executed(stubber, "CREATE_COMPLETE")
    assert _deploy(client) == "created"


@pytest.mark.parametrize(
    "status",
    [
        "UPDATE_ROLLBACK_FAILED",
        "ROLLBACK_FAILED",
        "DELETE_FAILED",
        "CREATE_FAILED",
        "IMPORT_ROLLBACK_FAILED",
        "UPDATE_IN_PROGRESS",
        "CREATE_IN_PROGRESS",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    ],
)
def test_a_stuck_stack_fails_at_once_with_its_status_and_reason(stubbed, status):
    client, stubber = stubbed
    reason = "The following resource(s) failed to update: [DataKey]."
    stubber.add_response("describe_stacks", _stacks(status, reason), {"StackName": STACK})
    # No change set is asked for: the Stubber would reject the unexpected call.
    with pytest.raises(StackDeployFailed) as failed:
        _deploy(client)
    message = str(failed.value)
    assert f"stack lake is {status} ({reason})" in message
    assert "\n" not in message


def test_a_change_set_replacing_a_bucket_is_refused_and_deleted(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("UPDATE_COMPLETE"), {"StackName": STACK})
    _change_set(
        stubber,
        "UPDATE",
        pages=[
            [
                _change("AWS::S3::Bucket", "Lake", "Modify", "True"),
                _change("AWS::KMS::Key", "DataKey", "Remove"),
                _change("AWS::Glue::Database", "Curated", "Modify", "Conditional"),
            ]
        ],
    )
    stubber.add_response("delete_change_set", {}, CHANGE_SET)
    with pytest.raises(StackDeployFailed) as refused:
        _deploy(client)
    message = str(refused.value)
    assert "replace AWS::S3::Bucket Lake (lake-physical" in message
    assert "remove AWS::KMS::Key DataKey (datakey-physical" in message
    assert "possibly replace AWS::Glue::Database Curated" in message
    assert "allow_replacement" in message and "\n" not in message


def test_a_replacement_goes_ahead_when_allowed(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("UPDATE_COMPLETE"), {"StackName": STACK})
    _change_set(stubber, "UPDATE", pages=[[_change("AWS::S3::Bucket", "Lake", "Modify", "True")]])
    _executed(stubber, "UPDATE_COMPLETE")
    assert _deploy(client, allow_replacement=True) == "updated"


def test_every_page_of_a_change_set_is_read(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("UPDATE_COMPLETE"), {"StackName": STACK})
    harmless = [_change("AWS::IAM::Role", f"Role{n}", "Modify", "False") for n in range(3)]
    # The bucket's removal is only on the last page.
    _change_set(
        stubber, "UPDATE", pages=[harmless, harmless, [_change("AWS::S3::Bucket", "Trail", "Remove")]]
    )
    stubber.add_response("delete_change_set", {}, CHANGE_SET)
    with pytest.raises(StackDeployFailed, match="remove AWS::S3::Bucket Trail"):
        _deploy(client)


def _event(logical: str, status: str, reason: str | None = None, kind: str = "AWS::S3::Bucket") -> dict:
    event = {
        "StackId": "arn:stack",
        "EventId": f"{logical}-{status}",
        "StackName": STACK,
        "LogicalResourceId": logical,
        "ResourceType": "AWS::CloudFormation::Stack" if logical == STACK else kind,
        "Timestamp": "2026-01-01T00:00:00Z",
        "ResourceStatus": status,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def test_a_stack_that_does_not_complete_names_its_first_failed_resource(stubbed):
    client, stubber = stubbed
    _absent(stubber)
    _change_set(stubber, "CREATE")
    _executed(stubber, "ROLLBACK_COMPLETE")
    newest = [
        _event(STACK, "ROLLBACK_COMPLETE"),
        _event("Lake", "DELETE_COMPLETE"),
        _event(STACK, "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [DataKey, Lake]."),
        _event("Lake", "CREATE_FAILED", "Resource creation cancelled"),
    ]
    oldest = [
        _event(
            "DataKey", "CREATE_FAILED", "The new key policy will not allow you to update it", "AWS::KMS::Key"
        ),
        _event("Lake", "CREATE_IN_PROGRESS"),
        _event(STACK, "CREATE_IN_PROGRESS", "User Initiated"),
        # An earlier operation's failure, which is not this deploy's cause.
        _event("Old", "CREATE_FAILED", "an older failure"),
    ]
    stubber.add_response(
        "describe_stack_events", {"StackEvents": newest, "NextToken": "t"}, {"StackName": STACK}
    )
    stubber.add_response(
        "describe_stack_events", {"StackEvents": oldest}, {"StackName": STACK, "NextToken": "t"}
    )
    with pytest.raises(StackDeployFailed) as failed:
        _deploy(client)
    assert str(failed.value) == (
        "stack lake: create did not complete (ROLLBACK_COMPLETE): DataKey (AWS::KMS::Key) CREATE_FAILED: "
        "The new key policy will not allow you to update it"
    )


def test_a_failed_update_names_the_failed_resource(stubbed):
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stacks("UPDATE_COMPLETE"), {"StackName": STACK})
    _change_set(stubber, "UPDATE")
    _executed(stubber, "UPDATE_ROLLBACK_COMPLETE")
    events = [
        _event(STACK, "UPDATE_ROLLBACK_COMPLETE"),
        _event("Lake", "UPDATE_FAILED", "Access Denied (Service: S3, Status Code: 403)"),
        _event(STACK, "UPDATE_IN_PROGRESS", "User Initiated"),
    ]
    stubber.add_response("describe_stack_events", {"StackEvents": events}, {"StackName": STACK})
    with pytest.raises(
        StackDeployFailed, match=r"update did not complete \(UPDATE_ROLLBACK_COMPLETE\): Lake "
    ):
        _deploy(client)


def test_a_stack_without_a_service_role_is_deployed_with_the_callers_credentials(stubbed):
    client, stubber = stubbed
    _absent(stubber)
    stubber.add_response(
        "create_change_set",
        {"Id": "arn:cs", "StackId": "arn:stack"},
        {
            **CHANGE_SET,
            "ChangeSetType": "CREATE",
            "TemplateBody": TEMPLATE,
            "Parameters": [],
            "Capabilities": [],
        },
    )
    ready = {**CHANGE_SET, "Status": "CREATE_COMPLETE"}
    stubber.add_response("describe_change_set", ready, CHANGE_SET)
    stubber.add_response("describe_change_set", ready, CHANGE_SET)
    _executed(stubber, "CREATE_COMPLETE")
    assert deploy_stack(client, STACK, TEMPLATE, role_arn=None, change_set_name=CS) == "created"


def test_a_template_with_a_transform_is_acknowledged_as_auto_expanding(tmp_path):
    plain, macro = tmp_path / "plain.yaml", tmp_path / "macro.yaml"
    plain.write_text(TEMPLATE)
    macro.write_text('Transform: "AWS::LanguageExtensions"\n' + TEMPLATE)
    assert stack_capabilities(plain, ("CAPABILITY_IAM",)) == ["CAPABILITY_IAM"]
    assert stack_capabilities(macro, ("CAPABILITY_IAM",)) == ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    assert stack_capabilities(macro, ()) == ["CAPABILITY_AUTO_EXPAND"]


def test_the_waits_poll_faster_than_the_waiters_30_s_default(stubbed, monkeypatch):
    import botocore.waiter

    slept = []
    monkeypatch.setattr(botocore.waiter.time, "sleep", slept.append)
    client, stubber = stubbed
    _absent(stubber)
    stubber.add_response(
        "create_change_set",
        {"Id": "arn:cs", "StackId": "arn:stack"},
        {
            **CHANGE_SET,
            "ChangeSetType": "CREATE",
            "TemplateBody": TEMPLATE,
            "Parameters": [],
            "Capabilities": [],
        },
    )
    stubber.add_response("describe_change_set", {**CHANGE_SET, "Status": "CREATE_IN_PROGRESS"}, CHANGE_SET)
    for _ in range(2):
        stubber.add_response("describe_change_set", {**CHANGE_SET, "Status": "CREATE_COMPLETE"}, CHANGE_SET)
    stubber.add_response("execute_change_set", {}, {**CHANGE_SET, "RetainExceptOnCreate": True})
    stubber.add_response("describe_stacks", _stacks("CREATE_IN_PROGRESS"), {"StackName": STACK})
    stubber.add_response("describe_stacks", _stacks("CREATE_COMPLETE"), {"StackName": STACK})
    assert deploy_stack(client, STACK, TEMPLATE, role_arn=None, change_set_name=CS) == "created"
    assert slept == [stacks.CHANGE_SET_WAIT["Delay"], stacks.STACK_WAIT["Delay"]]
    assert max(slept) < 30


@pytest.mark.parametrize(
    ("rendered", "expected"), [(True, True), ("False", False), ("True", True), ("", False)]
)
def test_allow_replacement_rendered_by_jinja_is_read_as_a_flag(rendered, expected):
    assert as_bool(rendered) is expected


def test_allow_replacement_is_a_template_field_and_rejects_nonsense():
    assert "allow_replacement" in CloudFormationDeployStacksOperator.template_fields
    with pytest.raises(ValueError, match="'maybe'"):
        as_bool("maybe")


@pytest.mark.usefixtures("synthetic")
def test_the_operator_deploys_an_environment_with_its_connections_clients_and_returns_the_outcome():
    """Against moto, which can create the small stacks of ``synthetic`` (a bucket, SSM parameters)."""
    with mock_aws():
        operator = CloudFormationDeployStacksOperator(
            task_id="deploy_stacks", environment="dev", aws_conn_id=None
        )
        created = operator.execute({})
        assert created == {
            "lake-dev-storage": "created",
            "lake-dev-jobs": "created",
            "lake-dev-reports": "created",
            "lake-dev-more-jobs": "created",
        }
        version = glue_code.build().version
        # The bucket the storage stack created holds the code; the stacks that run it name its version.
        listed = boto3.client("s3").list_objects_v2(Bucket="lake-dev-glue-scripts")["Contents"]
        assert {o["Key"] for o in listed} == set(glue_code.build().objects())
        ssm = boto3.client("ssm")
        assert ssm.get_parameter(Name="/lake/jobs")["Parameter"]["Value"] == version
        assert ssm.get_parameter(Name="/lake/more-jobs")["Parameter"]["Value"] == version
        assert set(operator.execute({}).values()) == {"unchanged"}
