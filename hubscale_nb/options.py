"""How a notebook runs: the run's defaults, overridden per notebook by ``metadata.hubscale``.

Per-notebook keys: ``kernel`` (a kernelspec name), ``timeout`` (seconds for the whole notebook),
``parameters`` (papermill parameters), ``skip`` (true or a reason), ``compare_outputs`` (bool).
The kernel is ``metadata.hubscale.kernel``, else the run's (``--nb-kernel``), else the notebook's
kernelspec, else ``python3``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hubscale_nb.errors import NotebookSetupError

METADATA_KEY = "hubscale"
KNOWN_KEYS = ("kernel", "timeout", "parameters", "skip", "compare_outputs")
DEFAULT_KERNEL = "python3"
DEFAULT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RunOptions:
    """What a run needs; ``kernel`` None means the notebook's own kernelspec."""

    kernel: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    parameters: Mapping[str, Any] = field(default_factory=dict)
    skip: str | None = None
    compare_outputs: bool = False


def notebook_options(path: Path, metadata: Mapping[str, Any], defaults: RunOptions) -> RunOptions:
    """``defaults`` with this notebook's ``metadata.hubscale`` applied; the kernel resolved."""
    own = metadata.get(METADATA_KEY) or {}
    if not isinstance(own, Mapping):
        raise _bad(path, "", "must be a mapping")
    if unknown := sorted(set(own) - set(KNOWN_KEYS)):
        raise _bad(path, "", f"has unknown keys {unknown}; known: {list(KNOWN_KEYS)}")
    return replace(
        defaults,
        kernel=_kernel(path, own, defaults, metadata),
        timeout_s=_timeout(path, own.get("timeout", defaults.timeout_s)),
        parameters={**defaults.parameters, **_parameters(path, own.get("parameters", {}))},
        skip=_skip(path, own.get("skip", False)),
        compare_outputs=_flag(path, "compare_outputs", own, defaults.compare_outputs),
    )


def _kernel(
    path: Path, own: Mapping[str, Any], defaults: RunOptions, metadata: Mapping[str, Any]
) -> str:
    kernel = own.get("kernel")
    if kernel is not None and (not isinstance(kernel, str) or not kernel):
        raise _bad(path, ".kernel", f"must be a kernel name, not {kernel!r}")
    kernelspec = metadata.get("kernelspec") or {}
    return kernel or defaults.kernel or kernelspec.get("name") or DEFAULT_KERNEL


def _timeout(path: Path, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _bad(path, ".timeout", f"must be a positive number of seconds, not {value!r}")
    return float(value)


def _parameters(path: Path, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise _bad(path, ".parameters", f"must map names to values, not {value!r}")
    return dict(value)


def _skip(path: Path, value: object) -> str | None:
    if value is True:
        return f"metadata.{METADATA_KEY}.skip is set"
    if value is False or value is None:
        return None
    if isinstance(value, str) and value:
        return value
    raise _bad(path, ".skip", f"must be true, false or a reason, not {value!r}")


def _flag(path: Path, key: str, own: Mapping[str, Any], default: bool) -> bool:
    value = own.get(key, default)
    if not isinstance(value, bool):
        raise _bad(path, f".{key}", f"must be true or false, not {value!r}")
    return value


def _bad(path: Path, key: str, problem: str) -> NotebookSetupError:
    return NotebookSetupError(path, f"metadata.{METADATA_KEY}{key} {problem}")
