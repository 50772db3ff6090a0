"""Every metric that a dashboard or an alert rule names is one the processes really export.

The five services' modules and both work-queue backends are imported (that registers every
metric they define) and the suite's own /metrics handler is scraped over HTTP; a dashboard
query or alert expression that names anything else would show an empty panel or never fire.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared.http.app import metrics
from tools.services import ROOT, SERVICES

GRAFANA = ROOT / "infra" / "grafana" / "dashboards"
ALERTS = ROOT / "infra" / "prometheus" / "alerts.yml"
# Series that Prometheus makes itself, not the processes.
PROMETHEUS_OWN = {"up"}
# Words in PromQL that look like metric names but are functions, keywords or label names.
PROMQL = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
HISTOGRAM = re.compile(r"_(bucket|sum|count)$")


def queries(node: Any) -> Iterator[str]:
    """Every `expr` of a dashboard, in panels and nested rows alike."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression (label values and durations dropped)."""
    bare = re.sub(r'"[^"]*"', "", expr)  # label values
    bare = re.sub(r"\{[^}]*\}", "", bare)  # label matchers
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # ranges
    bare = re.sub(r"\b(by|without)\s*\([^)]*\)", "", bare)  # grouping labels
    bare = re.sub(r"\{\{[^}]*\}\}", "", bare)
    names = {m for m in PROMQL.findall(bare) if m not in KEYWORDS and not m.isdigit()}
    return {HISTOGRAM.sub("", n) for n in names if "_" in n or n in PROMETHEUS_OWN}


def used_metrics() -> dict[str, set[str]]:
    """Metric name -> the files that use it."""
    used: dict[str, set[str]] = {}
    for path in sorted(GRAFANA.glob("*.json")):
        for expr in queries(json.loads(path.read_text())):
            for name in metric_names(expr):
                used.setdefault(name, set()).add(path.name)
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in metric_names(rule["expr"]):
                used.setdefault(name, set()).add(ALERTS.name)
    return used


# Loaded by a process when its settings choose them (WORK_QUEUE_BACKEND), not on import.
CHOSEN_AT_START = ["shared.workqueue.redis_backend", "shared.workqueue.amqp_backend"]


async def scraped_metric_names() -> set[str]:
    for module in [f"{service.module}.app" for service in SERVICES] + CHOSEN_AT_START:
        importlib.import_module(module)
    app = web.Application()
    app.router.add_get("/metrics", metrics)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        text = await response.text()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE)) | {
        re.sub(r"_total$", "", n) + "_total"
        for n in re.findall(r"^# TYPE (\S+) counter", text, re.M)
    }


def test_the_parser_finds_metric_names_and_not_functions_or_labels() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, instance) (rate(x_seconds_bucket{a="b_c"}[5m])))'
    assert metric_names(expr) == {"x_seconds"}
    assert metric_names('up{job="suite"} == 0') == {"up"}


async def test_every_metric_in_the_dashboards_and_alerts_is_exported_by_a_process() -> None:
    used = used_metrics()
    exported = await scraped_metric_names() | PROMETHEUS_OWN
    assert len(used) > 20
    missing = {name: sorted(files) for name, files in used.items() if name not in exported}
    assert not missing, f"named in dashboards or rules, exported by no process: {missing}"


def test_every_dashboard_has_panels_with_queries_and_a_unique_uid() -> None:
    uids = []
    for path in sorted(GRAFANA.glob("*.json")):
        board = json.loads(path.read_text())
        uids.append(board["uid"])
        assert board["panels"] and all(p["targets"] for p in board["panels"]), path.name
    assert sorted(p.stem for p in GRAFANA.glob("*.json")) == sorted(
        ["apis", "queues", "consumers", "outbox", "money"]
    )
    assert len(set(uids)) == len(uids)
