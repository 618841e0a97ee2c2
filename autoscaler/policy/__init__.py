"""The decision layer: signals in, a target worker count with its reason and cause out.

Pure: no I/O, no clock, no randomness, so the controller and the simulator run the same code.
It holds the values every policy takes and returns (``decision``, ``signals``), hubscale's policy
(``hubscale``), and the rules around any policy (``hold`` without a signal, the global core
``budget``, idle-first ``victims``). It imports only ``hubscale/`` and itself: never the readers,
the controller, the backends or the simulator (tests/unit/test_layering.py).
"""
