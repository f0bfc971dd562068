"""The ASGI application that `fangkong serve` runs.

Django's ASGI handler runs the sync code of every request in a thread, so a burst of 200
open connections (gate devices, a morning rush) would be up to 200 threads per process
fighting for the GIL, each holding a database connection of its own (PostgreSQL refuses
past `max_connections`). `InFlightLimit` lets at most `FANGKONG_MAX_IN_FLIGHT` requests
(4 unless set) into Django at a time per process; the others wait in the event loop, in
order, and are never refused.
"""

import asyncio
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fangkong.settings")


class InFlightLimit:
    """An ASGI wrapper: at most `limit` HTTP requests at a time inside `app`."""

    def __init__(self, app, limit: int) -> None:  # noqa: ANN001
        self.app, self.limit = app, max(1, limit)
        self.slots: asyncio.Semaphore | None = None

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.slots is None:  # made in the server's event loop
            self.slots = asyncio.Semaphore(self.limit)
        async with self.slots:
            await self.app(scope, receive, send)


def _limit() -> int:
    from django.conf import settings

    return int(getattr(settings, "MAX_IN_FLIGHT", 4))


django_application = get_asgi_application()
application = InFlightLimit(django_application, _limit())
