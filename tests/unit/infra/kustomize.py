"""The Kubernetes manifests as kustomize builds them: `kubectl kustomize` (kubectl of
.venv-lint, from `make lint-tools`, or the machine's), never a look-alike."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.infra.lint_tools import LINT_VENV

Doc = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(LINT_VENV)) or shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed: `make lint-tools` installs it into .venv-lint")
    return found


@functools.cache
def build(directory: Path) -> str:
    """`kubectl kustomize` of `directory`, allowed to read the gateway's nginx.conf."""
    command = [kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(directory: Path) -> list[Doc]:
    """The documents of the build, each a fresh copy."""
    return [d for d in yaml.safe_load_all(build(directory)) if d]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} documents"
    return matches[0]


def containers(docs: list[Doc]) -> list[Doc]:
    """Every container of every pod template."""
    found = []
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        found.extend(pod.get("containers", []) + pod.get("initContainers", []))
    return found
