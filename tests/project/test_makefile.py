"""`make help`, the list a newcomer reads first: every target with its text, values rather than make syntax."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from energy_datalake import config


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_help_lists_the_targets_with_the_lakes_folder_spelled_out(tmp_path):
    home = tmp_path / "lake-home"
    result = subprocess.run(
        ["make", "-s", "-C", str(config.REPO_ROOT), "help", f"DATALAKE_HOME={home}"],
        capture_output=True,
        text=True,
        check=True,
    )
    targets = [line.split()[0].replace("\x1b[36m", "") for line in result.stdout.splitlines()]
    assert {"run", "test", "test-fast", "ui", "bench", "clean"} <= set(targets)
    assert f"password in {home}/airflow" in result.stdout
    assert f"Remove the local lake state ({home})" in result.stdout
    assert "$(" not in result.stdout
