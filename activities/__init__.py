"""Temporal activities: every piece of I/O (chain, payment provider, database) lives here.

Activities are synchronous methods on classes that hold their dependencies; the worker runs them in
a thread pool. Inputs and outputs are types from models/ so workflows never import this package.
"""
