"""checkov scans the Kubernetes manifests as kustomize builds them (base and production): no
check fails, and every check skipped has its reason in a `checkov.io/skip` annotation. A
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


def scan(directory: Path) -> dict[str, Any]:
    command = [
        str(lint_tool("checkov")),
        "--directory",
        str(directory),
        "--framework",
        "kubernetes",
        "--skip-download",  # no network: only the checks shipped with checkov
        "--output",
        "json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    return dict(report[0] if isinstance(report, list) else report)


def test_checkov_fails_nothing_and_every_skip_says_why(tmp_path: Path) -> None:
    for overlay in ("base", "overlays/production"):
        (tmp_path / f"{Path(overlay).name}.yaml").write_text(build(K8S / overlay))
    (tmp_path / "probe.yaml").write_text(PRIVILEGED)
    report = scan(tmp_path)
    assert report["summary"]["parsing_errors"] == 0
    results = report["results"]
    failed = {(c["file_path"], c["check_id"]) for c in results["failed_checks"]}
    assert failed, "checkov failed nothing, not even the privileged probe pod"
    assert {path for path, _ in failed} == {"/probe.yaml"}, sorted(failed)
    assert ("/probe.yaml", "CKV_K8S_16") in failed  # privileged container
    assert results["passed_checks"]
    for skipped in results["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{skipped['check_id']} on {skipped['resource']}: no reason"
