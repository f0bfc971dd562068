from __future__ import annotations

import socket

import uvicorn
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from fangkong.jobs.worker import start_embedded_worker
from fangkong.lib.logs import uvicorn_log_config

APP = "fangkong.asgi:application"


def listening_socket(host: str, port: int) -> socket.socket:
    """The shared socket of several server processes, made with protocol IPPROTO_TCP:
    asyncio turns Nagle's algorithm off (TCP_NODELAY) only on such sockets, and the one
    uvicorn 0.54 makes for `--workers` has protocol 0, which delays every response by
    about 40 ms."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def serve_web(*, host: str, port: int, workers: int = 1) -> None:
    """Serve the web app with uvicorn until stopped (one process, or `workers`)."""
    config = uvicorn.Config(APP, host=host, port=port, workers=workers, log_level="info",
                            log_config=uvicorn_log_config(), proxy_headers=True,
                            lifespan="off")
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[listening_socket(host, port)]).run()


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
        if options["workers"] > 1 and connection.vendor == "sqlite":
            self.stderr.write(
                "warning: several web processes writing one SQLite file is for trying out "
                "only (docs/configuration.md); use PostgreSQL (DATABASE_URL) for more than "
                "one process")
        stop = None
        if not options["no_worker"]:
            _, stop = start_embedded_worker()
        try:
            serve_web(host=options["host"], port=options["port"],
                      workers=options["workers"])
        finally:
            if stop is not None:
                stop.set()
