"""hubscale spawners (local and Kubernetes) sharing one module; arrives with the hub issue."""
