"""docker-compose.yaml cannot be run without a Docker engine; check what can be checked: it parses, and it
names the Airflow 3 services, the image matching our pinned Airflow, and no secret in clear."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def _pinned(package: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==")[1]
    raise AssertionError(f"{package} not pinned")


def test_compose_names_the_airflow_3_services():
    services = _compose()["services"]
    assert {
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    } <= set(services)


def test_airflow_image_matches_the_pinned_airflow_and_python():
    for name, service in _compose()["services"].items():
        if name.startswith("airflow-"):
            assert service["image"] == f"apache/airflow:{_pinned('apache-airflow')}-python3.11"


def test_no_password_in_clear():
    text = (ROOT / "docker-compose.yaml").read_text()
    # Passwords come from the environment, with a throwaway local default at most.
    for match in re.finditer(r"^\s*\w*PASSWORD:\s*(\S+)", text, re.MULTILINE):
        assert match.group(1).startswith("${"), match.group(0)
