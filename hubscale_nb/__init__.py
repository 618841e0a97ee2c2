"""Notebooks as code: run notebooks as tests, review their diffs, set git and jupytext up for users.

``python -m hubscale_nb`` (``review``, ``test``, ``init``) and the pytest plugin
``hubscale_nb.pytest_plugin`` are the entry points; both run notebooks through ``execute``.
"""
