"""The orchestration stack: the identity Airflow runs as, its workgroup and grants, held to what the DAG does."""

from __future__ import annotations

import re

import pytest
from sqlglot import exp, parse_one

from energy_datalake import config, templates
from energy_datalake.checks import rendered_checks

QUALITY_GATE = templates.QUALITY_GATE
# The checks as the quality gate runs them, parsed in Athena's dialect.
CHECKS = [parse_one(sql, read="athena") for sql in rendered_checks("2026-03-29").values()]


@pytest.fixture(scope="module", params=("dev", "prod"))
def env(request):
    return templates.load(request.param)


def _role(env, logical="OrchestratorRole") -> dict:
    return env.resolved["orchestration"][logical]["Properties"]


def _statements(document: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in document["Statement"]}


def _policy(env) -> dict[str, dict]:
    (policy,) = _role(env)["Policies"]
    return _statements(policy["PolicyDocument"])


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _arn_names(resources, kind: str) -> set[str]:
    return {r.rsplit(f":{kind}/", 1)[1] for r in _as_list(resources)}


# --- what the checks read ----------------------------------------------------------------------------


def tables_read_by_the_checks() -> set[str]:
    """``db.table`` of every table the sql/checks queries read (their CTE names left out)."""
    tables = set()
    for statement in CHECKS:
        ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        tables |= {
            f"{t.db}.{t.name}".lower() for t in statement.find_all(exp.Table) if t.db or t.name not in ctes
        }
    return tables


def columns_read_by_the_checks() -> set[str]:
    return {c.name.lower() for statement in CHECKS for c in statement.find_all(exp.Column)}


def _grants_of(env, table: str) -> list[templates.Grant]:
    database, name = table.split(".")
    return [
        g
        for g in env.grants
        if g.principal == QUALITY_GATE and g.database == database and g.table in (None, name)
        if "SELECT" in g.permissions
    ]


def test_the_checks_are_parsed_into_qualified_tables():
    tables = tables_read_by_the_checks()
    assert {"processed.quarantine", "processed.load_manifest", "curated.hourly_price_curve"} <= tables
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", t) for t in tables), tables


def test_the_quality_gate_may_select_every_table_the_checks_read(env):
    missing = sorted(t for t in tables_read_by_the_checks() if not _grants_of(env, t))
    assert missing == []


def test_the_checks_read_neither_the_raw_zone_nor_a_column_the_gate_is_denied(env):
    assert not {t for t in tables_read_by_the_checks() if t.startswith("raw.")}
    excluded = {c for g in env.grants if g.principal == QUALITY_GATE for c in g.excluded_columns}
    assert excluded == {"tax_id", "full_name", "email", "raw_record"}
    assert columns_read_by_the_checks() & excluded == set()


def test_the_quality_gate_has_no_grant_on_raw_and_no_grant_option(env):
    assert [g for g in env.grants if g.principal == QUALITY_GATE and g.database == "raw"] == []
    for resource in env.resolved["orchestration"].values():
        if resource["Type"] == "AWS::LakeFormation::PrincipalPermissions":
            assert resource["Properties"]["PermissionsWithGrantOption"] == []


# --- the workgroup and the role ----------------------------------------------------------------------


def test_the_quality_gate_workgroup(env):
    wg = env.workgroups[QUALITY_GATE]
    assert wg.principal == QUALITY_GATE
    assert wg.enforce and wg.encryption_option == "SSE_KMS"
    assert wg.engine_version == "Athena engine version 3"
    assert wg.output_location == f"s3://{env.buckets['athena_results']}/{QUALITY_GATE}/"
    assert wg.bytes_scanned_cutoff == int(env.parameters["QualityGateBytesScannedCutoff"])


def test_the_role_is_the_quality_gates_principal(env):
    tags = {t["Key"]: t["Value"] for t in _role(env)["Tags"]}
    assert tags[templates.PRINCIPAL_TAG] == QUALITY_GATE


def test_the_role_runs_exactly_the_templates_jobs_and_crawlers(env):
    policy = _policy(env)
    # Every job, even curated-to-redshift without a warehouse: the names must not depend on a parameter.
    assert _arn_names(policy["RunJobs"]["Resource"], "job") == {
        "raw-to-processed",
        "processed-to-curated",
        "curated-to-redshift",
    }
    assert set(env.jobs) <= _arn_names(policy["RunJobs"]["Resource"], "job")
    assert _arn_names(policy["RunCrawlers"]["Resource"], "crawler") == set(env.crawlers)
    assert _arn_names(policy["QueryInOwnWorkgroup"]["Resource"], "workgroup") == {QUALITY_GATE}


def test_change_sets_are_created_only_with_the_deploy_role(env):
    policy = _policy(env)
    create = policy["ChangeSetsByTheDeployRole"]
    assert create["Condition"] == {
        "StringEquals": {"cloudformation:RoleArn": env.parameters["DeployRoleArn"]}
    }
    assert policy["PassTheDeployRole"]["Resource"] == env.parameters["DeployRoleArn"]
    assert policy["PassTheDeployRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
    }
    project = f"{env.parameters['ProjectName']}-{env.name}"
    assert policy["NotTheBootstrapStack"]["Effect"] == "Deny"
    assert policy["NotTheBootstrapStack"]["Resource"].endswith(f":stack/{project}-bootstrap/*")
    for stack in env.stacks:
        assert stack.name.startswith(f"{project}-")


def test_change_sets_may_use_every_transform_of_the_templates(env):
    used = {t.removeprefix("AWS::") for s in env.stacks for t in s.transforms}
    allowed = {
        r.rsplit(":transform/", 1)[1]
        for r in _policy(env)["ChangeSetsByTheDeployRole"]["Resource"]
        if ":transform/" in r
    }
    assert used and allowed == used


def test_the_export_sensor_and_the_code_upload_get_404_for_a_missing_key(env):
    policy = _policy(env)
    assert policy["ExportMarkers"]["Resource"] == f"arn:aws:s3:::{env.lake_bucket}/raw/*/_SUCCESS"
    assert policy["ExportMarkersNotFound"]["Resource"] == f"arn:aws:s3:::{env.lake_bucket}"
    assert policy["ListGlueCode"]["Resource"] == f"arn:aws:s3:::{env.buckets['glue_scripts']}"
    assert policy["UploadGlueCode"]["Resource"] == f"arn:aws:s3:::{env.buckets['glue_scripts']}/glue_jobs/*"


def test_the_job_logs_cover_the_groups_of_the_security_configuration(env):
    (security,) = env.resources("AWS::Glue::SecurityConfiguration").values()
    resources = _policy(env)["JobLogs"]["Resource"]
    assert any(r.endswith("log-group:/aws-glue/jobs/*") for r in resources)
    assert any(
        r.endswith(f"log-group:/aws-glue/jobs-{security['Properties']['Name']}-role/*") for r in resources
    )


def test_no_wildcard_resource_but_where_the_service_has_no_resource_type(env):
    starred = {s["Sid"] for s in _policy(env).values() if s["Resource"] == "*"}
    assert starred == {"CrawlerMetrics", "LakeFormationCredentials"}


# --- MWAA or self-hosted -----------------------------------------------------------------------------


def test_a_self_hosted_airflow_is_trusted_only_when_named(resolve_with):
    mwaa_only = templates.load("dev")
    statements = mwaa_only.resolved["orchestration"]["OrchestratorRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]
    assert [s["Sid"] for s in statements["Statement"]] == ["Mwaa"]
    (mwaa,) = statements["Statement"]
    assert set(mwaa["Principal"]["Service"]) == {"airflow.amazonaws.com", "airflow-env.amazonaws.com"}
    assert mwaa["Condition"] == {
        "StringEquals": {"aws:SourceAccount": templates.PSEUDO_PARAMETERS["AWS::AccountId"]}
    }

    airflow = "arn:aws:iam::111111111111:role/SelfHostedAirflow"
    hosted = resolve_with(OrchestratorTrustedPrincipalArn=airflow)
    document = hosted.resolved["orchestration"]["OrchestratorRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert _statements(document)["SelfHostedAirflow"]["Principal"] == {"AWS": airflow}


def test_the_mwaa_execution_policy_comes_with_an_environment_name(resolve_with):
    assert "MwaaExecutionPolicy" not in templates.load("dev").resolved["orchestration"]

    declared = resolve_with(MwaaEnvironmentName="datalake-dev", MwaaSourceBucketName="mwaa-src")
    policy = declared.resolved["orchestration"]["MwaaExecutionPolicy"]["Properties"]
    statements = _statements(policy["PolicyDocument"])
    assert statements["EnvironmentHealth"]["Resource"].endswith(":environment/datalake-dev")
    assert statements["ReadSourceBucket"]["Resource"] == ["arn:aws:s3:::mwaa-src", "arn:aws:s3:::mwaa-src/*"]
    assert statements["EnvironmentLogs"]["Resource"].endswith(":log-group:airflow-datalake-dev-*")
    assert statements["CeleryQueues"]["Resource"].endswith(":*:airflow-celery-*")
    assert statements["CeleryQueueKey"]["Condition"] == {
        "StringLike": {"kms:ViaService": f"sqs.{templates.PSEUDO_PARAMETERS['AWS::Region']}.amazonaws.com"}
    }


def test_an_mwaa_environment_without_its_source_bucket_is_refused_by_the_rule(resolve_with):
    with pytest.raises(
        ValueError, match="orchestration: rule MwaaNamesItsSourceBucket: .*MwaaSourceBucketName"
    ):
        resolve_with(MwaaEnvironmentName="datalake-dev")


def test_a_bad_trusted_principal_names_the_value(resolve_with):
    with pytest.raises(ValueError, match="OrchestratorTrustedPrincipalArn='airflow' does not match"):
        resolve_with(OrchestratorTrustedPrincipalArn="airflow")


def test_the_outputs(env):
    outputs = templates.decode(config.CLOUDFORMATION_DIR / "orchestration.yaml")["Outputs"]
    assert set(outputs) == {"OrchestratorRoleArn", "QualityGateWorkGroupName"}
