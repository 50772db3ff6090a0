"""checkov scans the Kubernetes manifests as kustomize builds them (base and production), the
CloudFormation template and the Dockerfile: no check fails, and every check skipped has its
reason beside it (a `checkov.io/skip` annotation, the template's `Metadata.checkov`). A
privileged pod scanned in the same run fails, so the scan is known to check something."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.unit.infra.kustomize import build
from tests.unit.infra.lint_tools import lint_tool
from tools.services import ROOT

K8S = ROOT / "infra" / "k8s"
PRIVILEGED = """\
apiVersion: v1
kind: Pod
metadata: { name: privileged, namespace: probe }
spec:
  containers:
    - name: root
      image: busybox:1.36
      securityContext: { privileged: true }
"""


FRAMEWORKS = ["kubernetes", "cloudformation", "dockerfile"]


def scan(directory: Path) -> dict[str, dict[str, Any]]:
    """checkov's report for each framework."""
    command = [str(lint_tool("checkov")), "--directory", str(directory), "--framework"]
    command += [*FRAMEWORKS, "--skip-download", "--output", "json"]  # no network
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.stdout, done.stderr
    reports = json.loads(done.stdout)
    return {r["check_type"]: r for r in (reports if isinstance(reports, list) else [reports])}


def test_checkov_fails_nothing_and_every_skip_says_why(tmp_path: Path) -> None:
    for overlay in ("base", "overlays/production"):
        (tmp_path / f"{Path(overlay).name}.yaml").write_text(build(K8S / overlay))
    (tmp_path / "queues.yaml").write_text((ROOT / "infra" / "aws" / "queues.yaml").read_text())
    (tmp_path / "Dockerfile").write_text((ROOT / "infra" / "Dockerfile").read_text())
    (tmp_path / "probe.yaml").write_text(PRIVILEGED)
    reports = scan(tmp_path)
    assert sorted(reports) == sorted(FRAMEWORKS)
    failed = set()
    for framework, report in reports.items():
        assert report["summary"]["parsing_errors"] == 0, framework
        results = report["results"]
        assert results["passed_checks"], f"checkov checked nothing of {framework}"
        failed |= {(c["file_path"], c["check_id"]) for c in results["failed_checks"]}
        for skipped in results["skipped_checks"]:
            reason = skipped["check_result"].get("suppress_comment", "")
            assert len(reason) > 20, f"{skipped['check_id']} on {skipped['resource']}: no reason"
    assert ("/probe.yaml", "CKV_K8S_16") in failed  # the privileged container
    assert {path for path, _ in failed} == {"/probe.yaml"}, sorted(failed)
