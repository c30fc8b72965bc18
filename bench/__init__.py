"""Reprise benchmarks: `make bench` measures both stacks side by side, the embedded default (SQLite) and PostgreSQL +
Redis; `BENCH_DB=sqlite make bench` or `BENCH_DB=postgres make bench` measures one.

Targets live here, never in timed tests. Each figure is measured several times and reported as median and p95.
"""
