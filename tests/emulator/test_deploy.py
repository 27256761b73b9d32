"""deploy_stacks on the local target: templates validated, their resources provisioned, a no-op when unchanged."""

from __future__ import annotations

import importlib.metadata
import shutil

import pytest

from energy_datalake import config, templates
from energy_datalake.emulator import cloudformation

BAD_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Lake:
    Type: AWS::S3::Bucket
    Properties:
      BucketNam: typo-in-the-property-name
"""


WARNING_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Unused:
    Type: String
Resources:
  Lake:
    Type: AWS::S3::Bucket
"""


# docs/design.md §7: what each principal may read, as {(database, table or None = every table): the columns
# it may not read}. Locally the ETL roles (jobs, crawlers) are the one principal "etl".
CURATED = {("curated", None): set()}
PERSONA_PROCESSED = {
    ("processed", "providers"): set(),
    ("processed", "transactions"): set(),
    ("processed", "load_manifest"): set(),
    ("processed", "clients"): {"tax_id", "full_name", "email"},
}
ACCESS_MODEL = {
    "reporting": CURATED,
    "analysts": {**CURATED, **PERSONA_PROCESSED},
    "data-science": {**CURATED, **PERSONA_PROCESSED},
    "quality-gate": {**CURATED, **PERSONA_PROCESSED, ("processed", "quarantine"): {"raw_record"}},
    "etl": {("raw", None): set(), ("processed", None): set(), ("curated", None): set()},
}
PROVISIONED_GRANTS = [
    f"{principal}:{database}.{table or '*'}"
    for principal, readable in ACCESS_MODEL.items()
    for database, table in readable
]
WRITES = {"INSERT", "DELETE", "ALTER", "DROP", "CREATE_TABLE", "ALL"}


def read_access(grants) -> dict[str, dict[tuple[str, str | None], set[str]]]:
    """{principal: {(database, table): excluded columns}} of the grants that let a principal SELECT."""
    access: dict[str, dict[tuple[str, str | None], set[str]]] = {}
    for grant in grants:
        if "SELECT" in grant.permissions or "ALL" in grant.permissions:
            assert grant.columns is None, f"{grant}: a column list grant, the model has none"
            access.setdefault(grant.principal, {})[(grant.database, grant.table)] = set(
                grant.excluded_columns
            )
    return access


def test_the_grants_the_local_engine_enforces_are_the_access_model():
    # Catches a wrong grant in the templates (a persona reading the quarantine or raw, the clients' personal
    # columns unmasked, the gate losing a table its checks read): the local engine and Lake Formation both
    # enforce exactly these.
    declared = templates.load()
    assert read_access(declared.grants) == ACCESS_MODEL
    # Every workgroup queries as a principal of the model; the ETL principal has no workgroup.
    assert {w.principal for w in declared.workgroups.values()} == set(ACCESS_MODEL) - {"etl"}


def test_only_the_etl_principal_may_write():
    # Catches a persona or the quality gate granted INSERT/ALTER/DROP: it could change the lake it reads.
    declared = templates.load()
    writers = {g.principal for g in declared.grants if WRITES & set(g.permissions)}
    assert writers == {"etl"}
    assert {(g.database, g.table) for g in declared.grants if WRITES & set(g.permissions)} == {
        ("raw", None),
        ("processed", None),
        ("curated", None),
    }


@pytest.fixture
def templates_dir(tmp_path, monkeypatch):
    """A private copy of cloudformation/ so a test can change a template or a parameter."""
    copy = tmp_path / "cloudformation"
    shutil.copytree(config.CLOUDFORMATION_DIR, copy)
    monkeypatch.setattr(config, "CLOUDFORMATION_DIR", copy)
    return copy


def test_fingerprint_follows_templates_parameters_and_environment(templates_dir):
    # Catches a changed template or parameter file deployed as a no-op (the old resources kept).
    first = cloudformation.source_fingerprint("dev")
    assert cloudformation.source_fingerprint("dev") == first
    assert cloudformation.source_fingerprint("prod") != first
    params = templates_dir / "parameters" / "dev.json"
    params.write_text(params.read_text() + "\n")
    assert cloudformation.source_fingerprint("dev") != first


def test_an_invalid_template_is_refused_naming_file_line_and_rule(tmp_path):
    # Catches a broken template deployed locally that AWS would refuse, or an error that does not say where.
    bad = tmp_path / "broken.yaml"
    bad.write_text(BAD_TEMPLATE)
    with pytest.raises(cloudformation.TemplateValidationError, match=r"broken.yaml:\d+ E\d+ .*BucketNam"):
        cloudformation.validate_templates([bad])


@pytest.fixture
def lint_runs(monkeypatch) -> list[str]:
    """The templates cfn-lint really lints, in order."""
    linted: list[str] = []
    lint = cloudformation._lint

    def counted(path, regions):
        linted.append(path.name)
        return lint(path, regions)

    monkeypatch.setattr(cloudformation, "_lint", counted)
    return linted


def test_a_template_that_passed_is_not_linted_again_until_it_changes(tmp_path, lint_runs):
    # Catches a lint cache that skips a changed template, or lints an unchanged one on every deploy.
    template, other = tmp_path / "warns.yaml", tmp_path / "other.yaml"
    template.write_text(WARNING_TEMPLATE)
    other.write_text(WARNING_TEMPLATE.replace("Unused", "AlsoUnused"))
    cache = tmp_path / "lint.json"

    first = cloudformation.validate_templates([template, other], cache=cache)
    assert lint_runs == ["warns.yaml", "other.yaml"]
    assert [w.split()[:2] for w in first] == [["warns.yaml:4", "W2001"], ["other.yaml:4", "W2001"]]
    # Unchanged: the warnings come back without a lint.
    assert cloudformation.validate_templates([template, other], cache=cache) == first
    assert lint_runs == ["warns.yaml", "other.yaml"]

    template.write_text(WARNING_TEMPLATE + "# a comment changes the content\n")
    assert cloudformation.validate_templates([template, other], cache=cache) == first
    assert lint_runs == ["warns.yaml", "other.yaml", "warns.yaml"]


def test_the_verdicts_are_the_users_so_a_new_lake_does_not_lint_again(tmp_path, monkeypatch, lint_runs):
    # Catches a lint cache kept per lake (every new lake pays the lint) or a corrupt cache failing a deploy.
    template = tmp_path / "warns.yaml"
    template.write_text(WARNING_TEMPLATE)
    monkeypatch.delenv(cloudformation.LINT_CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = cloudformation.lint_cache()
    assert cache == tmp_path / "cache" / "energy-datalake" / "cfn-lint.json"
    monkeypatch.setenv(cloudformation.LINT_CACHE_ENV, str(tmp_path / "elsewhere.json"))
    assert cloudformation.lint_cache() == tmp_path / "elsewhere.json"

    # Two lakes (two deploys) with the same template: one lint.
    for _ in ("first lake", "second lake"):
        cloudformation.validate_templates([template], cache=cloudformation.lint_cache())
    assert lint_runs == ["warns.yaml"]
    # A cache that does not read is started afresh, not a failed deploy.
    cloudformation.lint_cache().write_text("{not json")
    assert cloudformation.validate_templates([template], cache=cloudformation.lint_cache())
    assert lint_runs == ["warns.yaml", "warns.yaml"]


def test_a_template_with_errors_is_linted_every_time(tmp_path, lint_runs):
    # Catches a failed verdict cached: a fixed template would stay refused, a broken one pass.
    bad = tmp_path / "broken.yaml"
    bad.write_text(BAD_TEMPLATE)
    cache = tmp_path / "lint.json"
    for _ in range(2):
        with pytest.raises(cloudformation.TemplateValidationError, match="BucketNam"):
            cloudformation.validate_templates([bad], cache=cache)
    assert lint_runs == ["broken.yaml", "broken.yaml"]


def test_the_lint_key_follows_regions_lint_config_and_cfn_lint_version(tmp_path, monkeypatch):
    # Catches a cached verdict reused after the regions, the lint rules or cfn-lint itself changed.
    template = tmp_path / "warns.yaml"
    template.write_text(WARNING_TEMPLATE)
    key = cloudformation.lint_key(template, ["eu-west-1"])
    assert cloudformation.lint_key(template, ["eu-west-1"]) == key
    assert cloudformation.lint_key(template, ["us-east-1"]) != key

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".cfnlintrc.yaml").write_text(
        (config.REPO_ROOT / ".cfnlintrc.yaml").read_text() + "ignore_checks: [W2001]\n"
    )
    with monkeypatch.context() as patch:
        patch.setattr(config, "REPO_ROOT", repo)
        assert cloudformation.lint_key(template, ["eu-west-1"]) != key

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "999.0.0")
    assert cloudformation.lint_key(template, ["eu-west-1"]) != key


@pytest.mark.slow
def test_deploy_provisions_what_the_templates_declare_then_is_a_no_op(datalake_home):
    # Catches a deploy that provisions less (or other) than the templates declare, or redoes an unchanged one.
    from energy_datalake.emulator.glue_catalog import Catalog
    from energy_datalake.emulator.redshift import Warehouse

    declared = templates.load()
    try:
        first = cloudformation.deploy_stacks()
        assert first.changed
        for bucket in declared.buckets.values():
            assert (datalake_home / "s3" / bucket).is_dir()
        for zone in ("raw", "processed", "curated"):
            assert (datalake_home / "s3" / declared.lake_bucket / zone).is_dir()
        assert {d["Name"] for d in Catalog().get_databases()} == set(declared.databases)
        # What the local stand-ins read from the templates at run time; no copy of it is written.
        assert first.provisioned["jobs"] == sorted(declared.jobs)
        assert first.provisioned["crawlers"] == sorted(declared.crawlers)
        assert templates.QUALITY_GATE in first.provisioned["workgroups"]
        # Catches a deploy that provisions other grants than the access model (a persona on the quarantine,
        # the quality gate on raw): the exact set of principal:database.table it lists.
        assert sorted(set(first.provisioned["grants"])) == sorted(PROVISIONED_GRANTS)
        assert sorted(p.name for p in (datalake_home / "deploy").iterdir()) == ["state.json"]
        with Warehouse().connect() as conn:
            schemas = [r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")]
        assert "energy" in schemas

        second = cloudformation.deploy_stacks()
        assert not second.changed and second.fingerprint == first.fingerprint
        assert cloudformation.deploy_stacks(force=True).changed
    finally:
        Warehouse().stop()
