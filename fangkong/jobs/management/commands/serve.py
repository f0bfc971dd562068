from __future__ import annotations

import uvicorn
from django.core.management import call_command
from django.core.management.base import BaseCommand

from fangkong.jobs.worker import start_embedded_worker
from fangkong.lib.logs import uvicorn_log_config


class Command(BaseCommand):
    help = "Serve the web app with uvicorn (ASGI) and run one embedded background worker."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1,
                            help="web server processes (default 1)")
        parser.add_argument("--no-worker", action="store_true",
                            help="do not run the embedded background worker")
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, **options) -> None:
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        stop = None
        if not options["no_worker"]:
            _, stop = start_embedded_worker()
        try:
            uvicorn.run("fangkong.asgi:application", host=options["host"],
                        port=options["port"], workers=options["workers"],
                        log_level="info", log_config=uvicorn_log_config(),
                        proxy_headers=True, lifespan="off")
        finally:
            if stop is not None:
                stop.set()
