"""Benchmarks: a typing replay through the real server, and micro-benchmarks of the hot paths.

`python -m benchmarks` runs both and prints the tables; see benchmarks/README.md.
"""
