"""The auditor console: a small web app over the audit log and the evidence folder.

``vigil console`` serves it; ``vigil auditors add NAME`` makes an account. See
``console/server.py`` for the routes and ``console/sessions.py`` for logins and sessions.
"""
