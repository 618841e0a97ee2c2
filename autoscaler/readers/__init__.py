"""The readers of the outside world, their answers turned into the policy's signals: one client
for Prometheus (``prometheus``) and one for a Flink JobManager's REST API (``flink_rest``), both
of the shared HTTP shape (``http_api``: every call bounded, every failure wrapped in an error
that says what to do), and ``signal_queries``, one batched query per signal for every cluster.
They import the policy layer's values and ``hubscale/``, never the controller or the backends.
"""
