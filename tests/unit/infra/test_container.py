"""The image and the compose file, checked without a container engine: hadolint lints the
Dockerfile, its stages are read here (multi-stage, non-root, a health check), and the compose
file is validated against the Compose Specification's JSON schema, then held to what the
suite needs (the local SQS server, a Redis that never evicts, secrets from .env only)."""

from __future__ import annotations

import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from infra.healthcheck import PORTS, health_url
from shared.config import Settings
from tests.unit.infra.lint_tools import compose_schema, lint_tool
from tools.envfile import fresh_secrets
from tools.services import ROOT, SERVICES

DOCKERFILE = ROOT / "infra" / "Dockerfile"
COMPOSE = ROOT / "infra" / "compose.yaml"
Stage = list[tuple[str, str]]


def stages(text: str) -> dict[str, Stage]:
    """The Dockerfile's instructions (continuation lines joined), by stage name."""
    found: dict[str, Stage] = {}
    current: Stage = []
    for line in text.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            current = found.setdefault(arguments.split(" AS ")[-1].strip(), [])
        current.append((instruction.upper(), arguments.strip()))
    return found


def hadolint(path: str) -> subprocess.CompletedProcess[str]:
    command = [str(lint_tool("hadolint")), "--no-color", path]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    done = hadolint("infra/Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_flags_an_unpinned_root_image(tmp_path: Any) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install aiohttp\n")
    done = hadolint(str(bad))
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_the_image_is_multi_stage_non_root_with_a_health_check() -> None:
    built = stages(DOCKERFILE.read_text())
    assert list(built) == ["build", "runtime", "sqs"]
    runtime = dict(built["runtime"])
    assert runtime["FROM"].endswith("-slim-bookworm AS runtime")
    # The runtime stage installs nothing: it copies the build stage's virtual environment.
    assert ("COPY", "--from=build /opt/suite /opt/suite") in built["runtime"]
    assert not any(i == "RUN" and "pip" in a for i, a in built["runtime"])
    assert "-r runtime.txt" in dict(built["build"])["RUN"]  # pyproject's, not the dev tools
    assert runtime["USER"] == "10001:10001"
    assert runtime["HEALTHCHECK"].endswith('CMD ["python", "infra/healthcheck.py"]')
    assert runtime["STOPSIGNAL"] == "SIGTERM"
    for name in ("runtime", "sqs"):
        user = [a for i, a in built[name] if i == "USER"][-1]
        assert user.split(":")[0] not in {"0", "root"}, name
        assert any(i == "HEALTHCHECK" for i, _ in built[name]), name


def test_the_health_check_asks_the_port_of_the_process_the_container_runs() -> None:
    settings = Settings(_env_file=None, jwt_secret="s" * 40)
    assert {s.name: s.port(settings) for s in SERVICES} == PORTS
    command = ["python", "-m", "services.reward_worker"]
    assert health_url(command, {}) == "http://127.0.0.1:9103/healthz"
    assert health_url(command, {"REWARD_WORKER_PORT": "19103"}) == (
        "http://127.0.0.1:19103/healthz"
    )
    assert health_url(["/sbin/docker-init", "--", "python", "-m", "services.booking_api"], {})
    assert health_url(["python", "-m", "tools", "migrate"], {}) is None


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_the_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any],
) -> None:
    schema = compose_schema()
    jsonschema.Draft201909Validator(schema).validate(compose)
    broken = {**compose, "services": {**compose["services"], "redis": {"image": 7}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(schema).validate(broken)


def test_compose_runs_the_local_sqs_server_and_a_redis_that_never_evicts(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert "moto" not in services and "moto" not in COMPOSE.read_text()
    assert services["sqs"]["build"] == {
        "context": "..",
        "dockerfile": "infra/Dockerfile",
        "target": "sqs",
    }
    for service in SERVICES:
        environment = services[service.name]["environment"]
        assert environment["SQS_ENDPOINT_URL"] == "http://sqs:4566"
        assert environment["SQS_BOOKING_REQUEST_QUEUE_URL"].startswith("http://sqs:4566/")
    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis


def test_every_dependency_waits_for_health_or_completion(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for dependency, wait in service.get("depends_on", {}).items():
            condition = wait["condition"]
            assert condition in {"service_healthy", "service_completed_successfully"}, name
            target = compose["services"][dependency]
            # A suite image's health check is the Dockerfile's; the sqs image has its own too.
            if condition == "service_healthy" and "build" not in target:
                assert "healthcheck" in target, dependency


def test_secrets_come_only_from_the_env_file_make_run_writes(compose: dict[str, Any]) -> None:
    assert ".env.example" not in COMPOSE.read_text()
    for service in SERVICES:
        spec = compose["services"][service.name]
        # Relative to infra/: the root's .env, where `python -m tools` writes it.
        assert (COMPOSE.parent / spec["env_file"]).resolve() == ROOT / ".env"
        for secret in fresh_secrets():
            assert secret not in spec["environment"]
    for name, service in compose["services"].items():
        published = [p for p in service.get("ports", [])]
        assert all(p.startswith("127.0.0.1:") for p in published), name
