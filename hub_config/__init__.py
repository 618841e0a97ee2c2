"""hubscale's JupyterHub: configuration per mode, the platform's settings, the profiles."""
