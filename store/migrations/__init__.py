"""Alembic migrations of the store (``env.py``, ``versions/``); run by
:meth:`store.repository.Store.upgrade` at start and by ``fxscen db upgrade``."""
