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

The templates are evaluated by ``energy_datalake.template_evaluator`` (intrinsic functions, conditions,
rules, deploy order), the way CloudFormation would with the environment's parameters; this module is the lake's
view of the result.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energy_datalake import config
from energy_datalake.template_evaluator import (  # noqa: F401 (decode, read_parameters... are part of this API)
    METADATA_KEY,
    PSEUDO_PARAMETERS,
    Resolver,
    capabilities,
    decode,
    deploy_order,
    getatt_args,
    parameters,
    read_parameters,
    resolve_template,
    template_paths,
    transforms,
)

# The tag that names the persona (or "etl") an IAM role stands for in the Lake Formation grants.
PRINCIPAL_TAG = "datalake:principal"
# The principal of the Athena checks: the orchestrator's role and its workgroup carry it.
QUALITY_GATE = "quality-gate"


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

    @property
    def script(self) -> str:
        """The entry script it runs, ``glue_jobs/<script>.py`` (the file name of its ScriptLocation)."""
        return self.script_location.rsplit("/", 1)[-1].removesuffix(".py")


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

    def job_running(self, script: str) -> GlueJob | None:
        """The Glue job whose entry script is ``glue_jobs/<script>.py``; None when the environment has none
        (the warehouse disabled); an error when several would run it."""
        matches = [job for job in self.jobs.values() if job.script == script]
        if len(matches) > 1:
            raise LookupError(f"several Glue jobs run {script}.py: {', '.join(j.name for j in matches)}")
        return matches[0] if matches else None

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
        schema = self.metadata["warehouse"].get(METADATA_KEY, {}).get("WarehouseSchema")
        return {"schema": schema, "database": parameters["WarehouseDatabase"]}

    def _principal_of(self, stem: str, resource: dict) -> str:
        identifier = resource["Source"]["Properties"]["Principal"]["DataLakePrincipalIdentifier"]
        if not (isinstance(identifier, dict) and "Fn::GetAtt" in identifier):
            raise ValueError(
                f"{stem}: a Lake Formation grant must name a role of its template (GetAtt Role.Arn)"
            )
        logical = getatt_args(identifier["Fn::GetAtt"])[0]
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
    templates = {path.stem: (path, decode(path)) for path, _ in files}
    values = read_parameters(params_file)
    undeclared = set(values) - {k for _, t in templates.values() for k in t.get("Parameters", {})}
    if undeclared:
        raise ValueError(f"{params_file.name}: no template declares {', '.join(sorted(undeclared))}")

    exports: dict[str, Any] = {}
    resolved: dict[str, dict[str, dict]] = {}
    stacks: list[Stack] = []
    for stem in deploy_order(templates, values):
        path, template = templates[stem]
        resolver = Resolver(stem, template, parameters(stem, template, values), exports)
        resolver.check_rules()
        resolved[stem] = resolver.resources()
        exports.update(resolver.exports())
        stacks.append(
            Stack(
                resolver.stack_name,
                path,
                resolver.cli_parameters,
                capabilities(template),
                transforms(template),
            )
        )
    metadata = {stem: dict(t.get("Metadata", {})) for stem, (_, t) in templates.items()}
    return Environment(env, values, stacks, resolved, metadata)
