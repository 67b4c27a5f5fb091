"""The desk's page: one HTML file, a stylesheet and a script, drawn with Plotly.js.

Served by :mod:`service.routes.page` at ``/`` and ``/page/v1/``; every asset is local
(Plotly.js's basic bundle, vendored from npm: ``vendor/``), so the page works with no network.
The page calls the public API only (``/v1/...``), as any client would.
"""
