"""Benchmarks: `make bench` (python -m tests.benchmarks [NAME ...]) and `make chaos`."""
