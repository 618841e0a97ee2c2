"""The simulator (``python -m autoscaler.sim``): a team's day, generated or replayed from a trace,
on simulated clusters under hubscale's policy and the baselines people use today (``baselines``),
compared with a perfect-foresight oracle; each tick decides as the controller's loop does, through
the policy layer's own hold rule and budget cap. It imports the policy layer and ``hubscale/``,
never the readers, the controller or the backends; ``benchmarks/policies.py`` runs it.
"""
