"""Evaluation metrics for generated tests: best-of-N, fidelity and ATGEN's attack rates.

The pure math (given pass counts) lives apart from the code that runs programs
(`scoring`), so every figure can be checked by hand without a sandbox.
"""
