"""Running the service: its parts wired together, hourly maintenance, sandbox mode."""
