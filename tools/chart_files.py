"""The chart's files that come from elsewhere in the repository: copied or generated, never edited.

A chart can only read files inside its own directory, so the hub's configuration file and the
default profiles are copied into ``helm/hubscale/files/hub/``, and ``values.schema.json`` (what
helm validates values with) is generated from ``values.schema.yaml`` with the profile schema filled
in from the ComputeCluster model and the user options of ``spawner.profiles``.
``python -m tools.chart_files --write`` refreshes them; ``--check`` (and a test) fails on drift.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from hubscale.spec import QUANTITY_PATTERN, openapi_schema
from spawner.profiles import OPTIONS

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "helm" / "hubscale"
COPIES = {
    CHART / "files" / "hub" / "jupyterhub_config.py": REPO / "hub_config" / "jupyterhub_config.py",
    CHART / "files" / "hub" / "profiles.yaml": REPO / "hub_config" / "profiles.yaml",
}
SCHEMA_SOURCE = CHART / "values.schema.yaml"
SCHEMA = CHART / "values.schema.json"
GENERATED = (
    "Generated from values.schema.yaml by `python -m tools.chart_files --write`: do not edit."
)
_OPENAPI_ONLY = ("default", "nullable")


def expected_files() -> dict[Path, str]:
    """Every copied or generated file of the chart with the content it must have."""
    files = {target: source.read_text(encoding="utf-8") for target, source in COPIES.items()}
    files[SCHEMA] = json.dumps(values_schema(), indent=2) + "\n"
    return files


def values_schema() -> dict[str, Any]:
    """values.schema.yaml with the parts that come from the code filled in."""
    schema = yaml.safe_load(SCHEMA_SOURCE.read_text(encoding="utf-8"))
    definitions = schema["definitions"]
    for name in ("quantity", "optionalQuantity"):
        definitions[name]["pattern"] = QUANTITY_PATTERN
    spec = openapi_schema()["properties"]["spec"]["properties"]
    profile = definitions["profile"]["properties"]
    profile["idleTimeoutSeconds"] = _json_schema(spec["idleTimeoutSeconds"])
    worker = _json_schema(spec["worker"])
    worker["required"] = sorted(worker["properties"])
    definitions["clusterDefaults"] = {
        "description": "One engine's cluster in a profile, in the ComputeCluster spec's words.",
        "type": "object",
        "additionalProperties": False,
        "required": ["maxWorkers", "worker"],
        "properties": {
            "minWorkers": _json_schema(spec["minWorkers"]),
            "maxWorkers": _json_schema(spec["maxWorkers"]),
            "worker": worker,
        },
    }
    profile["userOptions"]["properties"] = {
        name: {"$ref": "#/definitions/optionBounds", "description": option.label}
        for name, option in OPTIONS.items()
    }
    return {"$comment": GENERATED, **schema}


def _json_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """A CRD (OpenAPI) property as plain JSON Schema: no defaults, no Kubernetes extensions;
    objects closed (a misspelled key is an error, as in the profiles file)."""
    found = copy.deepcopy(openapi)
    for key in list(found):
        if key in _OPENAPI_ONLY or key.startswith("x-kubernetes-"):
            del found[key]
    if "properties" in found:
        found["properties"] = {k: _json_schema(v) for k, v in found["properties"].items()}
        found["additionalProperties"] = False
    return found


def stale(files: dict[Path, str]) -> list[Path]:
    """The files whose content on disk differs from what it must be."""
    return [
        path
        for path, text in files.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.chart_files", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="refresh the files")
    action.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    args = parser.parse_args(argv)
    files = expected_files()
    drifted = stale(files)
    if args.check:
        for path in drifted:
            print(f"stale: {path.relative_to(REPO)} (python -m tools.chart_files --write)")
        return 1 if drifted else 0
    for path in drifted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
