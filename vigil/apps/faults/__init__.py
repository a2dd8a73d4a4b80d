"""The fault matrix: clients stream through `vigil up` while one part of it fails at a time.

- ``client.py``: a client that keeps streaming, reconnecting whenever its session ends, and
  records what became of every frame it sent;
- ``stack.py``: the Vigil under test (a `vigil up` child) and the faults done to it;
- ``matrix.py``: the run (steady state, then each fault, its recovery, a settled end) and the
  count per case;
- ``outputs.py``: what the sinks kept: one audit line per decision, evidence for each
  non-allow decision;

`vigil bench faults` (vigil/apps/bench/faults.py) runs it with long phases; the test suite
(tests/faults/) runs the same matrix with short phases.
"""
