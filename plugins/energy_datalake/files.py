"""Files the local tools write for others to read: each replaced whole, never seen half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json(path: Path, value: Any, **dump_options) -> Path:
    """Write ``value`` as JSON to ``path`` atomically: a reader (or a killed writer) sees the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A hidden name in the same folder until complete: the rename is atomic on one file system.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, **{"indent": 1, **dump_options})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
