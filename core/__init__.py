"""Infrastructure every other package stands on: settings, the DB engine and sessions, Alembic
migrations, column types, logging, tracing and the `DomainError` base.

It imports nothing of ours; everything else may import it.
"""
