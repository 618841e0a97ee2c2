"""The decision layer, signals in and a target worker count with its reason and cause out: the
values every policy takes and returns (``decision``, ``signals``), hubscale's policy
(``hubscale``), and the rules around any policy (``hold`` without a signal, the global core
``budget``, idle-first ``victims``). Pure, no I/O, no clock, no randomness, so the controller
and the simulator run the same code: it imports only ``hubscale/`` and itself, never the
readers, the controller, the backends or the simulator (tests/unit/test_layering.py).
"""
