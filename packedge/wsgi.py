"""The WSGI application: machine endpoints on a short middleware stack, the rest on the full one."""

from __future__ import annotations

import io
import os

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "packedge.settings")


class MachineWSGIHandler(WSGIHandler):
    """A handler whose middleware is ``settings.MACHINE_MIDDLEWARE``."""

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler builds its chain from settings.MIDDLEWARE, once, at start-up.
        full_stack = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.MACHINE_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full_stack


class PathRoutedApplication:
    """Sends /public/ and /ofrep/ to the machine handler, everything else to Django's usual one."""

    def __init__(self) -> None:
        django.setup(set_prefix=False)
        self.full = WSGIHandler()
        self.machine = MachineWSGIHandler()
        self.machine_prefixes = tuple(settings.MACHINE_PATH_PREFIXES)
        # POST /public/v1/event, the hottest path, skips Django's handler chain (events/wsgi_event.py).
        from events import wsgi_event  # models: after django.setup()

        self.single_event_path = wsgi_event.PATH
        self.single_event = wsgi_event.SingleEventApplication(self.machine)

    def __call__(self, environ, start_response):
        if not environ.get("CONTENT_LENGTH") and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            environ = _with_chunked_body_read(environ)
        path = environ.get("PATH_INFO", "")
        if path == self.single_event_path and environ.get("REQUEST_METHOD") == "POST":
            return self.single_event(environ, start_response)
        handler = self.machine if path.startswith(self.machine_prefixes) else self.full
        return handler(environ, start_response)


def _with_chunked_body_read(environ: dict) -> dict:
    """A chunked body made a body of known length.

    gunicorn decodes ``Transfer-Encoding: chunked`` but, having no length to
    give, sets no CONTENT_LENGTH, and Django then reads such a body as empty
    (a valid chunked event answered 400 "body: empty"). Read it here, at most
    one byte past Django's own limit so that an oversized body is still
    refused as too large, and hand Django its length.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = environ["wsgi.input"].read(limit + 1 if limit is not None else -1)
    return {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}


application = PathRoutedApplication()
