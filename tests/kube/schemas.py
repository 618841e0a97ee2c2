"""Offline validation of manifests against the OpenAPI schemas of one pinned Kubernetes version."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

KUBERNETES_VERSION = "1.33.0"  # the version our manifests are validated against


def assert_valid(manifest: dict[str, Any]) -> None:
    """Strict: an unknown or misspelled field fails too (without strict it would pass)."""
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.path)
        name = manifest.get("metadata", {}).get("name")
        raise AssertionError(f"{manifest['kind']} {name}: {where}: {error.message}") from None
