"""The Glue code the deploy uploads: a deterministic zip, a content version, an upload that skips what is there."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from energy_datalake.aws import glue_code

REGION = "eu-west-1"
BUCKET = "energy-trading-datalake-dev-glue-scripts"


@pytest.fixture
def package(tmp_path) -> Path:
    """A copy of the glue_jobs package, with the clutter a working tree has (caches, tests)."""
    copy = tmp_path / "glue_jobs"
    shutil.copytree(glue_code.package_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "lib" / "__pycache__").mkdir()
    (copy / "lib" / "__pycache__" / "contract.cpython-311.pyc").write_bytes(b"\x00compiled")
    (copy / "lib" / "tests").mkdir()
    (copy / "lib" / "tests" / "test_contract.py").write_text("def test(): pass\n")
    (copy / "lib" / "test_local.py").write_text("def test(): pass\n")
    return copy


def test_the_zip_holds_the_library_only_in_a_fixed_order():
    names = zipfile.ZipFile(BytesIO(glue_code.build().archive)).namelist()
    assert names == sorted(names)
    assert {"glue_jobs/__init__.py", "glue_jobs/runtime.py", "glue_jobs/lib/__init__.py"} <= set(names)
    expected = {f"glue_jobs/lib/{p.name}" for p in (glue_code.package_dir() / "lib").glob("*.py")}
    assert expected <= set(names)
    assert not [n for n in names if n.removeprefix("glue_jobs/") in glue_code.SCRIPTS]


def test_the_same_code_gives_the_same_bytes_and_version_whatever_the_clutter_and_mtimes(package):
    original = glue_code.build()
    assert glue_code.build() == original
    for path in package.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    copied = glue_code.build(package)
    assert copied.archive == original.archive
    assert copied.version == original.version
    names = zipfile.ZipFile(BytesIO(copied.archive)).namelist()
    assert not [n for n in names if "__pycache__" in n or "/tests/" in n or "/test_" in n]
    assert len(original.version) == 16 and int(original.version, 16) >= 0


def test_a_changed_library_file_or_script_changes_the_version(package):
    before = glue_code.build(package)
    contract = package / "lib" / "contract.py"
    contract.write_text(contract.read_text() + "\n# changed\n")
    after_lib = glue_code.build(package)
    assert after_lib.version != before.version and after_lib.archive != before.archive
    script = package / "curated_to_redshift.py"
    script.write_text(script.read_text() + "\n# changed\n")
    after_script = glue_code.build(package)
    assert after_script.version != after_lib.version and after_script.archive == after_lib.archive


def test_a_package_without_an_entry_script_is_refused_naming_it(package):
    (package / "processed_to_curated.py").unlink()
    with pytest.raises(FileNotFoundError, match="processed_to_curated.py"):
        glue_code.build(package)


def test_the_zip_alone_carries_every_module_the_entry_scripts_import(tmp_path):
    code = glue_code.build()
    archive = tmp_path / "glue_jobs.zip"
    archive.write_bytes(code.archive)
    modules = {
        name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for name in zipfile.ZipFile(archive).namelist()
    }
    for script in glue_code.SCRIPTS:
        tree = ast.parse(code.scripts[script])
        modules |= {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("glue_jobs")
        }
    probe = (
        "import importlib, sys; sys.path.insert(0, sys.argv[1]); "
        "[importlib.import_module(m) for m in sys.argv[2:]]; "
        "import glue_jobs; print(glue_jobs.__file__)"
    )
    # -I: neither the checkout (cwd) nor PYTHONPATH is on the path, only the zip and site-packages.
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(archive), *sorted(modules)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(archive))


def test_upload_puts_four_objects_once_and_nothing_when_unchanged(aws_credentials):
    code = glue_code.build()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        logged = []
        first = glue_code.upload(s3, BUCKET, code, log=logged.append)
        expected = {f"glue_jobs/{code.version}/{name}" for name in (*glue_code.SCRIPTS, "glue_jobs.zip")}
        assert set(first) == expected
        for key in expected:
            name = key.rsplit("/", 1)[-1]
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            assert body == (code.archive if name == "glue_jobs.zip" else code.scripts[name])
        assert glue_code.upload(s3, BUCKET, code, log=logged.append) == []
        assert "already in" in logged[-1]
        listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
        assert {o["Key"] for o in listed} == expected


def test_a_denied_existence_check_is_an_error_naming_the_permission(aws_credentials):
    s3 = boto3.client("s3", region_name=REGION)
    code = glue_code.build()
    with Stubber(s3) as stubber:
        key = glue_code.key(code.version, glue_code.SCRIPTS[0])
        stubber.add_client_error(
            "head_object", "403", "Forbidden", 403, expected_params={"Bucket": BUCKET, "Key": key}
        )
        with pytest.raises(PermissionError, match="s3:ListBucket"):
            glue_code.upload(s3, BUCKET, code)
