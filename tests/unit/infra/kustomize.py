"""A small renderer of the kustomize features infra/k8s uses, for the manifest tests.

No kustomize binary is packaged for this machine, so the tests render the overlays in Python:
resources (files and directories), `namespace`, `labels` (metadata only), `images`,
`replicas` and strategic-merge `patches` (maps merged, lists of named items merged by name).
A feature it does not know fails the test instead of being ignored.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
KNOWN = {"apiVersion", "kind", "namespace", "labels", "resources", "images", "replicas", "patches"}


def render(directory: Path) -> list[Doc]:
    """The documents `kustomize build <directory>` would give, for the features above."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - KNOWN
    assert not unknown, f"{directory}: kustomize features the test cannot render: {unknown}"
    docs: list[Doc] = []
    for resource in spec.get("resources", []):
        path = directory / resource
        if path.is_dir():
            docs.extend(render(path))
        else:
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for patch in spec.get("patches", []):
        for change in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = find(docs, change["kind"], change["metadata"]["name"])
            merge(target, change)
    for pair in spec.get("labels", []):
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(pair["pairs"])
    for replicas in spec.get("replicas", []):
        find(docs, "Deployment", replicas["name"])["spec"]["replicas"] = replicas["count"]
    for image in spec.get("images", []):
        for container in containers(docs):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    if "namespace" in spec:
        for doc in docs:
            doc["metadata"]["namespace"] = spec["namespace"]
    return docs


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


def merge(target: Doc, change: Doc) -> None:
    """Strategic merge, as kustomize does it for the fields infra/k8s patches."""
    for key, value in change.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and named(value + current):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    merge(by_name[item["name"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)
