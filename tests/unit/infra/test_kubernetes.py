"""The Kubernetes manifests, both the base and the production overlay, built by kustomize
(`kubectl kustomize`) and validated against the Kubernetes schemas (kubernetes-validate,
strict: an unknown field fails). KEDA's resources have no schema there: their required fields
are checked here instead. The gateway is tested in test_kubernetes_gateway.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.unit.infra.kustomize import containers, find, render
from tools.services import ROOT, SERVICES

K8S = ROOT / "infra" / "k8s"
OVERLAYS = [K8S / "base", K8S / "overlays" / "production"]
KUBERNETES = "1.33.0"
CRDS = {"keda.sh/v1alpha1"}
APIS = {"booking-api": 8081, "checkout-api": 8082}
SCALED = {"provider-consumer": 9101, "notification-consumer": 9102, "reward-worker": 9103}
Doc = dict[str, Any]


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(params=OVERLAYS, ids=lambda p: p.name)
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    path: Path = request.param
    return render(path)


def test_every_manifest_is_valid_against_the_kubernetes_schemas(docs: list[Doc]) -> None:
    for doc in docs:
        if doc["apiVersion"] not in CRDS:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_a_field_kubernetes_does_not_know_fails_the_validation(docs: list[Doc]) -> None:
    deployment = dict(find(docs, "Deployment", "booking-api"))
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def suite_containers(docs: list[Doc]) -> list[Doc]:
    """The containers of the suite's image (every process and the Job, not the gateway)."""
    return [c for c in containers(docs) if c["name"] != "gateway"]


def test_every_process_runs_with_probes_resources_and_the_shutdown_grace(docs: list[Doc]) -> None:
    deployments = of_kind(docs, "Deployment")
    deployments.pop("gateway")
    config = find(docs, "ConfigMap", "suite-config")["data"]
    grace = float(config["SHUTDOWN_GRACE"])
    assert sorted(deployments) == sorted([*APIS, *SCALED])
    modules = {s.module for s in SERVICES}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"][:2] == ["python", "-m"] and container["command"][2] in modules
        port = {**APIS, **SCALED}[name]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        # Kubernetes kills after the grace period: in-flight work gets SHUTDOWN_GRACE, and
        # some seconds more to close pools, never less.
        assert grace + 5 <= pod["terminationGracePeriodSeconds"] <= grace + 15, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)


def test_every_process_has_a_disruption_budget_and_exactly_one_autoscaler(
    docs: list[Doc],
) -> None:
    budgets = of_kind(docs, "PodDisruptionBudget")
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    scaled = of_kind(docs, "ScaledObject")
    for name, deployment in of_kind(docs, "Deployment").items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector
        # One service account each: the AWS role of a process is its own (infra/aws).
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == name
    assert sorted(hpas) == sorted(APIS)
    assert sorted(scaled) == sorted(SCALED)
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_keda_scales_the_consumers_on_sqs_depth_and_the_worker_on_its_queue(
    docs: list[Doc],
) -> None:
    config = find(docs, "ConfigMap", "suite-config")["data"]
    auths = of_kind(docs, "TriggerAuthentication")
    expected_queue = {
        "provider-consumer": "SQS_BOOKING_REQUEST_QUEUE_URL",
        "notification-consumer": "SQS_BOOKING_CONFIRMATION_QUEUE_URL",
    }
    for name, scaled in of_kind(docs, "ScaledObject").items():
        spec = scaled["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        if name in expected_queue:
            assert trigger["type"] == "aws-sqs-queue"
            assert trigger["metadata"]["queueURLFromEnv"] == expected_queue[name]
            assert config[expected_queue[name]].startswith("https://sqs.")
            assert int(trigger["metadata"]["queueLength"]) > 0
            auth = auths[trigger["authenticationRef"]["name"]]
            assert auth["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "workload"}}
        else:
            assert trigger["type"] == "prometheus"
            assert 'workqueue_jobs{state="waiting"}' in trigger["metadata"]["query"]
            assert int(trigger["metadata"]["threshold"]) > 0


def test_the_migration_job_migrates_with_the_same_image_and_settings(docs: list[Doc]) -> None:
    job = find(docs, "Job", "suite-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "tools", "migrate"]
    images = {c["image"] for c in suite_containers(docs)}
    assert len(images) == 1  # one image for every process and the Job
    # Every process of the suite waits in its init container until the Job has migrated.
    for name in [*APIS, *SCALED]:
        pod = find(docs, "Deployment", name)["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["command"][:3] == ["python", "-m", "tools.wait_migrated"]
        assert init["envFrom"] == container["envFrom"]


def test_only_the_gateway_reaches_the_apis_and_only_prometheus_the_metrics(
    docs: list[Doc],
) -> None:
    policies = of_kind(docs, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }
    allowed: dict[str, set[int]] = {}
    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:  # from anywhere: only the gateway's own port
                assert policy["spec"]["podSelector"]["matchLabels"] == {
                    "app.kubernetes.io/component": "gateway"
                }
                assert [p["port"] for p in rule["ports"]] == [8080]
                continue
            (peer,) = rule["from"]
            who = peer["podSelector"]["matchLabels"]
            key = who.get("app.kubernetes.io/component") or who["app.kubernetes.io/name"]
            allowed.setdefault(key, set()).update(p["port"] for p in rule["ports"])
    assert allowed == {"gateway": {8081, 8082}, "prometheus": {*APIS.values(), *SCALED.values()}}


def test_secrets_come_from_secret_objects_and_no_manifest_holds_one(docs: list[Doc]) -> None:
    assert not of_kind(docs, "Secret")
    config = find(docs, "ConfigMap", "suite-config")["data"]
    for secret in ("JWT_SECRET", "DATABASE_URL", "REDIS_URL", "AMQP_URL", "AWS_SECRET_ACCESS_KEY"):
        assert secret not in config
    for container in suite_containers(docs):
        assert {"secretRef": {"name": "suite-secrets"}} in container["envFrom"]
        assert "env" not in container


def test_production_runs_a_pinned_image_in_its_own_namespace() -> None:
    docs = render(K8S / "overlays" / "production")
    assert {d["metadata"]["namespace"] for d in docs} == {"suite"}
    (image,) = {c["image"] for c in suite_containers(docs)}
    assert image == "registry.example.com/suite:1.0.0"
    for container in containers(docs):
        assert not container["image"].endswith((":latest", ":")) and ":" in container["image"]
    assert find(docs, "HorizontalPodAutoscaler", "checkout-api")["spec"]["minReplicas"] == 3
