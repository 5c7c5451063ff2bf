"""The ticker hub: one set of connections to Kite's WebSocket shared by every local KiteTicker."""
