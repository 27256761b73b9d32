"""The persona roles: who may assume them, and the Athena metadata calls consoles and drivers make."""

from __future__ import annotations

import pytest

from energy_datalake import templates

PERSONAS = {"AnalystsRole": "analysts", "ReportingRole": "reporting", "DataScienceRole": "data-science"}
ACCOUNT = templates.PSEUDO_PARAMETERS["AWS::AccountId"]


def _trust(env, logical) -> dict:
    (statement,) = env.resolved["analytics"][logical]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    return statement


def _statements(env, logical) -> dict[str, dict]:
    (policy,) = env.resolved["analytics"][logical]["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


@pytest.mark.parametrize("logical", PERSONAS)
def test_trusting_the_account_requires_the_personas_principal_tag(logical):
    statement = _trust(templates.load("dev"), logical)
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalTag/datalake:persona": PERSONAS[logical]}
    }


@pytest.mark.parametrize("logical", PERSONAS)
def test_a_named_principal_is_trusted_as_it_is(logical):
    env = templates.load("prod")
    statement = _trust(env, logical)
    assert statement["Principal"] == {"AWS": env.parameters["PersonaTrustedPrincipalArn"]}
    assert "Condition" not in statement


def test_prod_refuses_to_trust_the_whole_account(resolve_with):
    with pytest.raises(
        ValueError, match="analytics: rule ProdTrustsANamedPrincipal: In prod PersonaTrustedPrincipalArn"
    ):
        resolve_with("prod", PersonaTrustedPrincipalArn="")


def test_dev_may_trust_the_account(resolve_with):
    env = resolve_with("dev", PersonaTrustedPrincipalArn="")
    assert _trust(env, "AnalystsRole")["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def test_a_trusted_principal_that_is_not_an_arn_names_the_value(resolve_with):
    with pytest.raises(ValueError, match="PersonaTrustedPrincipalArn='analysts' does not match"):
        resolve_with("prod", PersonaTrustedPrincipalArn="analysts")


@pytest.mark.parametrize("logical", PERSONAS)
def test_the_personas_may_browse_the_catalog_as_consoles_and_drivers_do(logical):
    statements = _statements(templates.load("dev"), logical)
    browse = statements["BrowseCatalog"]
    assert set(browse["Action"]) == {
        "athena:GetDataCatalog",
        "athena:GetTableMetadata",
        "athena:ListDatabases",
        "athena:ListTableMetadata",
    }
    assert browse["Resource"] == f"arn:aws:athena:eu-west-1:{ACCOUNT}:datacatalog/AwsDataCatalog"
    # ListWorkGroups and ListDataCatalogs have no resource type in the Service Authorization Reference.
    assert statements["ListWorkgroupsAndCatalogs"] == {
        "Sid": "ListWorkgroupsAndCatalogs",
        "Effect": "Allow",
        "Action": ["athena:ListDataCatalogs", "athena:ListWorkGroups"],
        "Resource": "*",
    }
    # Queries still run in the persona's own workgroup only.
    assert statements["QueryInOwnWorkgroup"]["Resource"].endswith(f":workgroup/{PERSONAS[logical]}")
