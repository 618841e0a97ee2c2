"""``make down``: stop what ``make up`` started for this state directory, with no JVM left behind.

If ``make up`` still runs, it is asked to stop (it stops the rest in order); if it was killed,
the same ordered stop runs here on whatever it left.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from hub_config.settings import Settings, SettingsError
from local_stack.stack import HUB_STOP_S, TEARDOWN_S, Stack

UP_STOP_S = HUB_STOP_S + TEARDOWN_S + 120.0


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"hubscale: {error}", file=sys.stderr)
        return 2
    stack = Stack(settings, say=lambda text: print(text, flush=True))
    up = stack.pid("up")
    if up is None:
        stack.stop()
        return 0
    print(f"asking `make up` (pid {up}) to stop ...", flush=True)
    os.kill(up, signal.SIGTERM)
    deadline = time.monotonic() + UP_STOP_S
    while stack.pid("up") is not None:
        if time.monotonic() > deadline:
            print(f"`make up` (pid {up}) did not stop in {UP_STOP_S:g} s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print("hubscale stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
