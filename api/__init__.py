"""The HTTP API (FastAPI): public, webhook and operator routers, health, auth, limits, idempotency.

The API starts, signals, updates and queries workflows and reads the database; it never runs
activities itself.
"""
