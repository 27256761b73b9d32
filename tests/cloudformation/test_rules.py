"""Our template rules (policies/datalake_rules.py): the templates pass them, each known-bad template fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from energy_datalake import config, templates

BAD = Path(__file__).parent / "bad"
BAD_TEMPLATES = sorted(BAD.glob("*.yaml"))
TEMPLATES = [*templates.template_paths(), *sorted((config.CLOUDFORMATION_DIR / "bootstrap").glob("*.yaml"))]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_the_templates_pass_every_rule(rules, path):
    assert [str(f) for f in rules.check_file(path)] == []


@pytest.mark.parametrize("path", BAD_TEMPLATES, ids=lambda p: p.stem)
def test_a_known_bad_template_is_rejected_by_its_rule(rules, path):
    rule_id = path.stem.split("__")[0]
    assert rule_id in rules.RULES, f"{path.name} names no rule"
    found = {f.rule for f in rules.check_file(path)}
    assert rule_id in found, f"{rule_id} accepted {path.name}"


def test_every_rule_has_a_known_bad_template(rules):
    proven = {p.stem.split("__")[0] for p in BAD_TEMPLATES}
    assert set(rules.RULES) - proven == set()


def test_a_skip_needs_a_reason_and_then_holds(rules):
    bad = rules.check_file(BAD / "S3_SSE_KMS__skip_without_reason.yaml")
    assert {f.rule for f in bad} >= {"SKIP_WITHOUT_REASON", "S3_SSE_KMS"}
    security = templates.decode(templates.template_paths()[0].parent / "security.yaml")
    bucket = security["Resources"]["AccessLogsBucket"]
    assert (
        bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]["SSEAlgorithm"]
        == "AES256"
    )
    assert "S3_SSE_KMS" not in {f.rule for f in rules.check_template(security)}


def test_the_personal_columns_come_from_the_contract(rules):
    assert {"clients": {"tax_id", "full_name", "email"}} == rules.PERSONAL_COLUMNS


@pytest.mark.parametrize(
    "fixture, message",
    [
        ("quality_gate_raw_record", "personal columns not excluded: ['raw_record']"),
        ("quality_gate_quarantine_every_column", "processed.quarantine granted with every column"),
        ("quality_gate_email", "personal columns not excluded: ['email']"),
        ("quality_gate_grant_option", "quality-gate may not pass its permissions on"),
        ("persona_quarantine_without_raw_record", "processed.quarantine holds personal data in raw_record"),
    ],
)
def test_the_quality_gate_reads_the_quarantine_only_without_raw_record(rules, fixture, message):
    findings = rules.check_file(BAD / f"LF_PERSONAL_DATA__{fixture}.yaml")
    assert [f.message for f in findings] == [message]


def test_the_quality_gates_quarantine_grant_passes_with_raw_record_cut_out(rules):
    orchestration = templates.decode(config.CLOUDFORMATION_DIR / "orchestration.yaml")
    grant = orchestration["Resources"]["QualityGateProcessedQuarantineGrant"]
    excluded = grant["Properties"]["Resource"]["TableWithColumns"]["ColumnWildcard"]["ExcludedColumnNames"]
    assert excluded == ["raw_record"]
    assert rules.check_template(orchestration) == []
