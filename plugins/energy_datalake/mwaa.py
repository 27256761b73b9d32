"""The MWAA artefacts of the daily DAG: ``plugins.zip``, ``requirements.txt`` and the DAG folder.

    python -m energy_datalake.mwaa --out dist/mwaa [--airflow-version 3.0.6] [--python-version 3.12]

MWAA unpacks ``plugins.zip`` into ``$AIRFLOW_HOME/plugins`` (on ``sys.path``), installs ``requirements.txt``
against the constraints file its first line names, and parses the files of the bucket's ``dags/`` folder.

``plugins.zip`` holds ``energy_datalake`` (less the tools a person runs on a workstation, ``DEV_ONLY``), the
whole ``glue_jobs`` package (the deploy step uploads the Glue scripts from it), and, under
``energy_datalake/_bundle/``, the data files the code reads from the checkout elsewhere: ``cloudformation/``
(templates, ``parameters/``, any subfolder) and ``sql/checks/``. ``config`` points at ``_bundle`` when it
exists. ``requirements.txt`` is the ``--constraint`` line of the Airflow version, then the lines of
``requirements-mwaa.txt``.

Invariants: the same sources give the same zip bytes (sorted entries, fixed timestamps and permissions), so
an unchanged bundle never makes MWAA update the environment; the zip carries no bytecode, ``__pycache__`` or
tests; its ``.airflowignore`` keeps Airflow's plugin loader from executing each of our modules as a plugin
file (they define no plugin, and some import engines that MWAA does not have).
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from energy_datalake import config

DEFAULT_AIRFLOW_VERSION = "3.0.6"
# The Python of MWAA's Airflow 3 images.
DEFAULT_PYTHON_VERSION = "3.12"
CONSTRAINTS_URL = (
    "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"
)
REQUIREMENTS_SOURCE = config.REPO_ROOT / "requirements-mwaa.txt"
BUNDLE_NAME = config.BUNDLE_DIR.name

# Modules and packages (by their folder) of energy_datalake that only a person at a workstation runs: sample
# data, the local CLI, its Airflow and UI, the report.
DEV_ONLY = frozenset(
    {"cli.py", "generator", "runner.py", "status.py", "airflow_env.py", "mwaa.py", "ui.py", "report"}
)
PACKAGE_SUFFIXES = (".py", ".sql", ".json", ".yaml")
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json")
_SKIPPED_DIRS = frozenset({"__pycache__", "tests", BUNDLE_NAME})
# Packages MWAA's image provides, or that only tests and the local target use.
FORBIDDEN_REQUIREMENTS = frozenset(
    {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk", "pyspark", "moto", "pytest"}
)
AIRFLOWIGNORE = (
    "# Airflow executes every .py file under plugins/ looking for AirflowPlugin classes. These packages\n"
    "# define none, and are imported as packages from sys.path.\n"
    "energy_datalake/\n"
    "glue_jobs/\n"
)
# The earliest time a zip entry can carry: any fixed value makes the bytes independent of file mtimes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_AIRFLOW_VERSION = re.compile(r"3\.\d+\.\d+")
_PYTHON_VERSION = re.compile(r"3\.\d{1,2}")
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class BundleError(ValueError):
    """The bundle cannot be built: the message names the bad value or the missing source."""


@dataclass(frozen=True)
class Bundle:
    plugins_zip: Path
    requirements: Path
    dags_dir: Path


def plugin_files() -> dict[str, Path]:
    """{path inside plugins.zip: source file}, sorted by path."""
    files: dict[str, Path] = {}
    package = config.PACKAGE_DIR
    for path in _files(package, PACKAGE_SUFFIXES):
        relative = path.relative_to(package).as_posix()
        if relative not in DEV_ONLY and relative.split("/", 1)[0] not in DEV_ONLY:
            files[f"{package.name}/{relative}"] = path
    glue = config.GLUE_JOBS_DIR
    for path in _files(glue, PACKAGE_SUFFIXES):
        files[f"{glue.name}/{path.relative_to(glue).as_posix()}"] = path
    data = f"{package.name}/{BUNDLE_NAME}"
    templates = _files(config.CLOUDFORMATION_DIR, TEMPLATE_SUFFIXES)
    if not templates:
        raise BundleError(f"no CloudFormation templates in {config.CLOUDFORMATION_DIR}")
    for path in templates:
        files[f"{data}/cloudformation/{path.relative_to(config.CLOUDFORMATION_DIR).as_posix()}"] = path
    checks = sorted(config.CHECKS_DIR.glob("*.sql"))
    if not checks:
        raise BundleError(f"no check SQL in {config.CHECKS_DIR}")
    for path in checks:
        files[f"{data}/sql/checks/{path.name}"] = path
    return dict(sorted(files.items()))


def _files(directory: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.suffix in suffixes
        and not _SKIPPED_DIRS & set(path.relative_to(directory).parts[:-1])
    )


def plugins_zip(files: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in [(".airflowignore", AIRFLOWIGNORE.encode()), *_contents(files)]:
            entry = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, content)
    return buffer.getvalue()


def _contents(files: dict[str, Path]):
    for name, path in files.items():
        yield name, path.read_bytes()


def requirements(airflow_version: str, python_version: str, source: Path = REQUIREMENTS_SOURCE) -> str:
    """MWAA's requirements file: the constraints line first, then the source's requirements, unpinned."""
    if not _AIRFLOW_VERSION.fullmatch(airflow_version):
        raise BundleError(f"Airflow version {airflow_version!r} is not an Airflow 3 release like 3.0.6")
    if not _PYTHON_VERSION.fullmatch(python_version):
        raise BundleError(f"Python version {python_version!r} is not like 3.12")
    lines = [f'--constraint "{CONSTRAINTS_URL.format(airflow=airflow_version, python=python_version)}"']
    for number, raw in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source.name}:{number}"
        if line.startswith("-"):
            raise BundleError(f"{where}: {line!r}: options are not allowed, the build writes the constraint")
        name = _REQUIREMENT_NAME.match(line)
        rest = line[name.end() :] if name else line
        if name is None or re.search(r"[=<>!~@;]", rest):
            raise BundleError(f"{where}: {line!r} pins a version; the Airflow constraints file pins it")
        if re.sub(r"[._]", "-", name.group(0).lower()) in FORBIDDEN_REQUIREMENTS:
            raise BundleError(f"{where}: {line!r} does not belong on MWAA")
        lines.append(line)
    return "\n".join(lines) + "\n"


def build(
    out: Path,
    airflow_version: str = DEFAULT_AIRFLOW_VERSION,
    python_version: str = DEFAULT_PYTHON_VERSION,
) -> Bundle:
    """Write plugins.zip, requirements.txt and dags/ into ``out`` (replacing what a previous build left)."""
    text = requirements(airflow_version, python_version)
    archive = plugins_zip(plugin_files())
    dag_files = sorted(config.DAGS_DIR.glob("*.py"))
    if not dag_files:
        raise BundleError(f"no DAG file in {config.DAGS_DIR}")
    out.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(out / "plugins.zip", out / "requirements.txt", out / "dags")
    bundle.plugins_zip.write_bytes(archive)
    bundle.requirements.write_text(text, encoding="utf-8")
    shutil.rmtree(bundle.dags_dir, ignore_errors=True)
    bundle.dags_dir.mkdir()
    for path in dag_files:
        shutil.copyfile(path, bundle.dags_dir / path.name)
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m energy_datalake.mwaa", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=config.REPO_ROOT / "dist" / "mwaa", help="output folder")
    parser.add_argument(
        "--airflow-version", default=DEFAULT_AIRFLOW_VERSION, help="the environment's Airflow"
    )
    parser.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION, help="the environment's Python")
    args = parser.parse_args(argv)
    try:
        bundle = build(args.out, args.airflow_version, args.python_version)
    except BundleError as error:
        print(f"mwaa: {error}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(bundle.plugins_zip) as archive:
        entries = len(archive.namelist())
    print(f"{bundle.plugins_zip}  ({entries} files, {bundle.plugins_zip.stat().st_size / 1024:.0f} KiB)")
    print(f"{bundle.requirements}  (Airflow {args.airflow_version}, Python {args.python_version})")
    print(f"{bundle.dags_dir}/  ({', '.join(p.name for p in sorted(bundle.dags_dir.iterdir()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
