"""``deploy_stacks`` on the AWS target as an Airflow task: what the Amazon provider lacks.

The provider has ``CloudFormationCreateStackOperator`` (create only) and no update. This operator deploys
one environment with ``energy_datalake.aws.stacks.deploy_environment`` (change sets through the CloudFormation
service role, the Glue code uploaded before the etl stack) with the connection's credentials, and returns
{stack name: "created" | "updated" | "unchanged"} as its XCom.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

# Importable from here as before: the change-set logic lives in energy_datalake.aws.stacks (no Airflow import).
from energy_datalake.aws.stacks import StackDeployFailed, deploy_stack

__all__ = ["CloudFormationDeployStacksOperator", "StackDeployFailed", "deploy_stack"]


class CloudFormationDeployStacksOperator(BaseOperator):
    """Deploy the stacks of one environment, in the templates' order, each by create-or-update.

    ``allow_replacement``: execute change sets that replace or remove a data-bearing resource (buckets,
    the KMS key, Glue databases, the warehouse); without it such a change set fails the task.
    """

    template_fields: Sequence[str] = ("environment", "allow_replacement")

    def __init__(
        self,
        *,
        environment: str,
        aws_conn_id: str | None = "aws_default",
        allow_replacement: bool | str = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.environment = environment
        self.aws_conn_id = aws_conn_id
        self.allow_replacement = allow_replacement

    def execute(self, context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.cloud_formation import CloudFormationHook
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from energy_datalake.aws.stacks import deploy_environment

        return deploy_environment(
            CloudFormationHook(aws_conn_id=self.aws_conn_id).get_conn(),
            S3Hook(aws_conn_id=self.aws_conn_id).get_conn(),
            self.environment,
            allow_replacement=as_bool(self.allow_replacement),
            log=self.log.info,
        )


def as_bool(value: bool | str) -> bool:
    """A flag that may come rendered from a template ("True", "false"): a non-empty string is not True."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ValueError(f"allow_replacement must be true or false, not {value!r}")
