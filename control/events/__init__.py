"""The control feed: the outbox delivered to Redis and the ``control`` topic (outbox.py), and
every follower of that topic (feed.py)."""
