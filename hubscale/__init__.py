"""What the spawner, the hub and the controller share: the model, names, the state directory.

It imports nothing from autoscaler/, spawner/, hub_config/ or hubscale_nb/: both sides build on it.
"""
