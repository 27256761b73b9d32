"""Where the local target keeps its state, and which target the DAG builds.

Everything a local run writes lives under one directory, ``$DATALAKE_HOME`` (default ``.datalake/`` in
the checkout). An S3 URI ``s3://bucket/key`` maps to ``$DATALAKE_HOME/s3/bucket/key`` so that the job
arguments declared in the CloudFormation templates work unchanged on the local target.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CLOUDFORMATION_DIR = REPO_ROOT / "cloudformation"
GLUE_JOBS_DIR = REPO_ROOT / "glue_jobs"
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
