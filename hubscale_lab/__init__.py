"""What the platform adds to each user's JupyterLab: their clusters' web UIs and launcher entries.

A Jupyter server extension (``hubscale_lab.server``), shipped in the notebook image beside
``hubscale_nb``; it builds on jupyter-server-proxy's handlers and its JupyterLab launcher.
"""
