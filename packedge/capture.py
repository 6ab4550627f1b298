"""The capture server's ASGI application (``uvicorn packedge.capture:application``, or ``manage.py capture``).

``POST /public/v1/event`` is answered by ``events.capture``; what it does not
mirror goes to Django's ASGI handler with the machine middleware, as the WSGI
application's lean path falls back to the machine handler.
"""

from __future__ import annotations

import os

import django
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "packedge.settings")
django.setup(set_prefix=False)


class MachineASGIHandler(ASGIHandler):
    """Django's ASGI handler whose middleware is ``settings.MACHINE_MIDDLEWARE`` (as ``packedge.wsgi``'s)."""

    def load_middleware(self, is_async: bool = False) -> None:
        full_stack = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.MACHINE_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full_stack


from events.capture import CaptureApplication  # noqa: E402 - models load after django.setup()

application = CaptureApplication(fallback=MachineASGIHandler())
