"""The warehouse stack with and without the warehouse, the loader's rotation, and the jobs' code version."""

from __future__ import annotations

import json

import pytest

from energy_datalake import templates


@pytest.fixture
def without_warehouse(resolve_with):
    return resolve_with(WarehouseEnabled="false")


def test_without_the_warehouse_every_stack_still_has_a_resource(without_warehouse):
    for stack in without_warehouse.stacks:
        assert without_warehouse.resolved[stack.template.stem], f"{stack.name} would have no resource"
    warehouse = without_warehouse.resolved["warehouse"]
    assert {r["Type"] for r in warehouse.values()} == {"AWS::CloudFormation::WaitConditionHandle"}


def test_without_the_warehouse_there_is_no_load_job(without_warehouse):
    assert set(without_warehouse.jobs) == {"raw-to-processed", "processed-to-curated"}
    assert without_warehouse.resources("AWS::Glue::Connection") == {}


def test_with_the_warehouse_the_placeholder_is_left_out():
    warehouse = templates.load("dev").resolved["warehouse"]
    assert "NoWarehouse" not in warehouse
    assert "curated-to-redshift" in templates.load("dev").jobs


def test_the_loader_secret_rotates_with_secrets_managers_hosted_function():
    env = templates.load("prod")
    (rotation,) = env.resources("AWS::SecretsManager::RotationSchedule").values()
    p = rotation["Properties"]
    assert p["SecretId"] == f"{env.parameters['ProjectName']}-prod/redshift/etl-loader"
    # The user must exist with the generated password before the first rotation.
    assert p["RotateImmediatelyOnUpdate"] is False
    hosted = p["HostedRotationLambda"]
    assert hosted["RotationType"] == "RedshiftSingleUser"
    assert hosted["VpcSubnetIds"] == env.parameters["PrivateSubnetIds"]
    assert hosted["VpcSecurityGroupIds"] == env.parameters["WarehouseSecurityGroupId"]
    (key,) = env.resources("AWS::KMS::Key")
    assert hosted["KmsKeyArn"].endswith(f":key/{env.stacks[0].name}-{key}")
    assert p["RotationRules"]["ScheduleExpression"].startswith("cron(")


def test_the_loader_secret_carries_what_the_rotation_function_connects_with():
    env = templates.load("dev")
    (secret,) = env.resources("AWS::SecretsManager::Secret").values()
    template = json.loads(secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"])
    # SecretsManagerRedshiftRotationSingleUser requires engine "redshift" and the host; port and dbname.
    assert template["engine"] == "redshift"
    assert template["username"] == "etl_loader"
    assert template["host"].endswith("Workgroup.Endpoint.Address")
    assert (template["port"], template["dbname"]) == (5439, env.warehouse["database"])


def test_the_jobs_run_the_code_version_the_deploy_sets(resolve_with):
    version = "0123456789abcdef"
    declared = resolve_with(GlueCodeVersion=version)
    scripts = f"s3://{declared.buckets['glue_scripts']}/glue_jobs/{version}"
    for name, job in declared.jobs.items():
        assert job.script_location == f"{scripts}/{name.replace('-', '_')}.py"
        assert job.default_arguments["--extra-py-files"] == f"{scripts}/glue_jobs.zip"
    # A job reads its own version's code only.
    for logical in ("RawToProcessedRole", "ProcessedToCuratedRole", "CuratedToRedshiftRole"):
        (policy,) = declared.resolved["etl"][logical]["Properties"]["Policies"]
        statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
        assert statements["ReadScripts"]["Resource"] == f"arn:aws:s3:::{scripts[5:]}/*"


@pytest.mark.parametrize("version", ["0123456789ABCDEF", "0123456789abcde", "latest"])
def test_a_code_version_that_is_not_a_content_hash_is_refused(resolve_with, version):
    with pytest.raises(ValueError, match=f"GlueCodeVersion='{version}' does not match"):
        resolve_with(GlueCodeVersion=version)


def test_the_local_glue_runner_still_finds_each_job_by_its_script(resolve_with):

    declared = resolve_with(GlueCodeVersion="0123456789abcdef")
    assert {job.script for job in declared.jobs.values()} == {
        "raw_to_processed",
        "processed_to_curated",
        "curated_to_redshift",
    }
