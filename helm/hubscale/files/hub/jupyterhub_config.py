"""JupyterHub's configuration file for hubscale: ``jupyterhub -f hub_config/jupyterhub_config.py``.

One setting picks the mode (``HUBSCALE_MODE``: local, the default, or kubernetes); every other
option is read from the environment by ``hub_config.settings``.
"""

from hub_config import kubernetes, local
from hub_config.settings import Settings

MODES = {"local": local.configure, "kubernetes": kubernetes.configure}

settings = Settings.from_env()
MODES[settings.mode](get_config(), settings)  # noqa: F821 - get_config is JupyterHub's
