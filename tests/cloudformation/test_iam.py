"""IAM across the templates: a ``"*"`` resource only where the Service Authorization Reference leaves no
choice (cfn-lint's IAM data: actions without a resource type), and one ProjectName rule everywhere."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cfnlint.data
import pytest

from energy_datalake import config, templates

ALL_TEMPLATES = [
    *templates.template_paths(),
    *sorted((config.CLOUDFORMATION_DIR / "bootstrap").glob("*.yaml")),
]
# cloudwatch:PutMetricData lists one resource type, a CloudWatch dataset, which metric data is not; the
# Glue job roles restrict it by namespace instead.
NO_RESOURCE_FOR_METRICS = {"cloudwatch:putmetricdata"}


@cache
def iam_actions() -> dict:
    return json.loads((Path(cfnlint.data.__file__).parent / "AdditionalSpecs" / "Policies.json").read_text())


def _documents(resource: dict):
    props = resource.get("Properties", {})
    if "PolicyDocument" in props:
        yield props["PolicyDocument"]
    for policy in props.get("Policies", []):
        yield policy["PolicyDocument"]


def _statements(template: dict):
    for logical, resource in template.get("Resources", {}).items():
        for document in _documents(resource):
            for statement in document["Statement"]:
                yield logical, statement


def _has_resource_type(action: str) -> bool:
    service, name = action.lower().split(":", 1)
    return bool(iam_actions()[service]["Actions"][name].get("Resources"))


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda p: p.name)
def test_a_star_resource_only_for_actions_without_a_resource_type(path):
    wrong = []
    for logical, statement in _statements(templates.decode(path)):
        if statement["Effect"] != "Allow" or statement.get("Resource") != "*":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        wrong += [
            f"{logical} {statement['Sid']}: {a}"
            for a in actions
            if _has_resource_type(a) and a.lower() not in NO_RESOURCE_FOR_METRICS
        ]
    assert wrong == []


def test_the_star_check_sees_an_action_with_a_resource_type():
    assert _has_resource_type("glue:GetCrawler")
    assert not _has_resource_type("glue:GetCrawlerMetrics")


def test_every_template_declares_the_same_project_and_environment_parameters():
    specs = {
        p.name: {k: templates.decode(p)["Parameters"][k] for k in ("ProjectName", "Environment")}
        for p in ALL_TEMPLATES
    }
    first = next(iter(specs.values()))
    assert {name for name, spec in specs.items() if spec != first} == set()
    # The deploy role manages the stacks' roles by the first 25 characters of their stack names.
    assert first["ProjectName"]["AllowedPattern"] == "^[a-z0-9][a-z0-9-]{2,23}$"
