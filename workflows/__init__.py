"""Temporal workflows: deterministic orchestration only. No I/O, no imports of activities/ or api/.

Activities are called by name with typed inputs from models/, so this package imports nothing but
models/ (through the sandbox's pass-through).
"""
