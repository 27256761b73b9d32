"""``deploy_stacks`` on the local target: validate the templates, then provision what they declare.

The CloudFormation templates stay the single source of truth: the lake folders, catalog databases,
crawlers, Glue jobs (with their default arguments), Athena workgroups and Lake Formation grants provisioned
here are read from them, and the warehouse schema is created in the embedded PostgreSQL. Like a change
set without changes, a deploy whose templates, parameters and warehouse DDL hash to the last deployed
value does nothing. A template that passed cfn-lint is not linted again until its content, the lint
configuration or cfn-lint's version changes: the verdicts are kept per user, not per lake
(``lint_cache()``), so a new ``$DATALAKE_HOME`` or checkout with the same templates does not lint them again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from energy_datalake import config
from energy_datalake.files import write_json

# What a deploy provisions from: a change in any of these is a change to deploy.
WAREHOUSE_DDL = config.GLUE_JOBS_DIR / "lib" / "warehouse.py"
LAKE_ZONES = ("raw", "processed", "curated")


class TemplateValidationError(ValueError):
    """cfn-lint found errors; the message lists them with file, line and rule."""


@dataclass
class DeployResult:
    changed: bool
    fingerprint: str
    templates: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    provisioned: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """What the task returns (XCom): small and JSON-serialisable."""
        return {
            "changed": self.changed,
            "fingerprint": self.fingerprint,
            "warnings": len(self.warnings),
            **{kind: len(items) for kind, items in self.provisioned.items()},
        }


def deploy_stacks(env: str | None = None, *, force: bool = False) -> DeployResult:
    env = env or config.environment()
    fingerprint = source_fingerprint(env)
    state_file = deploy_dir() / "state.json"
    if not force and _read_json(state_file).get(env, {}).get("fingerprint") == fingerprint:
        print(f"deploy_stacks: nothing changed since the last deploy ({fingerprint[:12]}); no-op")
        return DeployResult(changed=False, fingerprint=fingerprint)

    templates = template_files()
    warnings = validate_templates(templates, cache=lint_cache())
    for warning in warnings:
        print(f"cfn-lint warning: {warning}")
    provisioned = provision(env)
    state = _read_json(state_file)
    state[env] = {"fingerprint": fingerprint, "deployed_at": datetime.now(UTC).isoformat()}
    _write_json(state_file, state)
    print(
        f"deploy_stacks: validated {len(templates)} template(s); provisioned "
        + ", ".join(f"{len(items)} {kind}" for kind, items in provisioned.items())
    )
    return DeployResult(True, fingerprint, [str(t) for t in templates], warnings, provisioned)


def deploy_dir() -> Path:
    return config.home() / "deploy"


def template_files() -> list[Path]:
    from energy_datalake.templates import template_paths

    return list(template_paths(config.CLOUDFORMATION_DIR))


def parameter_files() -> list[Path]:
    return sorted((config.CLOUDFORMATION_DIR / "parameters").glob("*.json"))


def source_fingerprint(env: str) -> str:
    digest = hashlib.sha256(env.encode())
    for path in [*template_files(), *parameter_files(), WAREHOUSE_DDL]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def validate_templates(paths: list[Path], cache: Path | None = None) -> list[str]:
    """cfn-lint (as a library) over each template; raise on errors, return warnings.

    With a ``cache`` file, a template whose lint key (``lint_key``) passed before is not linted again: its
    warnings then come from the cache. Only templates without errors are remembered, the
    ``LINT_CACHE_ENTRIES`` most recently linted (the cache is shared by every lake and checkout of the user);
    a cache that does not read is started afresh."""
    regions = lint_regions()
    known = _read_lint_cache(cache) if cache else {}
    errors, warnings, passed = [], [], {}
    for path in paths:
        key = lint_key(path, regions)
        found = known[key] if key in known else _lint(path, regions)
        if not found["errors"]:
            passed[key] = {"errors": [], "warnings": found["warnings"]}
        errors += found["errors"]
        warnings += found["warnings"]
    if cache and any(key not in known for key in passed):
        linted = datetime.now(UTC).isoformat()
        new = {key: {**found, "linted": linted} for key, found in passed.items() if key not in known}
        merged = {**known, **new}
        recent = sorted(merged, key=lambda key: merged[key].get("linted", ""), reverse=True)
        _write_json(cache, {key: merged[key] for key in recent[:LINT_CACHE_ENTRIES]})
    if errors:
        raise TemplateValidationError(
            f"cfn-lint found {len(errors)} error(s) in the templates:\n" + "\n".join(errors)
        )
    return warnings


def lint_cache() -> Path:
    """Where the deploys of this user keep the cfn-lint verdicts: ``$DATALAKE_LINT_CACHE``, else
    ``energy-datalake/cfn-lint.json`` in ``$XDG_CACHE_HOME`` (default ``~/.cache``). A verdict depends on
    nothing but its key (``lint_key``), so any lake may reuse it."""
    if os.environ.get(LINT_CACHE_ENV):
        return Path(os.environ[LINT_CACHE_ENV])
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "energy-datalake" / "cfn-lint.json"


LINT_CACHE_ENV = "DATALAKE_LINT_CACHE"
LINT_CACHE_ENTRIES = 200


def _read_lint_cache(path: Path) -> dict:
    try:
        cached = _read_json(path)
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _lint(path: Path, regions: list[str]) -> dict[str, list[str]]:
    from cfnlint.api import ManualArgs, lint

    found: dict[str, list[str]] = {"errors": [], "warnings": []}
    for match in lint(path.read_text(), config=ManualArgs(regions=regions)):
        line = f"{path.name}:{match.linenumber} {match.rule.id} {match.message}"
        severity = match.rule.severity.lower()
        if severity in ("error", "warning"):
            found[f"{severity}s"].append(line)
    return found


def lint_key(path: Path, regions: list[str]) -> str:
    """What a template's lint result depends on: its name (the messages carry it) and content, the regions,
    the lint config file and cfn-lint's version."""
    from importlib.metadata import version

    rc = config.REPO_ROOT / ".cfnlintrc.yaml"
    digest = hashlib.sha256(json.dumps([version("cfn-lint"), regions, path.name]).encode())
    digest.update(rc.read_bytes() if rc.exists() else b"")
    digest.update(path.read_bytes())
    return digest.hexdigest()


def lint_regions() -> list[str]:
    """The regions of the project's .cfnlintrc.yaml, so the deploy lints like `cfn-lint` in CI."""
    import yaml

    rc = config.REPO_ROOT / ".cfnlintrc.yaml"
    regions = (yaml.safe_load(rc.read_text()) or {}).get("regions") if rc.exists() else None
    return list(regions or ["us-east-1"])


def provision(env: str) -> dict[str, list]:
    """Create the local equivalents of the templates' resources; every step is idempotent."""
    from energy_datalake import templates
    from energy_datalake.emulator.glue_catalog import Catalog
    from energy_datalake.emulator.redshift import Warehouse

    declared = templates.load(env)
    folders = lake_folders(declared)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    catalog = Catalog()
    for name, database in declared.databases.items():
        catalog.create_database(name, database.get("Description", ""), database.get("LocationUri"))
    # Crawlers, jobs, workgroups and grants need nothing provisioned: the local crawler, Glue runner and query
    # engine read them from the templates when they run, as AWS reads them from the deployed resources.
    control_plane = {
        "crawlers": sorted(declared.crawlers),
        "jobs": sorted(declared.jobs),
        "workgroups": sorted(declared.workgroups),
        "grants": [f"{g.principal}:{g.database}.{g.table or '*'}" for g in declared.grants],
    }
    warehouse = Warehouse()
    warehouse.start()
    warehouse.ensure_schema()
    return {
        "folders": [str(f) for f in folders],
        "databases": sorted(declared.databases),
        **control_plane,
        "warehouse schemas": [declared.warehouse.get("schema", "energy")],
    }


def lake_folders(declared) -> list[Path]:
    """A folder per bucket, one per zone of the lake bucket, and each database's location."""
    folders = {config.s3_root() / bucket for bucket in declared.buckets.values()}
    folders |= {config.s3_root() / declared.lake_bucket / zone for zone in LAKE_ZONES}
    folders |= {
        config.local_path(d["LocationUri"]) for d in declared.databases.values() if d.get("LocationUri")
    }
    return sorted(folders)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _write_json(path: Path, value) -> None:
    # A deploy killed mid-write never leaves a truncated state file.
    write_json(path, value, indent=2, sort_keys=True, default=str)
