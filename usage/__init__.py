"""Usage accounting and the ``hubscale`` hub service: what each user's clusters held and used.

The service samples the ComputeClusters' statuses (workers, desired, phase, reason) and the
engines' busy cores from Prometheus, rolls them up per day in a database (``usage.db``) and serves
them to their owners (``usage.service``). It reads objects and metrics, never the controller.
"""
