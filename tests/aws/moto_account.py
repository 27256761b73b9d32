"""An AWS account in moto holding what the stacks would have created for the DAG to talk to.

moto's CloudFormation cannot run our templates (its YAML loader mangles ``!ImportValue`` of a nested
``Fn::Sub`` and it does not create Glue, Athena or Lake Formation resources), so the resources the daily run
calls are created here through their own APIs, from the templates' resolved properties. botocore validates
every one of those requests against the service model: a template property the API would refuse fails here.
"""

from __future__ import annotations

import boto3

from energy_datalake import templates

REGION = "eu-west-1"
ACCOUNT = "123456789012"


def clients(endpoint_url: str) -> dict:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return {
        name: session.client(name, endpoint_url=endpoint_url)
        for name in ("s3", "glue", "athena", "cloudformation", "logs")
    }


def provision(env: templates.Environment, aws: dict) -> None:
    """Buckets, Glue databases, declared tables, crawlers and jobs, Athena workgroups of ``env``."""
    for bucket in env.buckets.values():
        aws["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for resource in env.resources("AWS::Glue::Database").values():
        aws["glue"].create_database(DatabaseInput=resource["Properties"]["DatabaseInput"])
    for resource in env.resources("AWS::Glue::Table").values():
        props = resource["Properties"]
        aws["glue"].create_table(DatabaseName=props["DatabaseName"], TableInput=props["TableInput"])
    for resource in env.resources("AWS::Glue::Crawler").values():
        aws["glue"].create_crawler(**resource["Properties"])
    for resource in env.resources("AWS::Glue::Job").values():
        aws["glue"].create_job(**resource["Properties"])
    for resource in env.resources("AWS::Athena::WorkGroup").values():
        props = resource["Properties"]
        aws["athena"].create_work_group(
            Name=props["Name"],
            Configuration=props["WorkGroupConfiguration"],
            Description=props.get("Description", ""),
            Tags=props.get("Tags", []),
        )
