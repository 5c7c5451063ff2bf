"""The /day page: the figures it shows, its P&L chart and its live feed (web/day.py serves them)."""
