"""Backends turn ComputeCluster objects into running clusters: local processes or Kubernetes."""
