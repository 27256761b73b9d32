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


@pytest.fixture
def templates_dir(tmp_path, monkeypatch):
    """A private copy of cloudformation/ so a test can change a template or a parameter."""
    copy = tmp_path / "cloudformation"
    shutil.copytree(config.CLOUDFORMATION_DIR, copy)
    monkeypatch.setattr(config, "CLOUDFORMATION_DIR", copy)
    return copy


def test_fingerprint_follows_templates_parameters_and_environment(templates_dir):
    first = cloudformation.source_fingerprint("dev")
    assert cloudformation.source_fingerprint("dev") == first
    assert cloudformation.source_fingerprint("prod") != first
    params = templates_dir / "parameters" / "dev.json"
    params.write_text(params.read_text() + "\n")
    assert cloudformation.source_fingerprint("dev") != first


def test_an_invalid_template_is_refused_naming_file_line_and_rule(tmp_path):
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
    bad = tmp_path / "broken.yaml"
    bad.write_text(BAD_TEMPLATE)
    cache = tmp_path / "lint.json"
    for _ in range(2):
        with pytest.raises(cloudformation.TemplateValidationError, match="BucketNam"):
            cloudformation.validate_templates([bad], cache=cache)
    assert lint_runs == ["broken.yaml", "broken.yaml"]


def test_the_lint_key_follows_regions_lint_config_and_cfn_lint_version(tmp_path, monkeypatch):
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
        assert len(first.provisioned["grants"]) == len(declared.grants)
        assert sorted(p.name for p in (datalake_home / "deploy").iterdir()) == ["state.json"]
        with Warehouse().connect() as conn:
            schemas = [r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")]
        assert "energy" in schemas

        second = cloudformation.deploy_stacks()
        assert not second.changed and second.fingerprint == first.fingerprint
        assert cloudformation.deploy_stacks(force=True).changed
    finally:
        Warehouse().stop()
