"""The stock tools on the templates: cfn-lint (informational checks on) and checkov, both with zero findings."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from energy_datalake import config, templates

# The stacks' templates and the bootstrap one (the deploy role), checked alike.
TEMPLATES = [*templates.template_paths(), *sorted((config.CLOUDFORMATION_DIR / "bootstrap").glob("*.yaml"))]


@pytest.fixture(scope="module")
def cfn_lint_findings():
    from cfnlint.api import ManualArgs, lint

    settings = ManualArgs(include_checks=["I"], regions=["eu-west-1"])
    return {
        p.name: [
            f"{m.rule.id} {m.message} (line {m.linenumber})" for m in lint(p.read_text(), config=settings)
        ]
        for p in TEMPLATES
    }


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_with_informational_checks_finds_nothing(cfn_lint_findings, path):
    assert cfn_lint_findings[path.name] == []


def test_cfn_lint_sees_a_broken_template(tmp_path):
    from cfnlint.api import ManualArgs, lint

    broken = (
        (config.CLOUDFORMATION_DIR / "storage.yaml")
        .read_text()
        .replace("SSEAlgorithm: aws:kms", "SSEAlgorithm: aws:kmz")
    )
    found = {m.rule.id for m in lint(broken, config=ManualArgs(include_checks=["I"], regions=["eu-west-1"]))}
    assert "E3030" in found


def _checkov() -> str:
    path = os.environ.get("CHECKOV") or str(config.REPO_ROOT / ".venv-checkov" / "bin" / "checkov")
    if not os.access(path, os.X_OK):
        pytest.fail(f"checkov not found at {path}: run `make checkov-venv`")
    return path


@pytest.fixture(scope="session")
def checkov_report():
    result = subprocess.run(
        [
            _checkov(),
            "-d",
            str(config.CLOUDFORMATION_DIR),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=config.REPO_ROOT,
    )
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    return (
        report
        if isinstance(report, dict)
        else {"results": {}, "summary": {"failed": sum(r["summary"]["failed"] for r in report)}}
    )


def test_checkov_finds_no_failed_check(checkov_report):
    failed = [
        f"{c['check_id']} {c['check_name']} {c['file_path']} {c['resource']}"
        for c in checkov_report.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    assert checkov_report["summary"]["failed"] == 0
    assert checkov_report["summary"]["passed"] > 100


def test_checkov_checks_every_template_the_bootstrap_one_included(checkov_report):
    checked = {c["file_path"].lstrip("/") for c in checkov_report["results"]["passed_checks"]}
    expected = {str(p.relative_to(config.CLOUDFORMATION_DIR)) for p in TEMPLATES}
    assert expected - checked == set()


def checkov_skips_without_reason(template: dict, name: str) -> list[str]:
    return [
        f"{name} {logical}: skip {skip.get('id')} has no comment"
        for logical, resource in template.get("Resources", {}).items()
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
        if not str(skip.get("comment", "")).strip()
    ]


def cfn_lint_ignores_without_reason(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    return [
        f"{name}:{i + 1}: ignore without a reason above it"
        for i, line in enumerate(lines)
        if re.search(r"ignore_checks|ignore_templates", line)
        and not (i > 0 and lines[i - 1].strip().startswith("#"))
    ]


def test_every_checkov_skip_carries_its_reason():
    found = [p for path in TEMPLATES for p in checkov_skips_without_reason(templates.decode(path), path.name)]
    assert found == []


def test_a_checkov_skip_without_a_comment_is_found():
    # Today no template skips a check: without this the test above could never fail.
    resource = {
        "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_18", "comment": "why"}, {"id": "CKV_AWS_21"}]}}
    }
    assert checkov_skips_without_reason({"Resources": {"Bucket": resource}}, "t.yaml") == [
        "t.yaml Bucket: skip CKV_AWS_21 has no comment"
    ]


def test_every_cfn_lint_ignore_carries_its_reason():
    paths = [*TEMPLATES, config.REPO_ROOT / ".cfnlintrc.yaml"]
    assert [p for path in paths for p in cfn_lint_ignores_without_reason(path.read_text(), path.name)] == []


def test_a_cfn_lint_ignore_without_a_reason_above_it_is_found():
    text = "# W3005: the explicit DependsOn orders the deletion\nignore_checks:\n  - W3005\nx: 1\nignore_templates: []\n"
    assert cfn_lint_ignores_without_reason(text, ".cfnlintrc.yaml") == [
        ".cfnlintrc.yaml:5: ignore without a reason above it"
    ]
