"""Files on disk: crash-safe JSON writes, owner-only secrets and the service's SQLite files."""
