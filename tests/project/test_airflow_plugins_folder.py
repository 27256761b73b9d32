"""The checkout's plugins folder under Airflow's plugin loader, as every local Airflow process loads it."""

from __future__ import annotations

import json
import subprocess
import sys

from energy_datalake import airflow_env, config

# Run in a fresh interpreter: the loader puts what it executes into sys.modules.
PROBE = """
import json, sys
from pathlib import Path
from airflow import plugins_manager
folder = Path(sys.argv[1]).resolve()
plugins_manager.ensure_plugins_loaded()
get_errors = getattr(plugins_manager, "get_import_errors", None)
errors = get_errors() if get_errors else plugins_manager.import_errors
executed = sorted(
    name
    for name, module in list(sys.modules.items())
    if folder in Path(getattr(module, "__file__", None) or "/").resolve().parents
)
print(json.dumps({"executed": executed, "errors": {str(k): str(v) for k, v in errors.items()}}))
"""


def test_airflow_executes_no_module_of_the_plugins_folder(datalake_home):
    # Without plugins/.airflowignore every local Airflow process that loads its plugins runs all of
    # energy_datalake as top-level modules named config, cli, spark, ... (pyspark, boto3 and pyarrow imported
    # with them), shadowing any library module of the same name.
    env = airflow_env.airflow_environ()
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(config.REPO_ROOT / "plugins")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"executed": [], "errors": {}}
