"""Helpers of the black-box integration tests: an HTTP client as a real one would be,
users, problem checks and a collector of Kafka events. Nothing here reaches inside the
stack; it only speaks HTTP to the API and reads Kafka topics."""
