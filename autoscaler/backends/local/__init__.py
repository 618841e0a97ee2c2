"""The local backend, each ComputeCluster as processes on this machine: ``backend`` keeps the
clusters (runtime records, adoption after a restart, drains, start pacing, Prometheus file_sd
targets), ``spark`` and ``flink`` adapt the engines (ports, configuration, the JVMs' commands and
readiness), ``spark_cds`` trains and uses Spark's class-data sharing archives (``python -m
autoscaler.backends.local.spark_cds``). It imports ``hubscale/`` and ``backends.base`` only.
"""
