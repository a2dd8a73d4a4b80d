"""Coordination through Redis: every key's name (redis_keys.py), admission of sessions,
process heartbeats and capacity, Redis's epoch, this machine's process table and `vigil status`."""
