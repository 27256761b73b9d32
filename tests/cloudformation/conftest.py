"""Fixtures of the template tests: the repository's own template rules (policies/datalake_rules.py), and
the templates resolved with changed parameters."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys

import pytest

from energy_datalake import config, templates

RULES_FILE = config.REPO_ROOT / "policies" / "datalake_rules.py"


@pytest.fixture(scope="session")
def rules():
    spec = importlib.util.spec_from_file_location("datalake_rules", RULES_FILE)
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve the module's annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def resolve_with(tmp_path):
    """``resolve_with(env="dev", **values)``: the templates resolved with some of the environment's
    parameters changed, from a private copy of cloudformation/."""

    def resolve(env_name: str = "dev", **values) -> templates.Environment:
        directory = tmp_path / "cloudformation"
        if not directory.exists():
            shutil.copytree(config.CLOUDFORMATION_DIR, directory)
        params_file = directory / "parameters" / f"{env_name}.json"
        params = {p["ParameterKey"]: p["ParameterValue"] for p in json.loads(params_file.read_text())}
        params.update(values)
        entries = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()]
        params_file.write_text(json.dumps(entries))
        return templates.load(env_name, directory)

    return resolve
