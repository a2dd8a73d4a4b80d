"""`vigil bench sessions`: whole sessions through the processors' models and the decide stage's
policy, as a client at a given frame rate would see them.

layout.py (a session set on disk), scenarios.py (the sessions presented, impostors and swaps
included), outputs.py and cache.py (model outputs per frame, cached), decide.py (the decide
stage's Decider over one session), metrics.py (the figures), report.py, plots.py, bench.py
(the run), cli.py (the command).
"""
