"""Prometheus ``file_sd`` target files: how local mode tells Prometheus what to scrape.

Each cluster's processes (master, workers, drivers' UI ports, JobManager, TaskManagers) become
targets labelled with ``cluster``, ``user``, ``engine`` and ``role``, so one query grouped by
``cluster`` covers every cluster. The hub's stack registers the hub and the controller the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hubscale.atomic_files import replace_if_changed


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """One endpoint to scrape, with the labels every series from it gets."""

    address: str  # host:port
    labels: Mapping[str, str] = field(default_factory=dict)
    metrics_path: str = "/metrics"


def file_sd_document(targets: Iterable[ScrapeTarget]) -> list[dict]:
    """The JSON Prometheus reads: one group per target (its path is a per-target label)."""
    return [
        {
            "targets": [target.address],
            "labels": {**target.labels, "__metrics_path__": target.metrics_path},
        }
        for target in targets
    ]


def write_file_sd(path: Path, targets: Iterable[ScrapeTarget]) -> bool:
    """Replace the target file atomically (Prometheus never reads half a file) if it changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return replace_if_changed(path, json.dumps(file_sd_document(targets), indent=1, sort_keys=True))
