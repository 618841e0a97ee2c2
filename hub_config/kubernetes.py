"""JupyterHub configuration for Kubernetes mode: the shape is here, the content is not yet.

It arrives with the Kubernetes issue (KubeSpawner subclass, the chart's values passed through to
traitlets); until then choosing this mode stops the hub with a message that says so.
"""

from __future__ import annotations

from typing import Any

from hub_config.settings import Settings


class ModeNotAvailable(RuntimeError):
    """A mode this version cannot run yet."""


def configure(c: Any, settings: Settings) -> None:
    """Fill JupyterHub's config object ``c`` for Kubernetes mode (not available yet)."""
    raise ModeNotAvailable(
        "HUBSCALE_MODE=kubernetes arrives with the Kubernetes issue (Helm chart and"
        " KubeSpawner); use HUBSCALE_MODE=local (`make up`) for now"
    )
