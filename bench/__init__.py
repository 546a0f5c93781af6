"""Benchmark harness of the GraphQL API server; `python -m bench.run` runs it.

See BENCHMARKS.md at the repository root for the workloads, the targets and
the latest results.
"""
