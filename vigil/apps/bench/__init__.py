"""Every benchmark of Vigil, one package: `vigil bench e2e|accuracy|sessions|temporal|faults|models`
(cli.py wires them).

- e2e.py: N simulated clients end to end; its figures (report.py) and the model-only ceiling it
  compares with (ceiling.py);
- accuracy/: APCER/BPCER, FMR/FNMR and phone rates over a labelled folder;
- temporal.py (+ temporal_sequences.py): what the policy's temporal evidence costs and buys;
- faults.py: the fault matrix against a `vigil up` of its own;
- models.py: milliseconds per frame of every vision plug-in.
"""

from vigil.core.plugins import SHARED_TESTDATA

TESTDATA = SHARED_TESTDATA
"""The shared test pictures beside the repository (../shared/testdata): the benches' default."""
