"""`vigil bench e2e`: the end-to-end benchmark (e2e.py), its figures (report.py) and the
model-only ceiling it compares with (ceiling.py)."""
