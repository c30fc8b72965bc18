"""Reprise benchmarks: `make bench` (PostgreSQL + Redis) or `BENCH_DB=sqlite make bench` (embedded default).

Targets live here, never in timed tests. Each figure is measured several times and reported as median and p95.
"""
