"""The web layer: HTTP endpoints, request guards and the HTTP server's settings."""
