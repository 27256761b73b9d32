"""docker-compose.yaml and its Dockerfile cannot be run or built without a Docker engine; check what can be
checked: the compose file parses and names the Airflow 3 services, they run the image the Dockerfile builds,
and that image is the official one of our pinned Airflow with the same pins as .venv."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
REQUIREMENTS = ROOT / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
TEST_TOOLS = {"pytest", "moto", "ruff"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _airflow_services() -> dict[str, dict]:
    return {name: service for name, service in _compose()["services"].items() if name.startswith("airflow-")}


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            result.append((instruction.upper(), arguments.strip()))
    return result


def _run_commands() -> list[str]:
    """Every shell command of the RUN instructions, split at && and ;."""
    commands = []
    for instruction, arguments in _instructions():
        if instruction == "RUN":
            commands += [part.strip() for part in re.split(r"&&|;", arguments) if part.strip()]
    return commands


def _pip_install() -> list[str]:
    installs = [shlex.split(command) for command in _run_commands() if command.startswith("pip install")]
    assert len(installs) == 1, f"expected one pip install in the Dockerfile, found {len(installs)}"
    return installs[0]


# pip install options whose value is the next token (a file or a URL, never a package).
_PIP_VALUE_OPTIONS = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
}


def _pip_install_targets() -> list[str]:
    """The packages the pip install command names on its command line (not through -r)."""
    tokens = _pip_install()[2:]
    targets = []
    for previous, token in zip(["pip"] + tokens, tokens, strict=False):
        if not token.startswith("-") and previous not in _PIP_VALUE_OPTIONS:
            targets.append(token)
    return targets


def _option(tokens: list[str], *names: str) -> str:
    for index, token in enumerate(tokens):
        if token in names:
            return tokens[index + 1]
    raise AssertionError(f"pip install has no {names[0]}: {shlex.join(tokens)}")


def _runtime_cut() -> tuple[str, str]:
    """(header line, file written) of the Dockerfile's sed that drops requirements.txt's test section."""
    for command in _run_commands():
        match = re.fullmatch(r"sed '/\^(.+)\$/,\$d' requirements\.txt > (\S+)", command)
        if match:
            return match.group(1), match.group(2)
    raise AssertionError("no sed cutting requirements.txt in the Dockerfile's RUN")


def _requirements(lines: list[str]) -> list[Requirement]:
    stripped = (re.sub(r"\s+#.*", "", line).strip() for line in lines)
    return [Requirement(line) for line in stripped if line and not line.startswith("#")]


def _split_requirements() -> tuple[list[Requirement], list[Requirement]]:
    """requirements.txt as the image sees it: (lines above the header the Dockerfile cuts at, lines below)."""
    header, _ = _runtime_cut()
    lines = REQUIREMENTS.read_text().splitlines()
    assert header in lines, f"the Dockerfile cuts requirements.txt at {header!r}, a line it does not have"
    index = lines.index(header)
    return _requirements(lines[:index]), _requirements(lines[index + 1 :])


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps a top-level file out of the build context (its last matching line wins)."""
    ignored = False
    ignore = ROOT / ".dockerignore"
    patterns = ignore.read_text().splitlines() if ignore.exists() else []
    for pattern in (line.strip() for line in patterns):
        if pattern and not pattern.startswith("#"):
            negated = pattern.startswith("!")
            if fnmatch.fnmatchcase(path, pattern.lstrip("!").strip("/")):
                ignored = not negated
    return ignored


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


def test_compose_references_name_declared_services_and_volumes():
    compose = _compose()
    services = compose["services"]
    volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on an undeclared service: {dependency}"
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/", "~", "$")):
                assert source in volumes, f"{name} mounts an undeclared volume: {source}"


def _build_source(build: str | dict) -> Path:
    context, dockerfile = (
        (build, "Dockerfile")
        if isinstance(build, str)
        else (
            build.get("context", "."),
            build.get("dockerfile", "Dockerfile"),
        )
    )
    return (ROOT / context / dockerfile).resolve()


def test_every_airflow_service_runs_the_image_the_dockerfile_builds():
    services = _airflow_services()
    builders = {name: service for name, service in services.items() if "build" in service}
    for name, service in builders.items():
        source = _build_source(service["build"])
        assert source == DOCKERFILE, f"{name} builds from {source}, not {DOCKERFILE}"
    built_images = {service["image"] for service in builders.values() if "image" in service}
    for name, service in services.items():
        # A service with an image of its own (apache/airflow, say) would run without our pins.
        assert name in builders or service.get("image") in built_images, (
            f"{name} runs {service.get('image')}, not the image the Dockerfile builds"
        )


def test_no_pip_additional_requirements():
    # It would reinstall packages at every start, over the image's pins.
    for name, service in _compose()["services"].items():
        environment = service.get("environment") or {}
        keys = (
            environment if isinstance(environment, dict) else [item.split("=", 1)[0] for item in environment]
        )
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in keys, f"{name} sets _PIP_ADDITIONAL_REQUIREMENTS"
    for instruction, arguments in _instructions():
        if instruction in {"ENV", "ARG"}:
            assert "_PIP_ADDITIONAL_REQUIREMENTS" not in arguments, f"{instruction} {arguments}"


def test_no_password_in_clear():
    text = COMPOSE.read_text()
    # Passwords come from the environment, with a throwaway local default at most.
    for match in re.finditer(r"^\s*\w*PASSWORD:\s*(\S+)", text, re.MULTILINE):
        assert match.group(1).startswith("${"), match.group(0)


def test_dockerfile_starts_from_the_official_image_of_the_pinned_airflow_and_python():
    froms = [arguments for instruction, arguments in _instructions() if instruction == "FROM"]
    assert len(froms) == 1, f"expected one FROM, found {froms}"
    match = re.fullmatch(r"apache/airflow:(\S+)-python(3\.\d+)", froms[0])
    assert match, f"FROM is not an official apache/airflow:<version>-python<X.Y> tag: {froms[0]}"
    assert match.group(1) == _pins()["apache-airflow"], f"FROM {froms[0]} against constraints.txt"
    requires_python = re.search(r'^requires-python = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert SpecifierSet(requires_python.group(1)).contains(f"{match.group(2)}.0"), (
        f"FROM python{match.group(2)} against pyproject's requires-python {requires_python.group(1)}"
    )


def test_dockerfile_copies_requirements_and_constraints_into_the_build():
    copied = set()
    for instruction, arguments in _instructions():
        if instruction in {"COPY", "ADD"}:
            sources = [token for token in shlex.split(arguments) if not token.startswith("--")][:-1]
            copied |= set(sources)
    for name in ("requirements.txt", "constraints.txt"):
        assert name in copied, f"the Dockerfile does not copy {name}"
        assert not _dockerignored(name), f".dockerignore keeps {name} out of the build context"


def test_dockerfile_installs_against_constraints_without_changing_airflow():
    tokens = _pip_install()
    assert Path(_option(tokens, "-c", "--constraint")).name == "constraints.txt", shlex.join(tokens)
    assert _option(tokens, "-r", "--requirement") == _runtime_cut()[1], shlex.join(tokens)
    # AIRFLOW_VERSION is the base image's own: pip may add packages but never move Airflow.
    assert "apache-airflow==${AIRFLOW_VERSION}" in tokens, shlex.join(tokens)


def test_every_package_the_image_installs_is_pinned_by_constraints():
    pins = _pins()
    runtime, _ = _split_requirements()
    explicit = [
        Requirement(token.replace("${AIRFLOW_VERSION}", pins.get("apache-airflow", "0")))
        for token in _pip_install_targets()
    ]
    assert runtime, "no runtime requirement above the Dockerfile's cut of requirements.txt"
    for requirement in runtime + explicit:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is installed by the image but not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement} against constraints.txt's {name}=={pins[name]}"
        )


def test_image_leaves_out_the_test_and_lint_tools():
    runtime, tests = _split_requirements()
    runtime_names = {canonicalize_name(requirement.name) for requirement in runtime}
    test_names = {canonicalize_name(requirement.name) for requirement in tests}
    assert test_names >= TEST_TOOLS, (
        f"test tools not in requirements.txt's test section: {TEST_TOOLS - test_names}"
    )
    assert not runtime_names & test_names, (
        f"both in the image and the test section: {runtime_names & test_names}"
    )
    # The build checks the same header before cutting: a renamed one fails the build, not the image.
    header, _ = _runtime_cut()
    assert any(f"grep -qx '{header}' requirements.txt" in command for command in _run_commands()), header


def _compose_cli() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode == 0


@pytest.mark.skipif(not _compose_cli(), reason="no `docker compose` CLI here (the plugin validates the file)")
def test_docker_compose_config_accepts_the_file():
    # `config` validates against the compose schema and resolves the build context; it needs no engine.
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.strip()
