"""The ground floor: settings, Kafka helpers, topics, the stage loop, metrics, errors."""
