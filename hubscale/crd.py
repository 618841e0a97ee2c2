"""The ComputeCluster CustomResourceDefinition, generated from the model in ``hubscale.spec``.

``python -m hubscale.crd`` prints it; ``--write`` refreshes the chart's copy and ``--check``
fails when that copy has drifted from the model (a unit test runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from hubscale.spec import API_VERSION, DNS_LABEL_PATTERN, KIND, openapi_schema

GROUP, VERSION = API_VERSION.split("/")
PLURAL = "computeclusters"
SINGULAR = "computecluster"
SHORT_NAMES = ["cc"]
CATEGORIES = ["hubscale"]
NAME = f"{PLURAL}.{GROUP}"
CHART_PATH = Path(__file__).resolve().parents[1] / "helm" / "hubscale" / "crds" / f"{PLURAL}.yaml"
HEADER = "# Generated from hubscale/spec.py by `python -m hubscale.crd --write`: do not edit.\n"

# What `kubectl get cc` shows an on-call engineer (Reason only with -o wide).
PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "User", "type": "string", "jsonPath": ".spec.owner", "description": "The hub user."},
    {"name": "Engine", "type": "string", "jsonPath": ".spec.engine"},
    {
        "name": "Workers",
        "type": "integer",
        "jsonPath": ".status.workers",
        "description": "Workers observed running.",
    },
    {
        "name": "Desired",
        "type": "integer",
        "jsonPath": ".status.desired",
        "description": "Workers the autoscaler wants.",
    },
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {
        "name": "Head",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="HeadRunning")].status',
        "description": "Whether the master/JobManager runs (heads on demand; empty: always).",
    },
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": ".status.reason",
        "priority": 1,
        "description": "Why the last decision was taken.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

# Rules the model checks that a per-field schema cannot say; the API server refuses such objects.
SPEC_RULES = [
    {
        "rule": "self.minWorkers <= self.maxWorkers",
        "message": "minWorkers must not exceed maxWorkers",
    }
]
ENGINE_RULES = [
    {"rule": "self == oldSelf", "message": "engine cannot change: delete and recreate the object"}
]


def schema() -> dict[str, Any]:
    """The model's schema plus what only Kubernetes checks: the name and cross-field rules."""
    root = openapi_schema()
    spec = root["properties"]["spec"]
    spec["x-kubernetes-validations"] = SPEC_RULES
    spec["properties"]["engine"]["x-kubernetes-validations"] = ENGINE_RULES
    name = {
        "type": "string",
        "maxLength": 63,
        "pattern": DNS_LABEL_PATTERN,
        "description": "A DNS label: it names the cluster's Deployments and Services.",
    }
    root["properties"] = {
        "metadata": {"type": "object", "properties": {"name": name}},
        **root["properties"],
    }
    return root


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition manifest."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/part-of": "hubscale"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": CATEGORIES,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": schema()},
                }
            ],
        },
    }


def render() -> str:
    """The CRD as the YAML file the chart ships."""
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=1000, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hubscale.crd", description=__doc__)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write {CHART_PATH}")
    action.add_argument("--check", action="store_true", help=f"fail if {CHART_PATH} is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        CHART_PATH.parent.mkdir(parents=True, exist_ok=True)
        CHART_PATH.write_text(text, encoding="utf-8")
    elif args.check:
        current = CHART_PATH.read_text(encoding="utf-8") if CHART_PATH.exists() else ""
        if current != text:
            print(f"{CHART_PATH} is stale: run python -m hubscale.crd --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
