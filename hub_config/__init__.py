"""hubscale's JupyterHub: configuration per mode, the profiles, and ``make up``/``make down``."""
