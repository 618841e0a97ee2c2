"""Where clusters run: the one ``Backend`` protocol and its errors (``base``), and its twins,
``local/`` (each ComputeCluster as processes on this machine, the embedded default) and
``kubernetes/`` (Deployments, Services, a Secret and NetworkPolicies, with the controller's other
Kubernetes plumbing beside them: the ComputeCluster objects, watches, Events, leader election).
Backends run what the controller decided and decide nothing: they import ``hubscale/`` and
``autoscaler.backends`` only, never the policy, the readers, the controller or the simulator.
"""
