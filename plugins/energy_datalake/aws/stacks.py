"""``deploy_stacks`` on the AWS target: the environment's stacks by change set, and the Glue code they run.

What the Amazon provider lacks (it has create-stack only): a deploy that works on the first run and on every
later one, and changes nothing when the templates did not change. Each stack gets a change set (CREATE for
a new stack, UPDATE otherwise); an empty one is deleted and reported "unchanged", any other is executed
and waited for. Used by the ``deploy_stacks`` task and by ``datalake deploy``; no Airflow import here, so
the command starts quickly.

Invariants:

- Every stack but the bootstrap one is created and updated by the CloudFormation service role
  (``DeployRoleArn`` of the environment), never with the caller's own rights.
- A change set that would replace or remove a data-bearing resource is not executed unless the caller
  allows it; it is deleted and the error names what would have happened.
- A stack whose first create failed (``ROLLBACK_COMPLETE``) is deleted and created again; any other
  stuck or failed state is an error naming the stack, its status and its reason.
- The Glue code is uploaded before the first stack that declares ``GlueCodeVersion``, which is set to
  the uploaded version.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from energy_datalake import config
from energy_datalake.aws import glue_code

GLUE_CODE_PARAMETER = "GlueCodeVersion"
AUTO_EXPAND = "CAPABILITY_AUTO_EXPAND"
# The bootstrap template creates the named deploy role; NAMED_IAM also acknowledges unnamed IAM resources.
BOOTSTRAP_CAPABILITIES = ("CAPABILITY_NAMED_IAM",)
BOOTSTRAP_OUTPUT = "DeployRoleArn"
# Polls (the waiters' own default is 30 s): a change set is ready in seconds, most stacks in a few minutes;
# the limits (10 min, 1 h) cover a Redshift Serverless workgroup, the slowest resource we create.
CHANGE_SET_WAIT = {"Delay": 3, "MaxAttempts": 200}
STACK_WAIT = {"Delay": 10, "MaxAttempts": 360}
# What CloudFormation says when a change set holds nothing to do (the wording varies by resource type).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed", "submitted information didn't")
# States a change set of type UPDATE can start from.
UPDATABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)
# A failed first change set leaves a stack with no resources in REVIEW_IN_PROGRESS: a CREATE change set
# can be made on it again. A failed first create leaves ROLLBACK_COMPLETE, which can only be deleted.
CREATE_AGAIN = "REVIEW_IN_PROGRESS"
DELETE_AND_CREATE = "ROLLBACK_COMPLETE"
# Resources whose replacement or removal loses data or breaks access to it, and what would be lost:
DATA_BEARING = {
    # the lake's zones, the Athena results, the Glue code, the access logs and the audit trail
    "AWS::S3::Bucket": "its objects",
    # every object and secret encrypted with it is unreadable once the old key is deleted
    "AWS::KMS::Key": "the data encrypted with it",
    # its tables and their partitions (the crawlers' and the jobs' registrations) and their grants
    "AWS::Glue::Database": "its tables, partitions and Lake Formation grants",
    # the warehouse's databases, schemas and loaded facts
    "AWS::RedshiftServerless::Namespace": "the warehouse's data",
    # the endpoint the Glue connection and every client use; with a fixed name a replacement fails midway
    "AWS::RedshiftServerless::Workgroup": "the warehouse endpoint",
    # a new secret is a new password the Redshift user does not have: the loader is locked out
    "AWS::SecretsManager::Secret": "the stored credentials",
}
# Glue tables are left out: their partitions are registered again by the crawlers' next run.


class StackDeployFailed(RuntimeError):
    """A stack could not be deployed; the message is one line naming the stack and the cause."""


Log = Callable[[str], None]


def deploy_environment(
    cloudformation_client,
    s3_client,
    env_name: str,
    *,
    allow_replacement: bool = False,
    log: Log = print,
) -> dict[str, str]:
    """Deploy every stack of ``env_name`` in the templates' order; {stack name: created|updated|unchanged}."""
    from energy_datalake import templates

    declared = templates.load(env_name)
    role_arn = declared.parameters.get("DeployRoleArn")
    if not role_arn:
        raise ValueError(
            f"parameters/{env_name}.json has no DeployRoleArn: deploy the bootstrap stack "
            "(datalake deploy --bootstrap) and put its DeployRoleArn output there"
        )
    version = None
    outcome = {}
    for stack in declared.stacks:
        parameters = stack.parameters
        if any(p["ParameterKey"] == GLUE_CODE_PARAMETER for p in parameters):
            if version is None:
                code = glue_code.build()
                glue_code.upload(s3_client, declared.buckets["glue_scripts"], code, log=log)
                version = code.version
            parameters = [
                {**p, "ParameterValue": version} if p["ParameterKey"] == GLUE_CODE_PARAMETER else p
                for p in parameters
            ]
        outcome[stack.name] = deploy_stack(
            cloudformation_client,
            stack.name,
            stack.template.read_text(),
            parameters,
            stack_capabilities(stack.template, stack.capabilities),
            role_arn=role_arn,
            allow_replacement=allow_replacement,
            log=log,
        )
        log(f"stack {stack.name}: {outcome[stack.name]}")
    return outcome


def deploy_bootstrap(
    cloudformation_client, env_name: str, *, template: Path | None = None, log: Log = print
) -> tuple[str, str]:
    """Deploy the deploy role's stack with the caller's own credentials; return (outcome, DeployRoleArn)."""
    from energy_datalake import templates

    template = template or config.CLOUDFORMATION_DIR / "bootstrap" / "deploy-role.yaml"
    if not template.is_file():
        raise FileNotFoundError(f"no bootstrap template at {template}")
    declared = templates.load(env_name)
    values = {p["ParameterKey"]: p["ParameterValue"] for s in declared.stacks for p in s.parameters}
    project, environment = values["ProjectName"], values["Environment"]
    name = f"{project}-{environment}-bootstrap"
    outcome = deploy_stack(
        cloudformation_client,
        name,
        template.read_text(),
        [
            {"ParameterKey": "ProjectName", "ParameterValue": project},
            {"ParameterKey": "Environment", "ParameterValue": environment},
        ],
        stack_capabilities(template, BOOTSTRAP_CAPABILITIES),
        # The deploy role does not exist before this stack: it is created with the caller's rights.
        role_arn=None,
        log=log,
    )
    log(f"stack {name}: {outcome}")
    outputs = describe_stack(cloudformation_client, name).get("Outputs", [])
    arn = next((o["OutputValue"] for o in outputs if o["OutputKey"] == BOOTSTRAP_OUTPUT), None)
    if arn is None:
        raise StackDeployFailed(f"stack {name} has no output {BOOTSTRAP_OUTPUT}")
    return outcome, arn


def make_lake_formation_admin(lakeformation_client, principal_arn: str) -> str:
    """Make ``principal_arn`` a Lake Formation admin (keeping the others), as a fresh account needs once.

    The catalog stack owns the admins from then on (``AWS::LakeFormation::DataLakeSettings``), but it is
    created by the deploy role, which must already be an admin to create the databases, the settings and
    the grants. New databases and tables get no ``IAMAllowedPrincipals`` grant from here on.
    """
    settings = lakeformation_client.get_data_lake_settings()["DataLakeSettings"]
    admins = settings.get("DataLakeAdmins", [])
    if any(a.get("DataLakePrincipalIdentifier") == principal_arn for a in admins):
        return f"Lake Formation: {principal_arn} is already an admin"
    settings = {
        **settings,
        "DataLakeAdmins": [*admins, {"DataLakePrincipalIdentifier": principal_arn}],
        "CreateDatabaseDefaultPermissions": [],
        "CreateTableDefaultPermissions": [],
    }
    lakeformation_client.put_data_lake_settings(DataLakeSettings=settings)
    return f"Lake Formation: {principal_arn} is now an admin; new databases and tables get no IAMAllowedPrincipals"


def stack_capabilities(template: Path, own: Sequence[str]) -> list[str]:
    """The template's own capabilities, and AUTO_EXPAND when it uses a transform (macros, SAM)."""
    from energy_datalake import templates

    out = list(own)
    if "Transform" in templates.decode(template) and AUTO_EXPAND not in out:
        out.append(AUTO_EXPAND)
    return out


def deploy_stack(
    client,
    stack_name: str,
    template_body: str,
    parameters: Sequence[dict[str, str]] = (),
    capabilities: Sequence[str] = (),
    *,
    role_arn: str | None,
    allow_replacement: bool = False,
    change_set_name: str | None = None,
    log: Log = print,
) -> str:
    """Create or update one stack with a change set; return "created", "updated" or "unchanged".

    ``role_arn`` is the service role CloudFormation acts as (None: the caller's own credentials).
    """
    from botocore.exceptions import ClientError

    stack = describe_stack(client, stack_name)
    status = stack.get("StackStatus")
    if status == DELETE_AND_CREATE:
        log(f"stack {stack_name} is {status} (its first create failed): deleting it to create it again")
        delete_stack(client, stack_name, role_arn)
        status = None
    elif status is not None and status != CREATE_AGAIN and status not in UPDATABLE:
        raise StackDeployFailed(_stuck_message(stack_name, status, stack.get("StackStatusReason")))
    exists = status in UPDATABLE
    name = change_set_name or f"deploy-{datetime.now(UTC):%Y%m%d%H%M%S}"
    request = {
        "StackName": stack_name,
        "ChangeSetName": name,
        "ChangeSetType": "UPDATE" if exists else "CREATE",
        "TemplateBody": template_body,
        "Parameters": list(parameters),
        "Capabilities": list(capabilities),
    }
    if role_arn:
        request["RoleARN"] = role_arn
    try:
        client.create_change_set(**request)
    except ClientError as error:
        # Some implementations (moto) refuse an empty change set at once instead of failing it later.
        if any(marker in str(error) for marker in NO_CHANGES):
            return "unchanged"
        raise
    change_set = describe_change_set(client, stack_name, name)
    if change_set["Status"] == "FAILED":
        reason = change_set.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            client.delete_change_set(StackName=stack_name, ChangeSetName=name)
            return "unchanged"
        raise StackDeployFailed(f"change set {name} of stack {stack_name} failed: {reason}")
    if change_set["Status"] != "CREATE_COMPLETE":
        raise StackDeployFailed(
            f"change set {name} of stack {stack_name} is still {change_set['Status']} after the wait"
        )
    losses = data_losses(change_set["Changes"])
    if losses and not allow_replacement:
        client.delete_change_set(StackName=stack_name, ChangeSetName=name)
        raise StackDeployFailed(
            f"stack {stack_name}: refused a change set that would {'; '.join(losses)}; "
            "deploy with allow_replacement (datalake deploy --allow-replacement) to go ahead"
        )
    # Resources this execution creates are deleted if it rolls back, even those with DeletionPolicy
    # Retain: a failed first create then leaves no named bucket behind to block the next create.
    client.execute_change_set(StackName=stack_name, ChangeSetName=name, RetainExceptOnCreate=True)
    _wait_stack(client, stack_name, "update" if exists else "create")
    return "updated" if exists else "created"


def describe_stack(client, stack_name: str) -> dict:
    """The stack as DescribeStacks returns it; {} when there is none."""
    from botocore.exceptions import ClientError

    try:
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return {}
        raise
    return stacks[0] if stacks else {}


def delete_stack(client, stack_name: str, role_arn: str | None) -> None:
    request = {"StackName": stack_name}
    if role_arn:
        request["RoleARN"] = role_arn
    client.delete_stack(**request)
    _wait_stack(client, stack_name, "delete")


def describe_change_set(client, stack_name: str, name: str) -> dict:
    """The change set once CloudFormation has computed it, with the changes of every page."""
    from botocore.exceptions import WaiterError

    # A FAILED change set ends the waiter with an error; its status then says whether it was only empty.
    with contextlib.suppress(WaiterError):
        client.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=name, WaiterConfig=CHANGE_SET_WAIT
        )
    pages = client.get_paginator("describe_change_set").paginate(StackName=stack_name, ChangeSetName=name)
    described: dict = {}
    changes: list[dict] = []
    for page in pages:
        described = described or page
        changes.extend(page.get("Changes", []))
    return {**described, "Changes": changes}


def data_losses(changes: Sequence[dict]) -> list[str]:
    """What the changes would do to data-bearing resources, one phrase each ([] when nothing)."""
    out = []
    for change in changes:
        resource = change.get("ResourceChange", {})
        kind = resource.get("ResourceType", "")
        if kind not in DATA_BEARING:
            continue
        action = resource.get("Action")
        replacement = resource.get("Replacement")
        if action == "Remove":
            verb = "remove"
        elif action == "Modify" and replacement in ("True", "Conditional"):
            verb = "replace" if replacement == "True" else "possibly replace"
        else:
            continue
        named = resource.get("PhysicalResourceId") or resource.get("LogicalResourceId")
        policy = f", policy {resource['PolicyAction']}" if resource.get("PolicyAction") else ""
        out.append(
            f"{verb} {kind} {resource.get('LogicalResourceId')} ({named}{policy}: {DATA_BEARING[kind]} at risk)"
        )
    return out


def first_failure(client, stack_name: str) -> str:
    """The oldest failed resource event of the stack's latest operation, as "Logical (Type) STATUS: reason"."""
    failures = []
    for page in client.get_paginator("describe_stack_events").paginate(StackName=stack_name):
        for event in page["StackEvents"]:  # newest first
            if event.get("LogicalResourceId") == stack_name:
                if event.get("ResourceStatusReason") == "User Initiated":
                    return _event_text(failures[-1]) if failures else "no resource reported a failure"
                continue
            if event.get("ResourceStatus", "").endswith("_FAILED"):
                failures.append(event)
    return _event_text(failures[-1]) if failures else "no resource reported a failure"


def _wait_stack(client, stack_name: str, operation: str) -> None:
    """Wait for the stack's create, update or delete; on failure, raise naming the first failed resource."""
    from botocore.exceptions import ClientError, WaiterError

    try:
        client.get_waiter(f"stack_{operation}_complete").wait(StackName=stack_name, WaiterConfig=STACK_WAIT)
    except WaiterError as error:
        stacks = (error.last_response or {}).get("Stacks") or [{}]
        status = stacks[0].get("StackStatus", "unknown status")
        try:
            cause = first_failure(client, stack_name)
        except ClientError as events_error:
            cause = f"its events could not be read ({events_error})"
        raise StackDeployFailed(
            f"stack {stack_name}: {operation} did not complete ({status}): {cause}"
        ) from error


def _event_text(event: dict) -> str:
    return (
        f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}) {event.get('ResourceStatus')}: "
        f"{event.get('ResourceStatusReason', 'no reason given')}"
    )


def _stuck_message(stack_name: str, status: str, reason: str | None) -> str:
    if status.endswith("_IN_PROGRESS"):
        hint = "another deploy is running; wait for it to end and deploy again"
    else:
        hint = (
            "repair it in the CloudFormation console (continue the rollback, or delete it) and deploy again"
        )
    return f"stack {stack_name} is {status} ({reason or 'no reason given'}): {hint}"


def main(args) -> int:
    """``datalake deploy``: the deploy step of the chosen target, outside Airflow; 1 on an error."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _deploy(args)
    # Messages a person can act on, one line each (a lint failure lists its errors, one a line).
    except (StackDeployFailed, BotoCoreError, ClientError, ValueError, OSError) as error:
        print(f"error: {_message(error)}", file=sys.stderr)
        return 1


def _deploy(args) -> int:
    from energy_datalake import templates

    target = config.target()
    env = args.env or config.environment()
    declared = templates.load(env)
    if target == "local":
        given = [
            flag
            for flag, on in (("--bootstrap", args.bootstrap), ("--allow-replacement", args.allow_replacement))
            if on
        ]
        if given:
            raise ValueError(f"{' and '.join(given)}: only for DATALAKE_TARGET=aws")
        from energy_datalake.emulator.cloudformation import deploy_stacks

        for key, value in deploy_stacks(env, force=args.force).summary().items():
            print(f"{key}: {value}")
        return 0
    if args.force:
        raise ValueError("--force: only for DATALAKE_TARGET=local (on AWS the change sets find what changed)")

    import boto3
    from botocore.config import Config

    # A session of its own: credentials and region as the environment has them now, never cached ones.
    session = boto3.session.Session()
    # CloudFormation throttles frequent DescribeStacks polls: more attempts than the default 3.
    retries = Config(retries={"mode": "standard", "max_attempts": 10})
    cloudformation = session.client("cloudformation", config=retries)
    if args.bootstrap:
        _, arn = deploy_bootstrap(cloudformation, env)
        print(f"DeployRoleArn: {arn}")
        print(make_lake_formation_admin(session.client("lakeformation"), arn))
        if declared.parameters.get("DeployRoleArn") != arn:
            print(f"put this DeployRoleArn in cloudformation/parameters/{env}.json, then run datalake deploy")
            return 0
    s3 = session.client("s3", config=retries)
    outcome = deploy_environment(cloudformation, s3, env, allow_replacement=args.allow_replacement)
    counts = {kind: list(outcome.values()).count(kind) for kind in ("created", "updated", "unchanged")}
    print(f"deployed {env}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


def _message(error: BaseException) -> str:
    from botocore.exceptions import NoCredentialsError, NoRegionError

    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(error, NoRegionError):
        return "no AWS region configured (set AWS_REGION, or a region in ~/.aws/config)"
    return str(error)
