"""The controller, which acts on ComputeCluster objects: the reconcile ``loop`` (objects, backend,
readers, policy, status), the status it writes and the policy state it rebuilds from it
(``status``), its own Prometheus metrics and /healthz (``metrics``), and the ``wiring`` of a
backend and an object store from the command line (``python -m autoscaler``, in
``autoscaler/__main__.py``). It may import every layer of ``autoscaler/`` but the simulator, and
``hubscale/``; nothing of ours imports it but that command line.
"""
