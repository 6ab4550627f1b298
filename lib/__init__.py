"""Shared infrastructure every app uses, not an app: no models, no migrations, no settings of its own.

SQL quoting and locks, the rate limiter, the per-process cache, the error shape, strict parsers and
fields, pagination, the OpenAPI envelope, the replica router and the middleware. Nothing here
imports an app (``make lint`` checks it).
"""
