"""The Glue jobs' code as AWS runs it: three entry scripts and ``glue_jobs.zip``, keyed by their content.

The jobs' ``ScriptLocation`` and ``--extra-py-files`` point at ``glue_jobs/<version>/`` in the glue-scripts
bucket, and the etl stack's ``GlueCodeVersion`` parameter names the version: the deploy uploads the code of
the DAG that runs it, then points the jobs at it, so a job never runs code older or newer than its DAG.

Invariants: the same source files give the same zip bytes and the same version (entries sorted, fixed
timestamps and permissions, no ``__pycache__`` or tests), and an object already uploaded under a version is
never uploaded again (the version is a hash of everything under it).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = ("raw_to_processed.py", "processed_to_curated.py", "curated_to_redshift.py")
ZIP_NAME = "glue_jobs.zip"
KEY_PREFIX = "glue_jobs"
VERSION_LENGTH = 16
# The earliest time a zip entry can carry: any fixed value makes the bytes independent of file mtimes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class GlueCode:
    version: str
    archive: bytes
    scripts: dict[str, bytes]

    def objects(self) -> dict[str, bytes]:
        """{S3 key: content} of everything the jobs of this version read."""
        files = {**self.scripts, ZIP_NAME: self.archive}
        return {key(self.version, name): content for name, content in files.items()}


def package_dir() -> Path:
    """The folder of the imported ``glue_jobs`` package (the checkout's, or plugins/glue_jobs on MWAA)."""
    from energy_datalake import config

    return config.GLUE_JOBS_DIR


def key(version: str, name: str) -> str:
    return f"{KEY_PREFIX}/{version}/{name}"


def build(directory: Path | None = None) -> GlueCode:
    """The zip of the library the entry scripts import, the scripts themselves and their version."""
    directory = directory or package_dir()
    missing = [name for name in SCRIPTS if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"the glue_jobs package at {directory} lacks {', '.join(missing)}")
    scripts = {name: (directory / name).read_bytes() for name in SCRIPTS}
    archive = build_zip(directory)
    digest = hashlib.sha256()
    for name, content in [(ZIP_NAME, archive), *sorted(scripts.items())]:
        # Length-prefixed, so moving bytes from one file to the next cannot keep the same hash.
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return GlueCode(digest.hexdigest()[:VERSION_LENGTH], archive, scripts)


def library_files(directory: Path) -> list[Path]:
    """The package's modules but the entry scripts, and ``lib/**/*.py``; tests and caches left out."""
    # Every module but the entry scripts (uploaded beside the zip): runtime, the writers, lib/.
    top = [path for path in directory.glob("*.py") if path.name not in SCRIPTS]
    files = [*top, *(directory / "lib").rglob("*.py")]
    return sorted(
        (path for path in files if path.is_file() and not _is_test_or_cache(path.relative_to(directory))),
        key=lambda path: path.relative_to(directory).as_posix(),
    )


def build_zip(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in library_files(directory):
            entry = zipfile.ZipInfo(f"glue_jobs/{path.relative_to(directory).as_posix()}", _ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


def upload(s3_client, bucket: str, code: GlueCode, *, log: Callable[[str], None] = print) -> list[str]:
    """Put the objects of ``code`` that the bucket lacks; return the keys uploaded (none when unchanged)."""
    uploaded = []
    for object_key, content in code.objects().items():
        if _exists(s3_client, bucket, object_key):
            continue
        s3_client.put_object(Bucket=bucket, Key=object_key, Body=content)
        uploaded.append(object_key)
    if uploaded:
        log(f"glue code {code.version}: uploaded {len(uploaded)} object(s) to s3://{bucket}/{KEY_PREFIX}/")
    else:
        log(f"glue code {code.version}: already in s3://{bucket}/{KEY_PREFIX}/{code.version}/")
    return uploaded


def _exists(s3_client, bucket: str, object_key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3_client.head_object(Bucket=bucket, Key=object_key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey", "NotFound"):
            return False
        # Without s3:ListBucket S3 answers a missing key with 403: uploading anyway would re-upload on
        # every deploy and hide the missing permission.
        if code in ("403", "AccessDenied", "Forbidden"):
            raise PermissionError(
                f"HeadObject s3://{bucket}/{object_key} was denied: the deploy needs s3:ListBucket on "
                f"{bucket} and s3:GetObject, s3:PutObject on {KEY_PREFIX}/*"
            ) from error
        raise
    return True


def _is_test_or_cache(relative: Path) -> bool:
    folders, name = relative.parts[:-1], relative.name
    if any(folder in ("__pycache__", "tests", "test") for folder in folders):
        return True
    return name.startswith(("test_", "conftest")) or name.endswith("_test.py")
