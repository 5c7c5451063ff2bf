"""Files on disk: crash-safe JSON writes and owner-only secrets."""
