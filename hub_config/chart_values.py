"""The chart's values as the hub reads them (HUBSCALE_CHART_VALUES, written by the chart's hub
ConfigMap): one small reader whose every error names the file and the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hubscale.spec import show_typed
from hubscale.yaml_input import yaml_error_reason


class ChartValuesError(ValueError):
    """The values file is missing, unreadable or lacks a key of the right type."""


@dataclass(frozen=True, slots=True)
class ChartValues:
    """The parsed values file; ``get("singleuser.cpu.limit", (int, float))`` reads one."""

    path: Path
    data: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path) -> ChartValues:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            message = f"{path}: cannot read the chart values: {error.strerror}"
            raise ChartValuesError(message) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ChartValuesError(f"{path}: {yaml_error_reason(error)}") from None
        if not isinstance(data, Mapping):
            raise ChartValuesError(f"{path}: must be a mapping, got {show_typed(data)}")
        return cls(path, data)

    def get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        """The value at the dotted ``key``, which must exist and be of ``kind``."""
        node: Any = self.data
        for depth, part in enumerate(key.split(".")):
            if not isinstance(node, Mapping) or part not in node:
                where = ".".join(key.split(".")[: depth + 1])
                raise ChartValuesError(f"{self.path}: {where}: missing")
            node = node[part]
        if not isinstance(node, kind) or (isinstance(node, bool) and bool not in _kinds(kind)):
            names = " or ".join(k.__name__ for k in _kinds(kind))
            raise ChartValuesError(f"{self.path}: {key}: must be {names}, got {show_typed(node)}")
        return node


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
