"""The CloudFormation templates as the single source of truth for names and settings.

The local target and the DAG read bucket names, catalog databases, crawlers, Glue jobs and their default
arguments, Athena workgroups and the Lake Formation grants from ``cloudformation/`` (resolved with
``parameters/<env>.json``) instead of repeating them in Python.

API (the signatures are what the rest of the code relies on):

- ``load(env=None) -> Environment``: parsed and resolved templates of one environment (cached).
- ``Environment.lake_bucket``: name of the lake bucket, e.g. ``energy-trading-datalake-dev``.
- ``Environment.buckets``: {logical purpose: bucket name} for ``lake``, ``athena_results``, ``glue_scripts``,
  ``glue_temp``, ``access_logs``, ``trail``.
- ``Environment.databases``: {database name: {"Description": ..., "LocationUri": ...}}.
- ``Environment.crawlers``: {crawler name: Crawler(name, database, s3_targets: list[str],
  schema_change_policy: dict, recrawl_policy: dict, table_prefix: str | None)}.
- ``Environment.jobs``: {glue job name: GlueJob(name, script_location: str (s3 uri),
  default_arguments: dict[str, str], timeout_minutes: int, worker_type, number_of_workers, glue_version)}.
  The local target maps the job name to ``glue_jobs/<name with - → _>.py``.
- ``Environment.workgroups``: {name: Workgroup(name, bytes_scanned_cutoff: int | None,
  output_location: str, enforce: bool, ..., principal: str | None (its ``datalake:principal`` tag))}.
- ``Environment.grants``: list[Grant(principal: str (persona / workgroup name, or "etl"), database: str,
  table: str | None (None = every table of the database), permissions: tuple[str, ...],
  excluded_columns: tuple[str, ...])]: the table and column grants (data access). Database-level grants
  (DESCRIBE, CREATE_TABLE) and data-location grants are not listed: they give no access to rows.
- ``Environment.warehouse``: {"schema": "energy", "database": ...}.

Extensions:

- ``Environment.tables``: {"database.table": Table} for the tables the templates declare (processed zone),
  with their columns, partition keys and location.
- ``Environment.stacks``: the stacks in deployment order: Stack(name, template: Path, parameters (the AWS
  CLI's ``[{"ParameterKey": ..., "ParameterValue": ...}]`` form, only the template's own), capabilities).
- ``Environment.resources(type_)``: the resolved resources of one CloudFormation type, for anything else.
- ``Stack.transforms``: the template's top-level ``Transform`` (macros CloudFormation expands in a change
  set); a template with one needs ``CAPABILITY_AUTO_EXPAND``, which ``Stack.capabilities`` then holds.
- ``Rules``: a template's rules are checked against the environment's parameters as CloudFormation checks
  them before a change set; a failed assertion is a ``ValueError`` naming the rule and its description.
- ``resolve_template(path, values)``: the resolved resources of a template that is not one of the
  environment's stacks (``cloudformation/bootstrap/``).
- ``QUALITY_GATE``: the principal (and workgroup) of the quality gate, the identity Airflow runs as.

Intrinsic functions are resolved the way CloudFormation would with the environment's parameters: Ref
(parameters, pseudo parameters, resources' names), Sub, Join, Select, Split, If, ImportValue (across the
templates), GetAtt (the ARNs of buckets, roles and keys). Resources whose Condition is false are left out.
Pure Python, no AWS call: pseudo parameters take the fixed values of ``PSEUDO_PARAMETERS``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
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
# The tag that names the persona (or "etl") an IAM role stands for in the Lake Formation grants.
PRINCIPAL_TAG = "datalake:principal"
# The principal of the Athena checks: the orchestrator's role and its workgroup carry it.
QUALITY_GATE = "quality-gate"
_METADATA_KEY = "EnergyDatalake"


@dataclass(frozen=True)
class Crawler:
    name: str
    database: str
    s3_targets: list[str]
    schema_change_policy: dict
    recrawl_policy: dict
    table_prefix: str | None = None
    exclusions: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class GlueJob:
    name: str
    script_location: str
    default_arguments: dict[str, str]
    timeout_minutes: int
    worker_type: str
    number_of_workers: int
    glue_version: str
    max_concurrent_runs: int = 1
    connections: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workgroup:
    name: str
    bytes_scanned_cutoff: int | None
    output_location: str
    enforce: bool
    encryption_option: str | None = None
    engine_version: str | None = None
    # Whose queries run here (the workgroup's datalake:principal tag): a persona or the quality gate.
    principal: str | None = None


@dataclass(frozen=True)
class Grant:
    principal: str
    database: str
    table: str | None
    permissions: tuple[str, ...]
    excluded_columns: tuple[str, ...] = ()
    # Only these columns (None = every column but the excluded ones).
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    database: str
    name: str
    location: str
    columns: tuple[tuple[str, str], ...]
    partition_keys: tuple[str, ...]
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stack:
    name: str
    template: Path
    parameters: list[dict[str, str]]
    # What CreateStack / CreateChangeSet must acknowledge for this template.
    capabilities: tuple[str, ...] = ()
    # The template's top-level Transform (macros), in the order CloudFormation applies them.
    transforms: tuple[str, ...] = ()


@dataclass
class Environment:
    name: str
    parameters: dict[str, str]
    stacks: list[Stack]
    # {template stem: {logical id: resolved resource}} (resources whose condition holds)
    resolved: dict[str, dict[str, dict]]
    metadata: dict[str, dict]

    def resources(self, type_: str) -> dict[str, dict]:
        """{logical id: resolved resource} of one CloudFormation type, across the templates."""
        return {
            logical: resource
            for resources in self.resolved.values()
            for logical, resource in resources.items()
            if resource["Type"] == type_
        }

    @functools.cached_property
    def buckets(self) -> dict[str, str]:
        return {
            _snake(logical.removesuffix("Bucket")): r["Properties"]["BucketName"]
            for logical, r in self.resources("AWS::S3::Bucket").items()
        }

    @property
    def lake_bucket(self) -> str:
        return self.buckets["lake"]

    @functools.cached_property
    def databases(self) -> dict[str, dict]:
        out = {}
        for r in self.resources("AWS::Glue::Database").values():
            db = r["Properties"]["DatabaseInput"]
            out[db["Name"]] = {"Description": db.get("Description", ""), "LocationUri": db.get("LocationUri")}
        return out

    @functools.cached_property
    def tables(self) -> dict[str, Table]:
        out = {}
        for r in self.resources("AWS::Glue::Table").values():
            props = r["Properties"]
            t = props["TableInput"]
            sd = t["StorageDescriptor"]
            table = Table(
                database=props["DatabaseName"],
                name=t["Name"],
                location=sd["Location"],
                columns=tuple((c["Name"], c["Type"]) for c in sd["Columns"]),
                partition_keys=tuple(k["Name"] for k in t.get("PartitionKeys", [])),
                parameters=dict(t.get("Parameters", {})),
            )
            out[f"{table.database}.{table.name}"] = table
        return out

    @functools.cached_property
    def crawlers(self) -> dict[str, Crawler]:
        out = {}
        for r in self.resources("AWS::Glue::Crawler").values():
            p = r["Properties"]
            targets = p["Targets"].get("S3Targets", [])
            out[p["Name"]] = Crawler(
                name=p["Name"],
                database=p["DatabaseName"],
                s3_targets=[t["Path"] for t in targets],
                schema_change_policy=dict(p.get("SchemaChangePolicy", {})),
                recrawl_policy=dict(p.get("RecrawlPolicy", {})),
                table_prefix=p.get("TablePrefix"),
                exclusions={t["Path"]: list(t["Exclusions"]) for t in targets if t.get("Exclusions")},
            )
        return out

    @functools.cached_property
    def jobs(self) -> dict[str, GlueJob]:
        out = {}
        for r in self.resources("AWS::Glue::Job").values():
            p = r["Properties"]
            out[p["Name"]] = GlueJob(
                name=p["Name"],
                script_location=p["Command"]["ScriptLocation"],
                default_arguments={k: str(v) for k, v in p.get("DefaultArguments", {}).items()},
                timeout_minutes=int(p["Timeout"]),
                worker_type=p["WorkerType"],
                number_of_workers=int(p["NumberOfWorkers"]),
                glue_version=p["GlueVersion"],
                max_concurrent_runs=int(p.get("ExecutionProperty", {}).get("MaxConcurrentRuns", 1)),
                connections=tuple(p.get("Connections", {}).get("Connections", [])),
            )
        return out

    @functools.cached_property
    def workgroups(self) -> dict[str, Workgroup]:
        out = {}
        for r in self.resources("AWS::Athena::WorkGroup").values():
            p = r["Properties"]
            conf = p.get("WorkGroupConfiguration", {})
            results = conf.get("ResultConfiguration", {})
            cutoff = conf.get("BytesScannedCutoffPerQuery")
            tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
            out[p["Name"]] = Workgroup(
                name=p["Name"],
                bytes_scanned_cutoff=None if cutoff is None else int(cutoff),
                output_location=results.get("OutputLocation", ""),
                enforce=bool(conf.get("EnforceWorkGroupConfiguration", False)),
                encryption_option=results.get("EncryptionConfiguration", {}).get("EncryptionOption"),
                engine_version=conf.get("EngineVersion", {}).get("SelectedEngineVersion"),
                principal=tags.get(PRINCIPAL_TAG),
            )
        return out

    @functools.cached_property
    def grants(self) -> list[Grant]:
        out = []
        for stem, resources in self.resolved.items():
            for r in resources.values():
                if r["Type"] == "AWS::LakeFormation::PrincipalPermissions":
                    grant = _grant(r, self._principal_of(stem, r))
                    if grant is not None:
                        out.append(grant)
        return out

    @functools.cached_property
    def warehouse(self) -> dict[str, str]:
        stack = next(s for s in self.stacks if s.template.stem == "warehouse")
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack.parameters}
        schema = self.metadata["warehouse"].get(_METADATA_KEY, {}).get("WarehouseSchema")
        return {"schema": schema, "database": parameters["WarehouseDatabase"]}

    def _principal_of(self, stem: str, resource: dict) -> str:
        identifier = resource["Source"]["Properties"]["Principal"]["DataLakePrincipalIdentifier"]
        if not (isinstance(identifier, dict) and "Fn::GetAtt" in identifier):
            raise ValueError(
                f"{stem}: a Lake Formation grant must name a role of its template (GetAtt Role.Arn)"
            )
        logical = _getatt_args(identifier["Fn::GetAtt"])[0]
        role = self.resolved[stem].get(logical)
        tags = {t["Key"]: t["Value"] for t in (role or {}).get("Properties", {}).get("Tags", [])}
        if PRINCIPAL_TAG not in tags:
            raise ValueError(f"{stem}: role {logical} of a Lake Formation grant has no {PRINCIPAL_TAG!r} tag")
        return tags[PRINCIPAL_TAG]


def _grant(resource: dict, principal: str) -> Grant | None:
    p = resource["Properties"]
    res = p["Resource"]
    permissions = tuple(p["Permissions"])
    if "Table" in res:
        t = res["Table"]
        table = None if "TableWildcard" in t else t["Name"]
        return Grant(principal, t["DatabaseName"], table, permissions)
    if "TableWithColumns" in res:
        t = res["TableWithColumns"]
        wildcard = t.get("ColumnWildcard")
        excluded = tuple(wildcard.get("ExcludedColumnNames", [])) if wildcard is not None else ()
        columns = None if wildcard is not None else tuple(t["ColumnNames"])
        return Grant(principal, t["DatabaseName"], t["Name"], permissions, excluded, columns)
    return None


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _getatt_args(value) -> list[str]:
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


def load(env: str | None = None, directory: Path | None = None) -> Environment:
    """Parsed and resolved templates of one environment (cached until a template changes)."""
    directory = directory or config.CLOUDFORMATION_DIR
    env = env or config.environment()
    files = tuple((p, p.stat().st_mtime_ns) for p in template_paths(directory))
    params_file = directory / "parameters" / f"{env}.json"
    if not params_file.is_file():
        raise FileNotFoundError(f"no parameters for environment {env!r}: {params_file} is missing")
    return _load(env, files, params_file, params_file.stat().st_mtime_ns)


@functools.cache
def _load(env: str, files: tuple[tuple[Path, int], ...], params_file: Path, _mtime: int) -> Environment:
    templates = {path.stem: (path, _decode(path, mtime)) for path, mtime in files}
    values = read_parameters(params_file)
    undeclared = set(values) - {k for _, t in templates.values() for k in t.get("Parameters", {})}
    if undeclared:
        raise ValueError(f"{params_file.name}: no template declares {', '.join(sorted(undeclared))}")

    exports: dict[str, Any] = {}
    resolved: dict[str, dict[str, dict]] = {}
    stacks: list[Stack] = []
    for stem in _deploy_order(templates, values):
        path, template = templates[stem]
        resolver = _Resolver(stem, template, _parameters(stem, template, values), exports)
        resolver.check_rules()
        resolved[stem] = resolver.resources()
        exports.update(resolver.exports())
        stacks.append(
            Stack(
                resolver.stack_name,
                path,
                resolver.cli_parameters,
                _capabilities(template),
                transforms(template),
            )
        )
    metadata = {stem: dict(t.get("Metadata", {})) for stem, (_, t) in templates.items()}
    return Environment(env, values, stacks, resolved, metadata)


def resolve_template(path: Path, values: dict[str, str]) -> dict[str, dict]:
    """{logical id: resolved resource} of one template outside the environment's stacks (the bootstrap
    one), with ``values`` for its parameters; it may import nothing."""
    template = decode(path)
    resolver = _Resolver(path.stem, template, _parameters(path.stem, template, values), {})
    resolver.check_rules()
    return resolver.resources()


def _parameters(stem: str, template: dict, values: dict[str, str]) -> dict[str, str]:
    """The template's parameters with the environment's values, checked against their constraints."""
    out = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in values:
            value = values[name]
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise ValueError(f"{stem}: parameter {name} has no default and no value in the parameters file")
        _check_parameter(stem, name, spec, value)
        out[name] = value
    return out


def _check_parameter(stem: str, name: str, spec: dict, value: str) -> None:
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


def _capabilities(template: dict) -> tuple[str, ...]:
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


def _deploy_order(templates: dict[str, tuple[Path, dict]], values: dict[str, str]) -> list[str]:
    """Stacks in an order where every stack comes after those it imports from or names in DeployAfter."""
    exporters: dict[str, str] = {}
    needs: dict[str, set[str]] = {}
    for stem, (_, template) in templates.items():
        resolver = _Resolver(stem, template, _parameters(stem, template, values), {})
        for output in template.get("Outputs", {}).values():
            if "Export" in output:
                exporters[resolver.value(output["Export"]["Name"])] = stem
        after = template.get("Metadata", {}).get(_METADATA_KEY, {}).get("DeployAfter", [])
        unknown = set(after) - set(templates)
        if unknown:
            raise ValueError(f"{stem}: DeployAfter names unknown templates {sorted(unknown)}")
        needs[stem] = set(after)
    for stem, (_, template) in templates.items():
        resolver = _Resolver(stem, template, _parameters(stem, template, values), {})
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


class _Resolver:
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
        logical, attribute = _getatt_args(arg)
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
