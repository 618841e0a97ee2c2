"""The engine kernels' ``PYTHONSTARTUP`` (set in their kernel.json by ``make install``).

IPython runs this file in the user's namespace with its directory on ``sys.path``: it starts the
cell watch of ``kernel_notice``, makes the engine's first session wait for its head
(``head_wait``), tags MLflow runs and turns Spark ML autologging on (``kernel_tracking``) and
leaves no name behind.
"""

import head_wait as _hubscale_head_wait
import kernel_notice as _hubscale_kernel_notice
import kernel_tracking as _hubscale_kernel_tracking

_hubscale_kernel_notice.install()
_hubscale_head_wait.install()
_hubscale_kernel_tracking.install()
del _hubscale_kernel_notice, _hubscale_head_wait, _hubscale_kernel_tracking
