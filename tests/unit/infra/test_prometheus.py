"""Prometheus's own checker accepts the configuration and rules, and the rule tests pass.

promtool is Debian's (package prometheus, installed by `make test` when it can); the rule
tests in infra/prometheus/tests/ prove that each important alert fires and clears.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tools.services import ROOT

PROMETHEUS = ROOT / "infra" / "prometheus"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)"
)


def promtool(*args: str) -> str:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_promtool_accepts_the_scrape_configuration_and_its_rule_file() -> None:
    assert "1 rule files found" in promtool("check", "config", "prometheus.yml")


def test_promtool_accepts_the_alert_rules() -> None:
    promtool("check", "rules", "alerts.yml")


def test_every_important_alert_fires_and_clears_in_the_rule_tests() -> None:
    tests = sorted(str(p.relative_to(PROMETHEUS)) for p in (PROMETHEUS / "tests").glob("*.yml"))
    assert tests
    assert "SUCCESS" in promtool("test", "rules", *tests)
    tested = "".join((PROMETHEUS / t).read_text() for t in tests)
    for alert in (
        "ServiceDown",
        "DependencyDown",
        "BackgroundLoopUnhealthy",
        "WorkQueueBacklog",
        "WorkQueueFailedJobs",
        "DeadLetterQueueNotEmpty",
        "OutboxStale",
        "ApiLatencyHigh",
        "ApiErrorRatioHigh",
        "RedisEvictionPolicyWrong",
        "RedisNotPersistent",
    ):
        assert f"alertname: {alert}" in tested, alert
