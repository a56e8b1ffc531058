"""Runnable benchmarks: ``python -m benchmarks NAME [options]``.

Each benchmark measures nlquery against a peer in the same run and prints ratios,
so the figures mean the same thing on any machine.
"""
