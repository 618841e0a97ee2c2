"""hubscale's autoscaler, the controller that sizes each user's Spark and Flink clusters, in
layers: ``policy/`` (pure decisions), ``readers/`` (Prometheus and Flink's REST API into
signals), ``backends/`` (where clusters run: ``local/``, ``kubernetes/``), ``controller/`` (the
loop that joins them; ``python -m autoscaler``) and ``sim/`` (the policies over a simulated day).
It builds on ``hubscale/`` and never imports the hub's side (``spawner/``, ``hub_config/``).
"""
