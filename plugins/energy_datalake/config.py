"""Where the code finds its data files, where the local target keeps its state, and which target the DAG builds.

The templates, the check SQL and the Glue scripts are read from the checkout, or, in the MWAA bundle
(``plugins.zip``, built by ``energy_datalake.mwaa``), from the package data folder ``_bundle`` beside this
module: when that folder exists every data constant points into it, never into the checkout.
``GLUE_JOBS_DIR`` is wherever the imported ``glue_jobs`` package lives, so the scripts uploaded and run
are those of the code that is running.

Everything a local run writes lives under one directory, ``$DATALAKE_HOME`` (default ``.datalake/`` in
the checkout). An S3 URI ``s3://bucket/key`` maps to ``$DATALAKE_HOME/s3/bucket/key`` so that the job
arguments declared in the CloudFormation templates work unchanged on the local target.
"""

from __future__ import annotations

import os
from pathlib import Path

import glue_jobs.lib

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLE_DIR = PACKAGE_DIR / "_bundle"
REPO_ROOT = PACKAGE_DIR.parents[1]
_DATA_ROOT = BUNDLE_DIR if BUNDLE_DIR.is_dir() else REPO_ROOT
CLOUDFORMATION_DIR = _DATA_ROOT / "cloudformation"
CHECKS_DIR = _DATA_ROOT / "sql" / "checks"
# From a module of the package, not the package: a folder named glue_jobs earlier on sys.path (tests/glue_jobs
# under pytest) turns ``glue_jobs`` into a namespace package without a file, while its modules still load
# from the real package.
GLUE_JOBS_DIR = Path(glue_jobs.lib.__file__).resolve().parents[1]
DAGS_DIR = REPO_ROOT / "dags"


def target() -> str:
    value = os.environ.get("DATALAKE_TARGET", "local")
    if value not in ("local", "aws"):
        raise ValueError(f"DATALAKE_TARGET must be 'local' or 'aws', not {value!r}")
    return value


def environment() -> str:
    """The deployment environment (dev / prod) whose parameters the templates are read with."""
    return os.environ.get("DATALAKE_ENV", "dev")


def home() -> Path:
    return Path(os.environ.get("DATALAKE_HOME", REPO_ROOT / ".datalake")).resolve()


def s3_root() -> Path:
    return home() / "s3"


def local_path(uri: str) -> Path:
    """The local folder standing for an S3 URI (``s3://b/k`` → ``$DATALAKE_HOME/s3/b/k``)."""
    if not uri.startswith("s3://"):
        return Path(uri)
    return s3_root() / uri[len("s3://") :]
