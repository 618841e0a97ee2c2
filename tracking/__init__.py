"""Experiment tracking: MLflow's server in the platform, behind the hub's identity."""
