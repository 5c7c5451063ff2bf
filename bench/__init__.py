"""Benchmarks: `.venv/bin/python -m bench.run` from the project folder (results in docs/performance.md)."""
