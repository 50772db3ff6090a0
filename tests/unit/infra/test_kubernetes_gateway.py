"""The gateway on Kubernetes runs the repository's nginx.conf unchanged, in front of the APIs'
Services, and each process's service account carries the IAM role infra/aws/queues.yaml
grants it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.unit.infra.kustomize import find, render
from tools.services import ROOT

K8S = ROOT / "infra" / "k8s"
NGINX_CONF = ROOT / "infra" / "nginx" / "nginx.conf"
Doc = dict[str, Any]


OVERLAYS = {"base": "123456789012", "overlays/production": "210987654321"}  # AWS accounts


@pytest.fixture(params=sorted(OVERLAYS))
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def docs(overlay: str) -> list[Doc]:
    return render(K8S / overlay)


def test_the_gateway_runs_the_repository_nginx_conf_unchanged(docs: list[Doc]) -> None:
    pod = find(docs, "Deployment", "gateway")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "configMap" in v]
    config = find(docs, "ConfigMap", volume["configMap"]["name"])
    assert volume["configMap"]["name"].startswith("gateway-nginx-")  # hashed: changes roll
    assert config["data"] == {"nginx.conf": NGINX_CONF.read_text()}
    (container,) = pod["containers"]
    assert "-c /etc/gateway/nginx.conf" in container["command"][-1]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert mount["mountPath"] == "/etc/gateway"
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/gateway/healthz"
    assert "-s quit" in container["lifecycle"]["preStop"]["exec"]["command"][-1]
    assert pod["terminationGracePeriodSeconds"] > 30  # above proxy_read_timeout
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert find(docs, "PodDisruptionBudget", "gateway")["spec"]["minAvailable"] >= 1


def test_the_gateway_upstreams_are_the_api_services(docs: list[Doc]) -> None:
    upstreams = re.findall(r"^\s*server ([\w-]+):(\d+);", NGINX_CONF.read_text(), re.M)
    assert len(upstreams) == 2
    for name, port in upstreams:
        service = find(docs, "Service", name)
        assert [p["port"] for p in service["spec"]["ports"]] == [int(port)]


def test_each_service_account_carries_the_role_of_its_process(
    docs: list[Doc], overlay: str
) -> None:
    template = yaml.safe_load((ROOT / "infra" / "aws" / "queues.yaml").read_text())
    roles = {
        r["Properties"]["RoleName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Role"
    }
    account = OVERLAYS[overlay]
    annotated = {}
    for doc in docs:
        if doc["kind"] == "ServiceAccount":
            assert doc["automountServiceAccountToken"] is False
            arn = doc["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn")
            if arn:
                annotated[doc["metadata"]["name"]] = arn
    assert {f"suite-{name}" for name in annotated} == roles
    for name, arn in annotated.items():
        assert arn == f"arn:aws:iam::{account}:role/suite-{name}"
