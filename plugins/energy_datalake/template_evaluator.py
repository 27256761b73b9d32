"""CloudFormation templates evaluated the way CloudFormation would, without AWS: a generic evaluator.

- ``decode(path)``: YAML with the short-form tags (``!Ref``, ``!Sub``, ``!GetAtt`` ...) as their ``Fn::`` forms.
- ``read_parameters(path)``: the AWS CLI's ``[{"ParameterKey": ..., "ParameterValue": ...}]`` file as a dict.
- ``parameters(stem, template, values)``: a template's parameters, checked against their constraints.
- ``deploy_order(templates, values)``: stacks after those they import from or name in ``DeployAfter``.
- ``Resolver``: the intrinsic functions of one template (Ref to parameters, pseudo parameters and resources'
  names, Sub, Join, Select, Split, If, Equals, Not, And, Or, ImportValue across templates, GetAtt of the ARNs
  of buckets, roles and keys); resources whose Condition is false are left out; ``Rules`` are checked.
- ``capabilities(template)``, ``transforms(template)``: what a change set of the template must acknowledge.

Pure Python, no AWS call: pseudo parameters take the fixed values of ``PSEUDO_PARAMETERS``. What the lake
makes of the resolved templates (its buckets, jobs, grants...) is ``energy_datalake.templates``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from energy_datalake import config

# What the templates see locally for the values only AWS knows at deploy time.
PSEUDO_PARAMETERS = {
    "AWS::AccountId": "000000000000",
    "AWS::Region": "eu-west-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
_NO_VALUE = object()
# Where a template names the stacks it must follow without importing from them (DeployAfter).
METADATA_KEY = "EnergyDatalake"


def getatt_args(value) -> list[str]:
    return value.split(".", 1) if isinstance(value, str) else list(value)


def template_paths(directory: Path | None = None) -> list[Path]:
    return sorted((directory or config.CLOUDFORMATION_DIR).glob("*.yaml"))


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML with CloudFormation's short-form tags (``!Ref``, ``!Sub``, ``!GetAtt`` ...).

    cfn-lint's own decoder gives the same result (a test holds the two together) but importing cfn-lint
    pulls in sympy and takes seconds, too slow for DAG parsing and the CLI.
    """


def _long_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref" or suffix == "Condition":
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _long_form)


@functools.cache
def _decode(path: Path, mtime: int) -> dict:
    return yaml.load(path.read_text(), Loader=_TemplateLoader)


def decode(path: Path) -> dict:
    """The template as CloudFormation reads it (short-form tags become their ``Fn::`` mappings)."""
    return _decode(path, path.stat().st_mtime_ns)


def read_parameters(path: Path) -> dict[str, str]:
    """``[{"ParameterKey": k, "ParameterValue": v}, ...]`` (the AWS CLI's format) as a dict."""
    entries = json.loads(path.read_text())
    return {e["ParameterKey"]: str(e["ParameterValue"]) for e in entries}


def resolve_template(path: Path, values: dict[str, str]) -> dict[str, dict]:
    """{logical id: resolved resource} of one template outside the environment's stacks (the bootstrap
    one), with ``values`` for its parameters; it may import nothing."""
    template = decode(path)
    resolver = Resolver(path.stem, template, parameters(path.stem, template, values), {})
    resolver.check_rules()
    return resolver.resources()


def parameters(stem: str, template: dict, values: dict[str, str]) -> dict[str, str]:
    """The template's parameters with the environment's values, checked against their constraints."""
    out = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in values:
            value = values[name]
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise ValueError(f"{stem}: parameter {name} has no default and no value in the parameters file")
        check_parameter(stem, name, spec, value)
        out[name] = value
    return out


def check_parameter(stem: str, name: str, spec: dict, value: str) -> None:
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if allowed and value not in allowed:
        raise ValueError(f"{stem}: {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern and not re.fullmatch(pattern, value):
        raise ValueError(f"{stem}: {name}={value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        number = float(value)
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ValueError(f"{stem}: {name}={value} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ValueError(f"{stem}: {name}={value} is above {spec['MaxValue']}")


_NAMED_IAM = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}


def transforms(template: dict) -> tuple[str, ...]:
    """The template's top-level ``Transform``: one name or a list of them."""
    declared = template.get("Transform", ())
    return (declared,) if isinstance(declared, str) else tuple(declared)


def capabilities(template: dict) -> tuple[str, ...]:
    iam = [r for r in template.get("Resources", {}).values() if r.get("Type", "").startswith("AWS::IAM::")]
    # Only a name that creates a named IAM entity counts (a RolePolicy's RoleName names an existing role).
    if any(_NAMED_IAM.get(r["Type"]) in r.get("Properties", {}) for r in iam):
        out: tuple[str, ...] = ("CAPABILITY_NAMED_IAM",)
    # A macro's output is only known to CloudFormation; the ones we use (Secrets Manager's hosted rotation)
    # add unnamed IAM roles, in a nested stack, which the parent stack must acknowledge.
    elif iam or transforms(template):
        out = ("CAPABILITY_IAM",)
    else:
        out = ()
    return (*out, "CAPABILITY_AUTO_EXPAND") if transforms(template) else out


def _walk(node) -> Iterable[dict]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def deploy_order(templates: dict[str, tuple[Path, dict]], values: dict[str, str]) -> list[str]:
    """Stacks in an order where every stack comes after those it imports from or names in DeployAfter."""
    exporters: dict[str, str] = {}
    needs: dict[str, set[str]] = {}
    for stem, (_, template) in templates.items():
        resolver = Resolver(stem, template, parameters(stem, template, values), {})
        for output in template.get("Outputs", {}).values():
            if "Export" in output:
                exporters[resolver.value(output["Export"]["Name"])] = stem
        after = template.get("Metadata", {}).get(METADATA_KEY, {}).get("DeployAfter", [])
        unknown = set(after) - set(templates)
        if unknown:
            raise ValueError(f"{stem}: DeployAfter names unknown templates {sorted(unknown)}")
        needs[stem] = set(after)
    for stem, (_, template) in templates.items():
        resolver = Resolver(stem, template, parameters(stem, template, values), {})
        for node in _walk(template.get("Resources", {})):
            if "Fn::ImportValue" in node:
                name = resolver.value(node["Fn::ImportValue"])
                if name not in exporters:
                    raise ValueError(f"{stem}: imports {name!r}, which no template exports")
                needs[stem].add(exporters[name])
    order: list[str] = []
    while len(order) < len(templates):
        ready = sorted(s for s in templates if s not in order and needs[s] <= set(order))
        if not ready:
            raise ValueError(
                f"the stacks depend on each other in a cycle: {sorted(set(templates) - set(order))}"
            )
        order.append(ready[0])
    return order


class Resolver:
    """Evaluates the intrinsic functions of one template with its parameters."""

    def __init__(self, stem: str, template: dict, parameters: dict[str, str], exports: dict[str, Any]):
        self.stem = stem
        self.template = template
        self.parameters = parameters
        self.imports = exports
        self.types = {
            name: spec.get("Type", "String") for name, spec in template.get("Parameters", {}).items()
        }
        self.stack_name = f"{parameters.get('ProjectName')}-{parameters.get('Environment')}-{stem}"
        self.conditions: dict[str, bool] = {}

    @property
    def cli_parameters(self) -> list[dict[str, str]]:
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()]

    def check_rules(self) -> None:
        """Each rule whose RuleCondition holds must have every assertion true, as CloudFormation checks."""
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self.value(assertion["Assert"]):
                    description = assertion.get("AssertDescription", "its assertion is false")
                    raise ValueError(f"{self.stem}: rule {name}: {description}")

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def resources(self) -> dict[str, dict]:
        out = {}
        for logical, resource in self.template.get("Resources", {}).items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[logical] = {
                "Type": resource["Type"],
                "Properties": self.value(resource.get("Properties", {})),
                "Source": resource,
            }
        return out

    def exports(self) -> dict[str, Any]:
        out = {}
        for output in self.template.get("Outputs", {}).values():
            if "Export" not in output:
                continue
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            out[self.value(output["Export"]["Name"])] = self.value(output["Value"])
        return out

    def value(self, node):
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                handler = self._FUNCTIONS.get(key)
                if handler is not None:
                    return handler(self, arg)
                if key.startswith("Fn::"):
                    raise ValueError(
                        f"{self.stem}: {key} is not supported by templates.py; resolve it or add it"
                    )
            return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not _NO_VALUE}
        if isinstance(node, list):
            return [v for v in (self.value(v) for v in node) if v is not _NO_VALUE]
        return node

    def _ref(self, name: str):
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            value = self.parameters[name]
            kind = self.types.get(name, "String")
            if kind == "Number":
                return float(value) if "." in value else int(value)
            if kind.startswith("List<") or kind == "CommaDelimitedList":
                return [v.strip() for v in value.split(",") if v.strip()]
            return value
        if name in self.template.get("Resources", {}):
            return self._physical_name(name)
        raise ValueError(f"{self.stem}: Ref to unknown name {name!r}")

    def _physical_name(self, logical: str) -> str:
        resource = self.template["Resources"][logical]
        props = resource.get("Properties", {})
        kind = resource["Type"]
        for key in ("BucketName", "Name", "NamespaceName", "WorkgroupName", "TrailName", "AliasName"):
            if key in props:
                return self.value(props[key])
        for nested in ("DatabaseInput", "TableInput", "ConnectionInput", "CsvClassifier"):
            if nested in props:
                return self.value(props[nested]["Name"])
        if kind == "AWS::IAM::Role":
            return self.value(props.get("RoleName", f"{self.stack_name}-{logical}"))
        return f"{self.stack_name}-{logical}"

    def _getatt(self, arg):
        logical, attribute = getatt_args(arg)
        logical, attribute = self.value(logical), self.value(attribute)
        resource = self.template.get("Resources", {}).get(logical)
        if resource is None:
            raise ValueError(f"{self.stem}: GetAtt of unknown resource {logical!r}")
        name = self._physical_name(logical)
        account, region = PSEUDO_PARAMETERS["AWS::AccountId"], PSEUDO_PARAMETERS["AWS::Region"]
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{region}:{account}:key/{name}",
            "AWS::CloudTrail::Trail": f"arn:aws:cloudtrail:{region}:{account}:trail/{name}",
        }
        if attribute == "Arn" and resource["Type"] in arns:
            return arns[resource["Type"]]
        # Attributes only AWS knows (endpoints, generated ids) stay symbolic.
        return f"{name}.{attribute}"

    def _sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))

        def replace(match: re.Match) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and expr.split(".", 1)[0] in self.template.get("Resources", {}):
                return str(self._getatt(expr))
            return str(self._ref(expr))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _join(self, arg):
        delimiter, items = arg
        return self.value(delimiter).join(str(v) for v in self.value(items))

    def _select(self, arg):
        index, items = arg
        return self.value(items)[int(self.value(index))]

    def _split(self, arg):
        delimiter, text = arg
        return self.value(text).split(self.value(delimiter))

    def _if(self, arg):
        name, when_true, when_false = arg
        return self.value(when_true if self.condition(name) else when_false)

    def _equals(self, arg):
        left, right = (self.value(v) for v in arg)
        return str(left) == str(right)

    def _import(self, arg):
        name = self.value(arg)
        if name not in self.imports:
            raise ValueError(f"{self.stem}: imports {name!r}, which no earlier stack exports")
        return self.imports[name]

    _FUNCTIONS = {
        "Ref": _ref,
        "Fn::GetAtt": _getatt,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::If": _if,
        "Fn::Equals": _equals,
        "Fn::Not": lambda self, arg: not self.value(arg[0]),
        "Fn::And": lambda self, arg: all(self.value(v) for v in arg),
        "Fn::Or": lambda self, arg: any(self.value(v) for v in arg),
        "Condition": lambda self, arg: self.condition(arg),
        "Fn::ImportValue": _import,
    }
