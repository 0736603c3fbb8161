"""Benchmarks (`make bench`). Each writes its measured figures to docs/benchmarks.md."""
