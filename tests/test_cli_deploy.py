"""`datalake deploy`: the local provisioning, the AWS deploy and its errors as one line each."""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.stub import Stubber
from test_deploy_environment import BOOTSTRAP_STACK, expect_bootstrap

from energy_datalake import cli

REGION = "eu-west-1"


@pytest.fixture
def aws_target(monkeypatch, tmp_path):
    """DATALAKE_TARGET=aws with no AWS credentials anywhere: nothing on this machine can reach AWS."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATALAKE_TARGET", "aws")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


@pytest.mark.slow
def test_deploy_on_the_local_target_provisions_then_is_a_no_op(datalake_home, monkeypatch, capsys):
    from energy_datalake.emulator.redshift import Warehouse

    monkeypatch.delenv("DATALAKE_TARGET", raising=False)
    try:
        assert cli.main(["deploy"]) == 0
        out = capsys.readouterr().out
        assert "changed: True" in out and "databases: " in out
        assert (datalake_home / "deploy" / "state.json").is_file()
        assert cli.main(["deploy", "--env", "dev"]) == 0
        assert "changed: False" in capsys.readouterr().out
    finally:
        Warehouse().stop()


def test_an_unknown_environment_is_one_line_naming_it(capsys, monkeypatch):
    monkeypatch.delenv("DATALAKE_TARGET", raising=False)
    assert cli.main(["deploy", "--env", "staging"]) == 1
    assert "no parameters for environment 'staging'" in _one_line_error(capsys)


def test_aws_only_flags_are_refused_on_the_local_target(capsys, monkeypatch):
    monkeypatch.delenv("DATALAKE_TARGET", raising=False)
    assert cli.main(["deploy", "--bootstrap"]) == 1
    assert "--bootstrap: only for DATALAKE_TARGET=aws" in _one_line_error(capsys)


def test_an_unknown_target_is_one_line_naming_it(capsys, monkeypatch):
    monkeypatch.setenv("DATALAKE_TARGET", "azure")
    assert cli.main(["deploy"]) == 1
    assert "'azure'" in _one_line_error(capsys)


def test_deploy_on_aws_without_credentials_is_one_line(aws_target, capsys):
    assert cli.main(["deploy"]) == 1
    assert _one_line_error(capsys).startswith("error: no AWS credentials found")


def test_deploy_on_aws_without_a_region_is_one_line(aws_target, capsys, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert cli.main(["deploy"]) == 1
    assert _one_line_error(capsys).startswith("error: no AWS region configured")


@pytest.fixture
def stubbed_aws(aws_target, monkeypatch):
    """boto3 sessions answer with Stubber'd clients (the requests are checked against the models)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made = {
        service: boto3.client(service, region_name=REGION)
        for service in ("cloudformation", "s3", "lakeformation")
    }
    monkeypatch.setattr(boto3.session.Session, "client", lambda _, service, **__: made[service])
    with Stubber(made["cloudformation"]) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_bootstrap_prints_the_role_and_asks_for_it_in_the_parameters_when_it_differs(stubbed_aws, capsys):
    arn = "arn:aws:iam::222222222222:role/energy-trading-datalake-dev-deploy"
    expect_bootstrap(stubbed_aws, arn)
    lakeformation = boto3.session.Session().client("lakeformation")
    # The environment's stacks are not deployed: the Stubber would reject their requests.
    with Stubber(lakeformation) as lf:
        lf.add_response("get_data_lake_settings", {"DataLakeSettings": {"DataLakeAdmins": []}})
        lf.add_response(
            "put_data_lake_settings",
            {},
            {
                "DataLakeSettings": {
                    "DataLakeAdmins": [{"DataLakePrincipalIdentifier": arn}],
                    "CreateDatabaseDefaultPermissions": [],
                    "CreateTableDefaultPermissions": [],
                }
            },
        )
        assert cli.main(["deploy", "--bootstrap"]) == 0
        lf.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert f"Lake Formation: {arn} is now an admin" in out
    assert f"stack {BOOTSTRAP_STACK}: created" in out
    assert f"DeployRoleArn: {arn}" in out
    assert "put this DeployRoleArn in cloudformation/parameters/dev.json" in out


def test_a_stack_that_cannot_be_deployed_is_one_line_naming_it(stubbed_aws, capsys):
    from energy_datalake import templates

    first = templates.load("dev").stacks[0].name
    stack = {
        "StackName": first,
        "CreationTime": "2026-01-01T00:00:00Z",
        "StackStatus": "UPDATE_ROLLBACK_FAILED",
        "StackStatusReason": "The following resource(s) failed to update: [DataKey].",
    }
    stubbed_aws.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": first})
    assert cli.main(["deploy"]) == 1
    message = _one_line_error(capsys)
    assert f"stack {first} is UPDATE_ROLLBACK_FAILED" in message and "[DataKey]" in message


def test_the_deploy_role_joins_the_lake_formation_admins_once_keeping_the_others(aws_target, monkeypatch):
    from moto import mock_aws

    from energy_datalake.aws.stacks import make_lake_formation_admin

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    people = {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:role/DataLakeAdmin"}
    deploy_role = "arn:aws:iam::123456789012:role/energy-trading-datalake-dev-deploy"
    with mock_aws():
        lakeformation = boto3.client("lakeformation", region_name=REGION)
        lakeformation.put_data_lake_settings(DataLakeSettings={"DataLakeAdmins": [people]})

        assert "is now an admin" in make_lake_formation_admin(lakeformation, deploy_role)
        assert "already an admin" in make_lake_formation_admin(lakeformation, deploy_role)
        settings = lakeformation.get_data_lake_settings()["DataLakeSettings"]
    assert settings["DataLakeAdmins"] == [people, {"DataLakePrincipalIdentifier": deploy_role}]
    assert settings["CreateTableDefaultPermissions"] == []
