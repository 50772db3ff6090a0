"""The deployment files agree with the contract: every process, port and route is there."""

from __future__ import annotations

import re

import yaml

from tools.services import ROOT, SERVICES

INFRA = ROOT / "infra"
PORTS = {
    "booking_api": 8081,
    "checkout_api": 8082,
    "provider_consumer": 9101,
    "notification_consumer": 9102,
    "reward_worker": 9103,
}


def test_compose_runs_every_service_on_its_contract_port() -> None:
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    for service in SERVICES:
        spec = compose["services"][service.name]
        assert spec["command"] == ["python", "-m", service.module]
        assert f"127.0.0.1:{PORTS[service.name]}:{PORTS[service.name]}" in spec["ports"]


def test_procfile_runs_every_service() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == sorted(s.name for s in SERVICES)


def test_prometheus_scrapes_every_process() -> None:
    config = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == sorted(f"{name}:{port}" for name, port in PORTS.items())


def test_alert_rules_parse_and_name_existing_metrics() -> None:
    rules = yaml.safe_load((INFRA / "prometheus" / "alerts.yml").read_text())
    exprs = " ".join(rule["expr"] for group in rules["groups"] for rule in group["rules"])
    for metric in ("dependency_up", "outbox_oldest_unsent_age_seconds", "http_requests_total"):
        assert metric in exprs


def test_gateway_routes_each_prefix_to_its_service() -> None:
    conf = (INFRA / "nginx" / "nginx.conf").read_text()
    routes = dict(
        re.findall(r"location ~ \^/\(([^)]*)\)\(/\|\$\) \{[^}]*proxy_pass http://(\w+);", conf)
    )
    assert {upstream: set(prefixes.split("|")) for prefixes, upstream in routes.items()} == {
        "booking_api": {"bookings", "providers", "available-slots"},
        "checkout_api": {"checkout", "carts", "wallet", "products", "customers", "transactions"},
    }
    assert "server booking-api:8081;" in conf and "server checkout-api:8082;" in conf
    assert "listen 8080;" in conf


def test_every_alert_and_alarm_has_its_runbook_section() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    sections = {
        line[4:].strip().lower() for line in runbook.splitlines() if line.startswith("### ")
    }
    rules = yaml.safe_load((INFRA / "prometheus" / "alerts.yml").read_text())
    alarms = (INFRA / "aws" / "queues.yaml").read_text()
    anchors = [
        rule["annotations"]["runbook"] for group in rules["groups"] for rule in group["rules"]
    ] + re.findall(r"runbook (docs/operations\.md#\w+)", alarms)
    assert len(anchors) > 12
    for anchor in anchors:
        path, section = anchor.split("#")
        assert path == "docs/operations.md" and section in sections, anchor
