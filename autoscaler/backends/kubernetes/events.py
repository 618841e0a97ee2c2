"""Kubernetes Events for the controller's decisions, so ``kubectl describe cc NAME`` says why.

Pure: ``decision_event`` builds the Event (or None when nothing worth telling happened).
"""

from __future__ import annotations

import uuid
from typing import Any

from hubscale.spec import API_VERSION, DRY_RUN, KIND, ComputeClusterStatus

COMPONENT = "hubscale-autoscaler"
MAX_MESSAGE = 1024


def decision_reason(before: ComputeClusterStatus | None, after: ComputeClusterStatus) -> str | None:
    """``ScaledUp``/``ScaledDown`` when the desired size moved (``WouldScaleUp``/
    ``WouldScaleDown`` in dry-run: the ``DryRun`` condition), ``Failed`` on a new error."""
    desired_before = before.desired if before is not None else 0
    if after.phase == "Error":
        repeated = before is not None and before.phase == "Error" and before.reason == after.reason
        return None if repeated else "Failed"
    dry = any(c.type == DRY_RUN and c.status == "True" for c in after.conditions)
    if after.desired > desired_before:
        return "WouldScaleUp" if dry else "ScaledUp"
    if after.desired < desired_before:
        return "WouldScaleDown" if dry else "ScaledDown"
    return None


def decision_event(
    obj: dict[str, Any],
    before: ComputeClusterStatus | None,
    after: ComputeClusterStatus,
    now_rfc3339: str,
    instance: str,
) -> dict[str, Any] | None:
    """The core/v1 Event about a ComputeCluster's new status, or None."""
    reason = decision_reason(before, after)
    if reason is None:
        return None
    meta = obj["metadata"]
    desired_before = before.desired if before is not None else 0
    if reason == "Failed":
        message = after.reason
    else:
        message = f"{desired_before} -> {after.desired} workers: {after.reason}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "type": "Warning" if reason == "Failed" else "Normal",
        "firstTimestamp": now_rfc3339,
        "lastTimestamp": now_rfc3339,
        "count": 1,
        "source": {"component": COMPONENT},
        "reportingComponent": f"hubscale.io/{COMPONENT}",
        "reportingInstance": instance,
    }
