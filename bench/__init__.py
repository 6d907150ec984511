"""Benchmark harness for the lightmesh sidecar proxy (see bench/README.md)."""
