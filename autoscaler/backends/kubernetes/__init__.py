"""The Kubernetes backend and the controller's other Kubernetes plumbing, on kubernetes_asyncio:
``backend`` applies and scales each cluster's objects, built by the pure functions of
``manifests``; ``objects`` is the controller's store of ComputeCluster custom resources (a
``watch``-fed cache, status writes, ``events`` for kubectl); ``leader`` keeps one controller
active through a Lease. It imports ``hubscale/`` and ``backends.base`` only.
"""
