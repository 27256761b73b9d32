"""deploy_environment end to end: CloudFormation through botocore's Stubber, S3 in moto.

The Stubber answers in order and rejects any request the CloudFormation model or the expected sequence does
not allow; moto's S3 keeps what the deploy uploads. Both clients record the calls they receive, so the tests
see the order in which the deploy talks to the two services.
"""

from __future__ import annotations

import json
import textwrap

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from energy_datalake import config, templates
from energy_datalake.aws import glue_code, stacks

REGION = "eu-west-1"
ENV = "dev"


@pytest.fixture(autouse=True)
def _aws(aws_credentials):
    """Every test here talks to moto or a Stubber with fake credentials."""


@pytest.fixture
def clients():
    """(cloudformation client, its Stubber, s3 client in moto, the calls both received in order)."""
    calls: list[tuple[str, str, str]] = []
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        for client in (cloudformation, s3):
            client.meta.events.register("before-parameter-build", _recorder(calls))
        with Stubber(cloudformation) as stubber:
            yield cloudformation, stubber, s3, calls
            stubber.assert_no_pending_responses()


def _recorder(calls):
    def record(params, model, **_):
        calls.append((model.name, params.get("StackName", ""), params.get("Key", "")))

    return record


def _declares_code_version(stack: templates.Stack) -> bool:
    return stacks.GLUE_CODE_PARAMETER in templates.decode(stack.template).get("Parameters", {})


def _expect_create(stubber, stack: templates.Stack, parameters: list[dict], role: str):
    name = stack.name
    stubber.add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {name} does not exist", 400, {"StackName": name}
    )
    stubber.add_response(
        "create_change_set",
        {"Id": f"arn:cs/{name}", "StackId": f"arn:stack/{name}"},
        {
            "StackName": name,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "TemplateBody": stack.template.read_text(),
            "Parameters": parameters,
            "Capabilities": list(stack.capabilities),
            "RoleARN": role,
        },
    )
    ready = {"StackName": name, "ChangeSetName": "cs", "Status": "CREATE_COMPLETE", "Changes": []}
    for _ in range(2):  # the waiter's poll, then the paginated read
        stubber.add_response("describe_change_set", ready, {"StackName": name, "ChangeSetName": ANY})
    stubber.add_response(
        "execute_change_set", {}, {"StackName": name, "ChangeSetName": ANY, "RetainExceptOnCreate": True}
    )
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {"StackName": name, "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
            ]
        },
        {"StackName": name},
    )


def _expect_unchanged(stubber, stack: templates.Stack):
    name = stack.name
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {"StackName": name, "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
            ]
        },
        {"StackName": name},
    )
    stubber.add_response("create_change_set", {"Id": "arn:cs", "StackId": "arn:stack"}, None)
    empty = {
        "StackName": name,
        "ChangeSetName": "cs",
        "Status": "FAILED",
        "StatusReason": "The submitted information didn't contain changes. Submit different information.",
    }
    for _ in range(2):
        stubber.add_response("describe_change_set", empty, {"StackName": name, "ChangeSetName": ANY})
    stubber.add_response("delete_change_set", {}, {"StackName": name, "ChangeSetName": ANY})


def _with_version(stack: templates.Stack, version: str) -> list[dict]:
    return [
        {**p, "ParameterValue": version} if p["ParameterKey"] == stacks.GLUE_CODE_PARAMETER else p
        for p in stack.parameters
    ]


def _deploy_and_check_order(clients, declared: templates.Environment) -> dict[str, str]:
    cloudformation, stubber, s3, calls = clients
    bucket = declared.buckets["glue_scripts"]
    # The bucket the storage stack would have created by the time the code is uploaded.
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    calls.clear()
    version = glue_code.build().version
    role = declared.parameters["DeployRoleArn"]
    for stack in declared.stacks:
        _expect_create(stubber, stack, _with_version(stack, version), role)
    logged = []
    outcome = stacks.deploy_environment(cloudformation, s3, ENV, log=logged.append)

    assert list(outcome) == [s.name for s in declared.stacks]
    assert set(outcome.values()) == {"created"}
    declaring = [s.name for s in declared.stacks if _declares_code_version(s)]
    first = declaring[0]
    puts = [i for i, call in enumerate(calls) if call[0] == "PutObject"]
    assert {calls[i][2] for i in puts} == set(glue_code.build().objects())
    change_sets = {call[1]: i for i, call in enumerate(calls) if call[0] == "CreateChangeSet"}
    # Uploaded after every stack before the first that runs the code, and before that stack.
    before = [s.name for s in declared.stacks[: [s.name for s in declared.stacks].index(first)]]
    assert all(change_sets[name] < min(puts) for name in before)
    assert max(puts) < change_sets[first]
    assert any(version in line for line in logged)
    return outcome


def test_the_environment_is_deployed_in_order_with_its_code_uploaded_before_the_etl_stack(clients):
    declared = templates.load(ENV)
    etl = next(s for s in declared.stacks if s.template.stem == "etl")
    # The interface with the templates: only the etl stack runs the uploaded code.
    assert [s.name for s in declared.stacks if _declares_code_version(s)] == [etl.name]
    _deploy_and_check_order(clients, declared)


def test_a_second_deploy_of_the_same_code_uploads_nothing_and_changes_nothing(clients):
    cloudformation, stubber, s3, calls = clients
    declared = templates.load(ENV)
    bucket = declared.buckets["glue_scripts"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    glue_code.upload(s3, bucket, glue_code.build())
    calls.clear()
    for stack in declared.stacks:
        _expect_unchanged(stubber, stack)
    outcome = stacks.deploy_environment(cloudformation, s3, ENV, log=lambda _: None)
    assert set(outcome.values()) == {"unchanged"}
    assert not [c for c in calls if c[0] == "PutObject"]
    assert len([c for c in calls if c[0] == "HeadObject"]) == 4


SYNTHETIC = {
    "storage": """
        Parameters:
          ProjectName: {Type: String, Default: lake}
          Environment: {Type: String}
          DeployRoleArn: {Type: String}
        Resources:
          GlueScriptsBucket:
            Type: AWS::S3::Bucket
            Properties:
              BucketName: !Sub "${ProjectName}-${Environment}-glue-scripts"
        """,
    "jobs": """
        Metadata:
          EnergyDatalake: {DeployAfter: [storage]}
        Parameters:
          ProjectName: {Type: String, Default: lake}
          Environment: {Type: String}
          GlueCodeVersion: {Type: String, Default: unversioned}
        Resources:
          Version:
            Type: AWS::SSM::Parameter
            Properties: {Name: /lake/jobs, Type: String, Value: !Ref GlueCodeVersion}
        """,
    "reports": """
        Metadata:
          EnergyDatalake: {DeployAfter: [jobs]}
        Parameters:
          ProjectName: {Type: String, Default: lake}
          Environment: {Type: String}
        Resources:
          Note:
            Type: AWS::SSM::Parameter
            Properties: {Name: /lake/reports, Type: String, Value: reports}
        """,
    "more-jobs": """
        Metadata:
          EnergyDatalake: {DeployAfter: [reports]}
        Parameters:
          ProjectName: {Type: String, Default: lake}
          Environment: {Type: String}
          GlueCodeVersion: {Type: String, Default: unversioned}
        Resources:
          Version:
            Type: AWS::SSM::Parameter
            Properties: {Name: /lake/more-jobs, Type: String, Value: !Ref GlueCodeVersion}
        """,
}


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    """Four small stacks, two of which run the Glue code (moto's CloudFormation can create them)."""
    directory = tmp_path / "cloudformation"
    (directory / "parameters").mkdir(parents=True)
    for stem, text in SYNTHETIC.items():
        (directory / f"{stem}.yaml").write_text(textwrap.dedent(text))
    parameters = {"Environment": ENV, "DeployRoleArn": "arn:aws:iam::111111111111:role/Deploy"}
    (directory / "parameters" / f"{ENV}.json").write_text(
        json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    )
    monkeypatch.setattr(config, "CLOUDFORMATION_DIR", directory)
    return directory


def test_the_code_version_goes_only_to_the_stacks_that_declare_it_and_is_uploaded_once(synthetic, clients):
    declared = templates.load(ENV)
    assert [s.template.stem for s in declared.stacks] == ["storage", "jobs", "reports", "more-jobs"]
    _deploy_and_check_order(clients, declared)
    _, _, _, calls = clients
    assert len([c for c in calls if c[0] == "PutObject"]) == 4
    assert len([c for c in calls if c[0] == "HeadObject"]) == 4


def test_an_environment_without_a_deploy_role_is_refused_before_any_call(synthetic, clients):
    params = synthetic / "parameters" / f"{ENV}.json"
    empty = {"Environment": ENV, "DeployRoleArn": ""}
    params.write_text(json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in empty.items()]))
    cloudformation, _, s3, calls = clients
    with pytest.raises(ValueError, match="no DeployRoleArn"):
        stacks.deploy_environment(cloudformation, s3, ENV)
    assert calls == []


BOOTSTRAP_STACK = "energy-trading-datalake-dev-bootstrap"


def expect_bootstrap(stubber, arn: str) -> None:
    """The bootstrap stack's first deploy, by the caller's credentials (no RoleARN), then its output."""
    name = BOOTSTRAP_STACK
    template = config.CLOUDFORMATION_DIR / "bootstrap" / "deploy-role.yaml"
    stubber.add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {name} does not exist", 400, {"StackName": name}
    )
    stubber.add_response(
        "create_change_set",
        {"Id": "arn:cs", "StackId": "arn:stack"},
        {
            "StackName": name,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "TemplateBody": template.read_text(),
            "Parameters": [
                {"ParameterKey": "ProjectName", "ParameterValue": "energy-trading-datalake"},
                {"ParameterKey": "Environment", "ParameterValue": "dev"},
            ],
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
        },
    )
    ready = {"StackName": name, "ChangeSetName": "cs", "Status": "CREATE_COMPLETE"}
    for _ in range(2):
        stubber.add_response("describe_change_set", ready, {"StackName": name, "ChangeSetName": ANY})
    stubber.add_response(
        "execute_change_set", {}, {"StackName": name, "ChangeSetName": ANY, "RetainExceptOnCreate": True}
    )
    done = {"StackName": name, "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
    stubber.add_response("describe_stacks", {"Stacks": [done]}, {"StackName": name})
    outputs = [{"OutputKey": "DeployRoleArn", "OutputValue": arn}]
    stubber.add_response("describe_stacks", {"Stacks": [{**done, "Outputs": outputs}]}, {"StackName": name})


def test_the_bootstrap_stack_is_deployed_with_the_callers_credentials_and_returns_the_role():
    arn = "arn:aws:iam::222222222222:role/energy-trading-datalake-dev-deploy"
    client = boto3.client("cloudformation", region_name=REGION)
    with Stubber(client) as stubber:
        expect_bootstrap(stubber, arn)
        assert stacks.deploy_bootstrap(client, ENV, log=lambda _: None) == ("created", arn)
        stubber.assert_no_pending_responses()


def test_a_missing_bootstrap_template_is_named(tmp_path):
    client = boto3.client("cloudformation", region_name=REGION)
    with pytest.raises(FileNotFoundError, match="no bootstrap template at .*absent.yaml"):
        stacks.deploy_bootstrap(client, ENV, template=tmp_path / "absent.yaml")
