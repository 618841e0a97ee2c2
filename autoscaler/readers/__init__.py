"""The readers of the outside world: Prometheus and the Flink JobManagers' REST API, their
answers turned into the policy's signals.

Each asks over HTTP (``http_api``), bounds every call with a timeout and wraps a failure in its own
error that says what to do; ``signal_queries`` batches one query per signal for every cluster.
They import the policy layer's values (``autoscaler.policy.signals``) and ``hubscale/``, never
the controller or the backends.
"""
