"""hubscale's spawners: what local and Kubernetes share (compute, notebook_env), and each one."""
