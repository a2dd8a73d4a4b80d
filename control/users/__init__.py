"""The user database: clients, tokens, enrolled embeddings, auditors, active models and the
outbox table, on SQLite or PostgreSQL (open one with repository.open_repository), and the
keys that encrypt what it stores."""
