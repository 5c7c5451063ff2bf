"""Helpers every Kite script needs: histories of any length from a shared candle cache, and more to come."""
