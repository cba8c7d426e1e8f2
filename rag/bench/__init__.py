"""Benchmarks: ingest, query latency, start-up, memory and size on a corpus; the vector index on synthetic data."""
