"""Alembic environment: runs migrations on the engine handed over by models.migrate."""

from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table for autogenerate)

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
