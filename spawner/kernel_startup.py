"""The engine kernels' ``PYTHONSTARTUP`` (set in their kernel.json by ``make install``).

IPython runs this file in the user's namespace with its directory on ``sys.path``: it starts the
cell watch of ``kernel_notice`` and leaves no name behind.
"""

import kernel_notice as _hubscale_kernel_notice

_hubscale_kernel_notice.install()
del _hubscale_kernel_notice
