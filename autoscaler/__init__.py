"""hubscale autoscaler: ComputeCluster model, scaling policy, simulator and (later) controller."""
