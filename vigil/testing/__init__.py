"""Test support that ships with Vigil: the broker-free stage harness (harness.py)."""
