"""Vision model plug-ins: face detection, embedding, liveness and phone detection.

Import what you need from the submodules (``chain``, ``imaging``, ``registry``); this package
imports nothing heavy by itself, so importing it never loads torch or a model.
"""
