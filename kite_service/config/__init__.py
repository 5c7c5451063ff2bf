"""Settings: `.env`, the environment, the Kite credentials file and a running sandbox's files."""
