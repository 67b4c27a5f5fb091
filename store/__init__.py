"""The store: versioned scenario sets and markets, API keys, on SQLAlchemy 2 with Alembic.

:mod:`store.repository` holds every SQL statement; :mod:`store.documents` and
:mod:`store.keys` are pure (canonical JSON, merge patches, tokens). Documents are kept in the
JSON shape the API takes; this package never parses them into domain objects (the service
does) and imports nothing of the web layer.
"""
