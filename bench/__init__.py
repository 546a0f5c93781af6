"""Benchmark harness of the GraphQL API server, run with `python -m bench.run`.

See BENCHMARKS.md at the repository root for the workloads, the targets and
the latest results.
"""
