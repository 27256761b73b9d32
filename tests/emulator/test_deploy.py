"""deploy_stacks on the local target: templates validated, their resources provisioned, a no-op when unchanged."""

from __future__ import annotations

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
