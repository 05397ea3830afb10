"""Temporal plumbing: client factory, worker, search attributes, embedded dev-server launcher."""
