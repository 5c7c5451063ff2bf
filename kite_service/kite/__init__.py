"""Talking to Kite: the official client's REST half, Kite's rate limits and order caps."""
