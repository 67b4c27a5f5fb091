"""Request and response schemas, named by role (``...Request`` / ``...Response``, ``...Read``)."""
