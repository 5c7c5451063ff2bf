"""Orders: the order database, events announced once, the order check, the stream, postbacks."""
