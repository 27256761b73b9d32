"""Fixtures of the template tests: the repository's own template rules (policies/datalake_rules.py)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from energy_datalake import config

RULES_FILE = config.REPO_ROOT / "policies" / "datalake_rules.py"


@pytest.fixture(scope="session")
def rules():
    spec = importlib.util.spec_from_file_location("datalake_rules", RULES_FILE)
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve the module's annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
