"""HTTP layer: FastAPI app, request/response schemas, routes, settings, CLI.

Translates HTTP ⇄ domain and nothing else: a route takes a schema, makes one call into
``scenarios`` and returns a schema. Errors leave as RFC 9457 ``application/problem+json``.
"""
