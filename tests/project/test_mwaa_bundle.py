"""The MWAA bundle: the DAG parses from plugins.zip and dags/ alone, on the Airflow we pin and on Airflow 3.0."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import glue_jobs.lib
from energy_datalake import config, mwaa, templates

CHECKOUT = config.REPO_ROOT
PROBE = Path(__file__).with_name("mwaa_probe.py")
DAG_ID = "energy_datalake_daily"
EXPECTED_ORDER = [
    "deploy_stacks",
    "wait_for_exports",
    "crawl_raw",
    "raw_to_processed",
    "processed_to_curated",
    "refresh_catalog",
    "athena_checks",
    "load_redshift",
]
AIRFLOW30_VENV = CHECKOUT / ".venv-airflow30"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> mwaa.Bundle:
    return mwaa.build(tmp_path_factory.mktemp("dist") / "mwaa")


@pytest.fixture(scope="module")
def names(bundle) -> list[str]:
    with zipfile.ZipFile(bundle.plugins_zip) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def unpacked(bundle, tmp_path_factory) -> Path:
    """plugins.zip unpacked as MWAA does, into the environment's plugins folder."""
    plugins = tmp_path_factory.mktemp("airflow") / "plugins"
    with zipfile.ZipFile(bundle.plugins_zip) as archive:
        archive.extractall(plugins)
    return plugins


def parse_on_mwaa(python: str, bundle: mwaa.Bundle, plugins: Path, workdir: Path) -> dict:
    """Run the probe with ``python`` from outside the checkout, with an environment like MWAA's."""
    probe = workdir / "probe" / PROBE.name
    probe.parent.mkdir(parents=True)
    shutil.copyfile(PROBE, probe)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "AIRFLOW_HOME": str(plugins.parent),
        "AIRFLOW__CORE__DAGS_FOLDER": str(bundle.dags_dir),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "DATALAKE_TARGET": "aws",
        "DATALAKE_ENV": "dev",
    }
    result = subprocess.run(
        [python, "-I", str(probe), str(CHECKOUT), str(plugins), str(bundle.dags_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_parsed_from_the_bundle_alone(seen: dict, bundle: mwaa.Bundle, plugins: Path) -> None:
    assert seen["import_errors"] == {}
    assert Path(seen["dag_file"]).parent == bundle.dags_dir
    assert sorted(seen["downstream"]) == sorted(EXPECTED_ORDER)
    for upstream, downstream in zip(EXPECTED_ORDER, EXPECTED_ORDER[1:], strict=False):
        assert seen["downstream"][upstream] == [downstream]
    assert seen["downstream"]["load_redshift"] == []
    assert seen["timetable"].endswith(".CronDataIntervalTimetable")
    assert seen["warnings_from_our_code"] == []
    assert seen["imported_at_parse"] == []
    # What the aws target's task code imports when it runs, with no local engine installed.
    assert seen["runtime_import_failures"] == []
    assert seen["plugin_import_errors"] == {}
    assert seen["stray_plugin_modules"] == []
    assert {"energy_datalake", "energy_datalake.pipeline.aws", "glue_jobs.lib.contract"} <= set(
        seen["modules"]
    )
    outside = {name: file for name, file in seen["modules"].items() if plugins not in Path(file).parents}
    assert outside == {}
    data = plugins / "energy_datalake" / "_bundle"
    assert seen["config"] == {
        "CLOUDFORMATION_DIR": str(data / "cloudformation"),
        "CHECKS_DIR": str(data / "sql" / "checks"),
        "GLUE_JOBS_DIR": str(plugins / "glue_jobs"),
        "checks.CHECKS_DIR": str(data / "sql" / "checks"),
    }
    assert seen["check_files"] == sorted(p.name for p in config.CHECKS_DIR.glob("*.sql"))
    assert seen["lake_bucket"] == templates.load("dev").lake_bucket


@pytest.mark.slow
def test_dag_parses_from_the_bundle_alone(bundle, unpacked, tmp_path):
    seen = parse_on_mwaa(sys.executable, bundle, unpacked, tmp_path)
    assert_parsed_from_the_bundle_alone(seen, bundle, unpacked)
    # Airflow 3.1 and later: the task SDK's names, never the deprecated paths.
    assert set(seen["compat"].values()) <= {
        "airflow.sdk.exceptions",
        "airflow.sdk.definitions.timetables.interval",
    }


@pytest.mark.slow
def test_dag_parses_from_the_bundle_on_airflow_3_0(bundle, unpacked, tmp_path):
    python = os.environ.get("AIRFLOW30_PYTHON") or str(AIRFLOW30_VENV / "bin" / "python")
    if not Path(python).is_file():
        pytest.fail(
            f"no Airflow 3.0 interpreter at {python}: run `make airflow30-venv` or set AIRFLOW30_PYTHON"
        )
    seen = parse_on_mwaa(python, bundle, unpacked, tmp_path)
    assert seen["airflow"].startswith("3.0."), seen["airflow"]
    assert_parsed_from_the_bundle_alone(seen, bundle, unpacked)
    assert seen["timetable"] == "airflow.timetables.interval.CronDataIntervalTimetable"
    # The classes Airflow 3.0's task runner catches (a retry-less failure, a skip, a sensor timeout).
    assert set(seen["compat"].values()) == {"airflow.exceptions", "airflow.timetables.interval"}


def test_zip_holds_the_data_files_and_the_glue_scripts(names):
    data = "energy_datalake/_bundle"
    cloudformation = {
        path.relative_to(config.CLOUDFORMATION_DIR).as_posix()
        for path in config.CLOUDFORMATION_DIR.rglob("*")
        if path.suffix in (".yaml", ".json")
    }
    assert {"storage.yaml", "etl.yaml", "parameters/dev.json", "parameters/prod.json"} <= cloudformation
    assert {f"{data}/cloudformation/{name}" for name in cloudformation} <= set(names)
    checks = {path.name for path in config.CHECKS_DIR.glob("*.sql")}
    assert checks and {f"{data}/sql/checks/{name}" for name in checks} <= set(names)
    for env in ("dev", "prod"):
        scripts = {job.script_location.rsplit("/", 1)[-1] for job in templates.load(env).jobs.values()}
        assert {f"glue_jobs/{script}" for script in scripts} <= set(names), env
    package = config.GLUE_JOBS_DIR
    shipped = {f"glue_jobs/{p.relative_to(package).as_posix()}" for p in package.rglob("*.py")}
    assert "glue_jobs/lib/contract.py" in shipped and shipped <= set(names)
    assert ".airflowignore" in names


def test_zip_leaves_out_bytecode_tests_and_workstation_tools(names):
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    tools = {n for n in names if n.removeprefix("energy_datalake/").split("/", 1)[0] in mwaa.DEV_ONLY}
    assert not tools
    assert "energy_datalake/emulator/athena.py" in names  # not a workstation tool: the local target's engine
    assert {n.split("/", 1)[0] for n in names} == {".airflowignore", "energy_datalake", "glue_jobs"}


def defined_in_package(archive: zipfile.ZipFile, package: str) -> set[str] | None:
    """The top-level names a package's ``__init__.py`` in the zip binds; None when ``package`` is not a
    package there."""
    init = f"{package.replace('.', '/')}/__init__.py"
    if init not in archive.namelist():
        return None
    names = set()
    for node in ast.parse(archive.read(init)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).partition(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def test_no_shipped_module_imports_one_the_zip_leaves_out(bundle, names):
    def exists(module: str) -> bool:
        path = module.replace(".", "/")
        return f"{path}.py" in names or f"{path}/__init__.py" in names

    missing = []
    with zipfile.ZipFile(bundle.plugins_zip) as archive:
        for name in (n for n in names if n.endswith(".py")):
            for node in ast.walk(ast.parse(archive.read(name))):
                if isinstance(node, ast.Import):
                    wanted = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    # `from package import name`: a submodule, unless the package's __init__ defines the name
                    # (`from module import name` takes an attribute of the module).
                    package = defined_in_package(archive, node.module)
                    wanted = [node.module] + [
                        f"{node.module}.{alias.name}"
                        for alias in node.names
                        if package is not None and alias.name not in package
                    ]
                else:
                    continue
                missing += [
                    f"{name} imports {module}"
                    for module in wanted
                    if module.partition(".")[0] in ("energy_datalake", "glue_jobs") and not exists(module)
                ]
    assert missing == []


def test_zip_bytes_do_not_depend_on_file_times(tmp_path, monkeypatch):
    archives = []
    for stamp in (1_000_000_000, 1_700_000_000):
        copy = tmp_path / str(stamp)
        for name in ("plugins", "glue_jobs", "cloudformation", "sql"):
            source = CHECKOUT / name
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        for path in copy.rglob("*"):
            os.utime(path, (stamp, stamp))
        monkeypatch.setattr(config, "PACKAGE_DIR", copy / "plugins" / "energy_datalake")
        monkeypatch.setattr(config, "GLUE_JOBS_DIR", copy / "glue_jobs")
        monkeypatch.setattr(config, "CLOUDFORMATION_DIR", copy / "cloudformation")
        monkeypatch.setattr(config, "CHECKS_DIR", copy / "sql" / "checks")
        archives.append(mwaa.plugins_zip(mwaa.plugin_files()))
    assert archives[0] == archives[1]


def test_requirements_start_with_the_constraints_of_the_airflow_version(bundle):
    lines = bundle.requirements.read_text().splitlines()
    assert lines[0] == (
        '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-3.0.6/constraints-3.12.txt"'
    )
    assert lines[1:] == ["apache-airflow-providers-amazon[aiobotocore]", "pyyaml"]
    other = mwaa.requirements("3.1.7", "3.11").splitlines()[0]
    assert other.endswith('constraints-3.1.7/constraints-3.11.txt"')


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("boto3==1.40.0", "'boto3==1.40.0' pins a version"),
        ("apache-airflow-providers-amazon>=9", "pins a version"),
        ("pyspark", "'pyspark' does not belong on MWAA"),
        ("Apache_Airflow", "does not belong on MWAA"),
        ("moto[server]", "does not belong on MWAA"),
        ("-r requirements.txt", "options are not allowed"),
        ("--constraint constraints.txt", "options are not allowed"),
    ],
)
def test_requirements_refuse_pins_options_and_what_mwaa_must_not_install(tmp_path, line, message):
    source = tmp_path / "requirements-mwaa.txt"
    source.write_text(f"# a comment\npyyaml\n{line}   # why\n")
    with pytest.raises(mwaa.BundleError, match="requirements-mwaa.txt:3: ") as raised:
        mwaa.requirements("3.0.6", "3.12", source)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("args", "bad"),
    [(["--airflow-version", "2.10.3"], "'2.10.3'"), (["--python-version", "312"], "'312'")],
)
def test_a_bad_version_is_a_one_line_error(tmp_path, capsys, args, bad):
    assert mwaa.main(["--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and bad in err
    assert not (tmp_path / "out").exists()


def test_outside_a_bundle_the_data_comes_from_the_checkout():
    assert not config.BUNDLE_DIR.exists()
    assert config.CLOUDFORMATION_DIR == CHECKOUT / "cloudformation"
    assert config.CHECKS_DIR == CHECKOUT / "sql" / "checks"
    assert (
        config.GLUE_JOBS_DIR == Path(glue_jobs.lib.__file__).resolve().parent.parent == CHECKOUT / "glue_jobs"
    )
