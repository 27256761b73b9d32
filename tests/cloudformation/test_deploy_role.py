"""The bootstrap template's deploy role: what CloudFormation's resource handlers call, scoped to the project.

AWS's resource schemas (the registry's, as cfn-lint ships them) list, per resource type, the permissions each
handler (create, read, update, delete) needs; cfn-lint's IAM data says which actions exist and which have
resource types. The deploy role must allow every handler permission of the resource types the stacks declare,
minus the features the templates do not use, and nothing that is neither.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cfnlint.data
import pytest

from energy_datalake import config, templates

BOOTSTRAP = config.CLOUDFORMATION_DIR / "bootstrap" / "deploy-role.yaml"
SCHEMAS = Path(cfnlint.data.__file__).parent / "schemas"
IAM_DATA = Path(cfnlint.data.__file__).parent / "AdditionalSpecs" / "Policies.json"
REGION = templates.PSEUDO_PARAMETERS["AWS::Region"]

# What the Secrets Manager transform adds to the warehouse stack: a nested stack holding the rotation
# function, its permission for Secrets Manager and its role.
TRANSFORMED = {
    "AWS::CloudFormation::Stack",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::IAM::Role",
}

# Handler permissions for what no template uses, so the deploy role does not hold them.
NOT_USED = {
    # S3: bucket deletion (every bucket is retained), and features no bucket configures.
    "s3:deletebucket",
    "s3:deleteobject",
    "s3:deletebucketwebsite",
    "s3:putbucketwebsite",
    "s3:putbucketcors",
    "s3:putbucketacl",
    "s3:putobjectacl",
    "s3:putbucketabac",
    "s3:putaccelerateconfiguration",
    "s3:putanalyticsconfiguration",
    "s3:putinventoryconfiguration",
    "s3:putmetricsconfiguration",
    "s3:putintelligenttieringconfiguration",
    "s3:putbucketnotification",
    "s3:putbucketobjectlockconfiguration",
    "s3:putreplicationconfiguration",
    "s3:createbucketmetadatatableconfiguration",
    "s3:deletebucketmetadatatableconfiguration",
    "s3:updatebucketmetadataannotationtableconfiguration",
    "s3:updatebucketmetadatainventorytableconfiguration",
    "s3:updatebucketmetadatajournaltableconfiguration",
    "s3tables:createnamespace",
    "s3tables:createtable",
    "s3tables:createtablebucket",
    "s3tables:gettable",
    "s3tables:gettablemetadatalocation",
    "s3tables:puttablebucketpolicy",
    "s3tables:puttableencryption",
    "s3tables:puttablepolicy",
    "s3tables:updatetablemetadatalocation",
    # KMS: the data key is retained; nothing schedules or cancels its deletion.
    "kms:schedulekeydeletion",
    "kms:cancelkeydeletion",
    # CloudTrail: not an organization trail, no Insights, no event configuration.
    "organizations:describeorganization",
    "organizations:listawsserviceaccessfororganization",
    "cloudtrail:putinsightselectors",
    "cloudtrail:puteventconfiguration",
    # Glue tables: no schema registry.
    "glue:getschemaversion",
    # IAM roles: no permissions boundaries.
    "iam:putrolepermissionsboundary",
    "iam:deleterolepermissionsboundary",
    # Redshift Serverless: the namespace is retained; no snapshot copies, restores or resource policies.
    "redshift-serverless:deletenamespace",
    "redshift-serverless:createsnapshotcopyconfiguration",
    "redshift-serverless:updatesnapshotcopyconfiguration",
    "redshift-serverless:deletesnapshotcopyconfiguration",
    "redshift-serverless:restorefromrecoverypoint",
    "redshift-serverless:restorefromsnapshot",
    "redshift:getresourcepolicy",
    "redshift:putresourcepolicy",
    "redshift:deleteresourcepolicy",
    # Secrets Manager: no replica regions.
    "secretsmanager:replicatesecrettoregions",
    "secretsmanager:removeregionsfromreplication",
    # The rotation function: no code signing, concurrency, scaling, layers, versions, file systems.
    "lambda:putfunctioncodesigningconfig",
    "lambda:deletefunctioncodesigningconfig",
    "lambda:getcodesigningconfig",
    "lambda:putfunctionconcurrency",
    "lambda:deletefunctionconcurrency",
    "lambda:putfunctionrecursionconfig",
    "lambda:putfunctionscalingconfig",
    "lambda:putruntimemanagementconfig",
    "lambda:passcapacityprovider",
    "lambda:getlayerversion",
    "lambda:publishversion",
    "elasticfilesystem:describemounttargets",
    "s3files:listmounttargets",
    # The nested stack: no termination protection.
    "cloudformation:updateterminationprotection",
}

# Allowed although no resource schema lists them: the Lake Formation resources CloudFormation still runs
# without registry handlers, and the transforms change sets are authorized on.
EXTRA = {
    "lakeformation:getdatalakesettings",
    "lakeformation:putdatalakesettings",
    "lakeformation:registerresource",
    "lakeformation:deregisterresource",
    "cloudformation:createchangeset",
}


@cache
def iam_actions() -> dict:
    return json.loads(IAM_DATA.read_text())


def exists(action: str) -> bool:
    service, name = action.lower().split(":", 1)
    return name in iam_actions().get(service, {}).get("Actions", {})


@cache
def handler_permissions(resource_type: str) -> frozenset[str]:
    provider = json.loads((SCHEMAS / "providers" / f"{REGION}.json").read_text())
    schema = json.loads((SCHEMAS / "resources" / f"{provider[resource_type]}.json").read_text())
    return frozenset(
        p.lower()
        for handler in ("create", "read", "update", "delete")
        for p in schema.get("handlers", {}).get(handler, {}).get("permissions", [])
    )


def stack_resource_types() -> set[str]:
    types = {
        r["Type"] for path in templates.template_paths() for r in templates.decode(path)["Resources"].values()
    }
    return types | TRANSFORMED


def deploy_statements(env) -> list[dict]:
    out = []
    for resource in templates.resolve_template(BOOTSTRAP, _bootstrap_parameters(env)).values():
        document = resource["Properties"].get("PolicyDocument")
        if document:
            out += document["Statement"]
    return out


def _bootstrap_parameters(env) -> dict[str, str]:
    return {"ProjectName": env.parameters["ProjectName"], "Environment": env.name}


def _actions(statement) -> set[str]:
    action = statement["Action"]
    return {a.lower() for a in ([action] if isinstance(action, str) else action)}


def allowed_actions(env) -> set[str]:
    return {a for s in deploy_statements(env) if s["Effect"] == "Allow" for a in _actions(s)}


@pytest.fixture(scope="module", params=("dev", "prod"))
def env(request):
    return templates.load(request.param)


def test_the_deploy_role_allows_what_the_resource_handlers_call(env):
    required = {p for t in stack_resource_types() for p in handler_permissions(t) if exists(p)} - NOT_USED
    assert sorted(required - allowed_actions(env)) == []


def test_the_deploy_role_allows_nothing_the_handlers_do_not_call(env):
    called = {p for t in stack_resource_types() for p in handler_permissions(t)}
    assert sorted(allowed_actions(env) - called - EXTRA) == []
    assert sorted(allowed_actions(env) & NOT_USED) == []


def test_every_allowed_action_exists(env):
    assert sorted(a for a in allowed_actions(env) if not exists(a)) == []


def test_the_exclusions_are_handler_permissions_still():
    # An exclusion a schema no longer lists is stale: drop it.
    called = {p for t in stack_resource_types() for p in handler_permissions(t)}
    assert sorted(NOT_USED - called) == []


def _named(env, action: str) -> set[str]:
    return {
        r
        for s in deploy_statements(env)
        if s["Effect"] == "Allow" and action in _actions(s)
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }


def test_the_glue_and_athena_names_are_the_templates(env):
    def names(action, kind):
        return {r.split(f":{kind}/", 1)[1] for r in _named(env, action) if f":{kind}/" in r}

    assert names("glue:createjob", "job") == {
        "raw-to-processed",
        "processed-to-curated",
        "curated-to-redshift",
    }
    assert names("glue:deletecrawler", "crawler") == set(env.crawlers)
    assert names("glue:createdatabase", "database") == set(env.databases)
    assert names("athena:createworkgroup", "workgroup") == set(env.workgroups)
    (connection,) = env.resources("AWS::Glue::Connection").values()
    assert names("glue:createconnection", "connection") == {
        connection["Properties"]["ConnectionInput"]["Name"]
    }


def test_the_buckets_are_the_projects(env):
    patterns = _named(env, "s3:createbucket")
    prefix = f"{env.parameters['ProjectName']}-{env.name}"
    assert patterns == {f"arn:aws:s3:::{prefix}", f"arn:aws:s3:::{prefix}-*"}
    assert all(b == prefix or b.startswith(f"{prefix}-") for b in env.buckets.values())


def test_the_stacks_roles_are_covered_by_the_project_prefix(env):
    # CloudFormation keeps the first 25 characters of the stack name in a generated role name.
    (pattern,) = _named(env, "iam:createrole")
    prefix = pattern.split(":role/", 1)[1].removesuffix("*")
    for stack in env.stacks:
        assert stack.name[:25].startswith(prefix), stack.name
    assert len(env.parameters["ProjectName"]) <= 24


def test_the_deploy_role_may_not_change_itself(env):
    name = f"{env.parameters['ProjectName']}-{env.name}-deploy"
    (deny,) = [s for s in deploy_statements(env) if s["Effect"] == "Deny"]
    assert deny["Resource"] == f"arn:aws:iam::{templates.PSEUDO_PARAMETERS['AWS::AccountId']}:role/{name}"
    mutating = {
        a for a in allowed_actions(env) if a.startswith("iam:") and not a.startswith(("iam:get", "iam:list"))
    }
    assert mutating - {"iam:passrole", "iam:createrole", "iam:createservicelinkedrole"} <= _actions(deny)


def test_roles_are_passed_to_their_services_only(env):
    (passing,) = [s for s in deploy_statements(env) if "iam:passrole" in _actions(s)]
    assert set(passing["Condition"]["StringEquals"]["iam:PassedToService"]) == {
        "glue.amazonaws.com",
        "lakeformation.amazonaws.com",
        "lambda.amazonaws.com",
    }


def test_the_transforms_the_stacks_use_are_allowed(env):
    used = {t.removeprefix("AWS::") for s in env.stacks for t in s.transforms}
    allowed = {r.rsplit(":transform/", 1)[1] for r in _named(env, "cloudformation:createchangeset")}
    # The rotation function's own template is a SAM one.
    assert allowed == used | {"Serverless-2016-10-31"}


def test_the_parameters_files_name_the_bootstrap_role(env):
    account = env.parameters["DeployRoleArn"].split(":")[4]
    name = templates.decode(BOOTSTRAP)["Resources"]["DeployRole"]["Properties"]["RoleName"]["Fn::Sub"]
    expected = name.replace("${ProjectName}", env.parameters["ProjectName"]).replace(
        "${Environment}", env.name
    )
    assert env.parameters["DeployRoleArn"] == f"arn:aws:iam::{account}:role/{expected}"


def test_the_bootstrap_parameters_and_output():
    template = templates.decode(BOOTSTRAP)
    assert set(template["Parameters"]) == {"ProjectName", "Environment"}
    assert set(template["Outputs"]) == {"DeployRoleArn"}
    trust = template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "cloudformation.amazonaws.com"}]
