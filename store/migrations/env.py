"""Alembic's environment: migrations run on the connection the store hands over
(:meth:`store.repository.Store.upgrade`), inside its transaction and lock."""

from __future__ import annotations

from alembic import context

from store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
