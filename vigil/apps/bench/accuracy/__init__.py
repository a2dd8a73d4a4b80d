"""`vigil bench accuracy`: the labelled development set and the accuracy benchmark.

Nothing heavy is imported here; the CLI imports the submodules it needs.
"""
