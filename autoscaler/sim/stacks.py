"""Peer stacks a team would deploy instead of hubscale: one policy for Spark, one for Flink.

Each stack is a row of the bench. Its Spark side is what the team's Spark deployment scales by
(dynamic allocation, Dask-style adaptive); its Flink side is the Flink Kubernetes operator's
autoscaler, so no stack runs a stream at its declared parallelism for its whole life.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.policy.decision import ClusterState, Decision, Policy
from autoscaler.policy.signals import FlinkSignal, Signal
from autoscaler.sim.baselines import (
    DaskAdaptivePolicy,
    FlinkAutoscalerPolicy,
    SparkDynamicAllocationPolicy,
)
from hubscale.spec import ComputeClusterSpec


@dataclass(frozen=True)
class PeerStack:
    """Spark clusters by ``spark``, Flink clusters by ``flink``, each at its own pace."""

    name: str
    spark: Policy
    flink: Policy = field(default_factory=FlinkAutoscalerPolicy)

    @property
    def interval_s(self) -> float:
        return min(self.spark.interval_s, self.flink.interval_s)

    def interval_for(self, engine: str) -> float:
        """Each engine at the pace of the system that scales it."""
        return self.spark.interval_s if engine == "spark" else self.flink.interval_s

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision:
        """The decision of the engine's own autoscaler."""
        policy = self.flink if isinstance(signal, FlinkSignal) else self.spark
        return policy.decide(spec, signal, state, now)

    def describe(self) -> str:
        """Both sides' defaults, each under its system's name."""
        return (
            f"Spark: {self.spark.name} ({self.spark.describe(skip=('flink',))});"
            f" Flink: {self.flink.name} ({self.flink.describe(skip=('spark',))})"
        )


def spark_da_with_flink_operator() -> PeerStack:
    """Spark dynamic allocation beside the Flink Kubernetes operator's autoscaler."""
    return PeerStack("spark-da+flink-operator", SparkDynamicAllocationPolicy())


def dask_adaptive_with_flink_operator() -> PeerStack:
    """Dask-style adaptive scaling of Spark beside the Flink operator's autoscaler."""
    return PeerStack("dask-adaptive+flink-operator", DaskAdaptivePolicy())
