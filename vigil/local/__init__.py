"""Local infrastructure on loopback (KRaft Kafka, Redis): a developer and single-host tool."""
