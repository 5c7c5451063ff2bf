"""The guard: risk limits checked on every order path, and the kill switch that leaves the account flat."""
