"""hubscale JupyterHub configuration and profiles; arrives with the hub issue."""
