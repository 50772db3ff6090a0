"""Figures of each fault scenario, for docs/RELIABILITY.md.

With FAULTS_REPORT set to a file, every scenario appends one JSON line to it: what was done,
what was checked, and its counts. Without it nothing is written.
"""

from __future__ import annotations

import json
import os
import time


def record(
    scenario: str,
    *,
    done: str,
    checked: str,
    requests: int,
    faults: int,
    messages: int,
    lost: int,
    doubled: int,
    **figures: object,
) -> None:
    """Append this scenario's figures to $FAULTS_REPORT, if it is set."""
    path = os.environ.get("FAULTS_REPORT")
    if not path:
        return
    line = {
        "scenario": scenario,
        "done": done,
        "checked": checked,
        "requests": requests,
        "faults": faults,
        "messages": messages,
        "lost": lost,
        "doubled": doubled,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **figures,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def table(lines: list[dict[str, object]]) -> str:
    """The rows of docs/RELIABILITY.md, one per scenario (the last run of each)."""
    latest = {str(line["scenario"]): line for line in lines}
    out = [
        "| scenario | what was done | what was checked | requests | faults injected "
        "| messages checked | lost | doubled |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, line in latest.items():
        out.append(
            f"| `{name}` | {line['done']} | {line['checked']} | {line['requests']} "
            f"| {line['faults']} | {line['messages']} | {line['lost']} | {line['doubled']} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    with open(sys.argv[1], encoding="utf-8") as source:
        print(table([json.loads(line) for line in source if line.strip()]))
