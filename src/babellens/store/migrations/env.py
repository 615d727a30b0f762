"""Alembic environment: the engine comes from BabelLens (config.attributes["engine"])."""

from alembic import context

from babellens.store.schema import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
