"""What the platform's processes import at start, in the environment ``make install`` builds.

Every hub, notebook server, spawner and controller start imports jsonschema; with rfc3987-syntax
installed that import compiled ~35 Earley grammars (1.3 CPU-s each start, measured with
``/usr/bin/time .venv/bin/python -c 'import jupyter_server.serverapp'``: 1.63 → 0.36 CPU-s).
"""

from __future__ import annotations

import subprocess
import sys

STARTS = ("jupyter_server.serverapp", "jupyterhub.app", "kubernetes", "autoscaler.__main__")


def test_no_process_start_compiles_the_iri_grammars():
    imports = "; ".join(f"import {module}" for module in STARTS)
    check = f"{imports}; import sys; print(sorted(m for m in sys.modules if 'rfc3987' in m))"
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == "[]"
