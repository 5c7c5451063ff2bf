"""The logging engine: secret redaction, control-character escaping, daily files, throttling."""
