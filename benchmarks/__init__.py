"""Benchmarks of bakery: scheduling with the fake packer, orchestration cost with the real one.

Run from the repository root with `make bench` or `python -m benchmarks.run [--quick]`.
"""
