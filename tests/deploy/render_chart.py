"""Render or lint a Helm chart with Helm's own engine (helm-python-sdk), as a separate process.

Run as ``python -m tests.deploy.render_chart render|lint CHART`` with the values as JSON on
standard input; prints JSON. The chart is rendered by Helm's Go SDK loaded from a shared library;
a process of its own keeps that runtime out of the test session.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    import helm_python as helm

    action, chart = sys.argv[1], sys.argv[2]
    values = json.load(sys.stdin)
    try:
        if action == "lint":
            result: object = helm.lint(chart, values, strict=True)
        else:
            with helm.Chart.load(chart) as loaded:
                result = loaded.render(
                    values, name="sb", namespace="assistants", is_install=True, revision=1
                )
    except helm.HelmError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
