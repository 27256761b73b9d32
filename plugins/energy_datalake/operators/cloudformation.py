"""Create-or-update of CloudFormation stacks through change sets: what the Amazon provider lacks.

The provider has ``CloudFormationCreateStackOperator`` (create only) and no update. A deploy must work on
the first run and on every later one, and change nothing when the templates did not change: a change set
is created (type CREATE for a new stack, UPDATE otherwise), an empty one is deleted and reported as
"unchanged", any other is executed and waited for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseOperator

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
# What CloudFormation says when a change set holds nothing to do (the wording varies by resource type).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed", "submitted information didn't")


class StackDeployFailed(RuntimeError):
    """A change set failed, or the stack did not reach a *_COMPLETE state."""


def deploy_stack(
    client,
    stack_name: str,
    template_body: str,
    parameters: Sequence[dict[str, str]] = (),
    capabilities: Sequence[str] = CAPABILITIES,
    change_set_name: str | None = None,
) -> str:
    """Create or update one stack with a change set; return "created", "updated" or "unchanged"."""
    exists = stack_exists(client, stack_name)
    name = change_set_name or f"deploy-{datetime.now(UTC):%Y%m%d%H%M%S}"
    client.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType="UPDATE" if exists else "CREATE",
        TemplateBody=template_body,
        Parameters=list(parameters),
        Capabilities=list(capabilities),
    )
    status = _wait_change_set(client, stack_name, name)
    if status["Status"] == "FAILED":
        reason = status.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            client.delete_change_set(StackName=stack_name, ChangeSetName=name)
            return "unchanged"
        raise StackDeployFailed(f"change set {name} of stack {stack_name} failed: {reason}")
    client.execute_change_set(StackName=stack_name, ChangeSetName=name)
    waiter = "stack_update_complete" if exists else "stack_create_complete"
    try:
        client.get_waiter(waiter).wait(StackName=stack_name)
    except Exception as error:
        raise StackDeployFailed(f"stack {stack_name} did not complete: {error}") from error
    return "updated" if exists else "created"


def stack_exists(client, stack_name: str) -> bool:
    """True for a live stack; a stack left in REVIEW_IN_PROGRESS by a failed first change set is not."""
    from botocore.exceptions import ClientError

    try:
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "REVIEW_IN_PROGRESS"


def _wait_change_set(client, stack_name: str, name: str) -> dict:
    from botocore.exceptions import WaiterError

    # A FAILED change set ends the waiter with an error; its status then says whether it was only empty.
    with contextlib.suppress(WaiterError):
        client.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=name, WaiterConfig={"Delay": 5}
        )
    return client.describe_change_set(StackName=stack_name, ChangeSetName=name)


class CloudFormationDeployStacksOperator(BaseOperator):
    """Deploy the stacks of one environment, in the templates' order, each by create-or-update."""

    template_fields: Sequence[str] = ("environment",)

    def __init__(self, *, environment: str, aws_conn_id: str | None = "aws_default", **kwargs):
        super().__init__(**kwargs)
        self.environment = environment
        self.aws_conn_id = aws_conn_id

    def execute(self, context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.cloud_formation import CloudFormationHook

        from energy_datalake import templates

        client = CloudFormationHook(aws_conn_id=self.aws_conn_id).get_conn()
        outcome = {}
        for stack in templates.load(self.environment).stacks:
            outcome[stack.name] = deploy_stack(
                client, stack.name, stack.template.read_text(), stack.parameters
            )
            self.log.info("stack %s: %s", stack.name, outcome[stack.name])
        return outcome
