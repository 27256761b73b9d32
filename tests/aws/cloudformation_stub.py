"""CloudFormation of a fresh account for the deploy step, through botocore's Stubber.

Each stack of the environment, in the templates' order, answers as a first deploy would: it does not exist,
its CREATE change set is computed (every resource added), executed, and the stack reaches CREATE_COMPLETE.
The Stubber checks each request against CloudFormation's model and against what a first deploy must send
(the service role, a CREATE change set of the stack's own template), in that order.
"""

from __future__ import annotations

from botocore.stub import ANY, Stubber

from energy_datalake import templates

CREATED = "2026-01-01T00:00:00Z"


class FreshAccount:
    def __init__(self, client, stubber: Stubber):
        self.client = client
        self.stubber = stubber

    def pending(self) -> int:
        return len(self.stubber._queue)


def install(env: templates.Environment, endpoint_url: str) -> FreshAccount:
    """Make CloudFormationHook.get_conn() return a stubbed client primed with a first deploy of ``env``."""
    import boto3
    from airflow.providers.amazon.aws.hooks.cloud_formation import CloudFormationHook

    client = boto3.client(
        "cloudformation",
        region_name="eu-west-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stubber = Stubber(client)
    role = env.parameters["DeployRoleArn"]
    for stack in env.stacks:
        name = stack.name
        stubber.add_client_error(
            "describe_stacks",
            "ValidationError",
            f"Stack with id {name} does not exist",
            400,
            {"StackName": name},
        )
        stubber.add_response(
            "create_change_set",
            {"Id": f"arn:aws:cloudformation:eu-west-1:123456789012:changeSet/deploy/{name}", "StackId": name},
            {
                "StackName": name,
                "ChangeSetName": ANY,
                "ChangeSetType": "CREATE",
                "TemplateBody": stack.template.read_text(),
                "Parameters": ANY,
                "Capabilities": ANY,
                "RoleARN": role,
            },
        )
        computed = {
            "StackName": name,
            "ChangeSetName": "deploy",
            "Status": "CREATE_COMPLETE",
            "ExecutionStatus": "AVAILABLE",
            "Changes": [
                {
                    "Type": "Resource",
                    "ResourceChange": {"Action": "Add", "LogicalResourceId": logical, "ResourceType": kind},
                }
                for logical, kind in sorted(_resources(env, stack))
            ],
        }
        for _ in range(2):  # the waiter's poll, then the read of every page
            stubber.add_response("describe_change_set", computed, {"StackName": name, "ChangeSetName": ANY})
        stubber.add_response(
            "execute_change_set", {}, {"StackName": name, "ChangeSetName": ANY, "RetainExceptOnCreate": True}
        )
        stubber.add_response(
            "describe_stacks",
            {"Stacks": [{"StackName": name, "CreationTime": CREATED, "StackStatus": "CREATE_COMPLETE"}]},
            {"StackName": name},
        )
    stubber.activate()
    CloudFormationHook.get_conn = lambda self: client
    return FreshAccount(client, stubber)


def _resources(env: templates.Environment, stack: templates.Stack) -> list[tuple[str, str]]:
    return [(logical, r["Type"]) for logical, r in env.resolved[stack.template.stem].items()]
