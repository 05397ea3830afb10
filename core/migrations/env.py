"""Alembic environment: runs migrations on the engine handed over by core.migrate.

`target_metadata` is only needed to autogenerate a revision; the caller passes it (after importing
`models`, which registers every table), so this layer imports nothing above it.
"""

from alembic import context

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
