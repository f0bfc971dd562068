from __future__ import annotations

import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from fangkong.accounts.models import User
from fangkong.followup.simulate import demo_followup
from fangkong.places.models import Area
from fangkong.synth.demo import DEMO_SPEC, DEMO_STAFF, demo_logins, demo_staff_create
from fangkong.synth.demo_care import demo_care_create
from fangkong.synth.demo_gates import demo_gates_create
from fangkong.synth.load import load_city

ROLE_NAMES = {"root": "超级管理员 (superuser, /admin/)"}


class Command(BaseCommand):
    help = "Create the database, load the demo city once, print the logins and serve."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true",
                            help="prepare the database and print the logins, then exit")

    def handle(self, *args, **options) -> None:
        # The demo's residents are made up: its channels are the simulated carrier, in this
        # process (the simulated day, the embedded worker) and later ones (var/'s logins).
        settings.SIMULATE_CHANNELS = True
        err = self.stderr
        err.write(f"database: {connection.settings_dict['NAME']}")
        call_command("migrate", interactive=False, verbosity=0)
        if not Area.objects.exists():
            err.write(f"loading the demo city ({DEMO_SPEC.residents:,} residents) ...")

            def progress(done: int, total: int) -> None:
                pct = min(100, done * 100 // max(total, 1))
                sys.stderr.write(f"\r  [{'#' * (pct // 4):<25}] {pct:3d}%")
                sys.stderr.flush()

            report = load_city(DEMO_SPEC, progress=progress)
            sys.stderr.write("\n")
            err.write(f"loaded {report.residents:,} residents in {report.households:,} "
                      f"households, {report.grids} grids, in {report.seconds:.1f} s")
            demo_staff_create()
            err.write("making the shift rota of the first community ...")
            care = demo_care_create(
                secretary=User.objects.get(username="secretary"),
                staff=list(User.objects.filter(username__in=["worker", "grid"])
                           .order_by("username")),
                admin=User.objects.get(username="admin"))
            err.write(f"{care.community}: {care.staff} staff on the rota, "
                      f"{care.shifts_worked} shifts worked, {care.shifts_ahead} ahead")
            gates = demo_gates_create(
                secretary=User.objects.get(username="secretary"),
                guards=list(User.objects.filter(username__in=["guard", "volunteer"])
                            .order_by("username")))
            err.write(f"{gates.gates} gates, {gates.passes:,} passes, {gates.passages} "
                      f"passages over the last day ({gates.refused} refused)")
            err.write("running the follow-up campaigns over the last day (simulated) ...")
            report = demo_followup(days=1, progress=progress)
            sys.stderr.write("\n")
            err.write(f"{report.rounds} rounds, {report.contacts:,} contacts, "
                      f"{report.answered:,} answered, {report.alerts:,} alerts")
        logins = demo_logins()
        url = f"http://{options['host']}:{options['port']}/"
        out = self.stdout
        out.write("")
        out.write(f"fangkong demo: {url}")
        out.write("logins (user / password / role):")
        roles = {u: str(r.label) for u, r, _, _ in DEMO_STAFF}
        for user, password in logins.items():
            out.write(f"  {user:<10} {password:<16} {roles.get(user, ROLE_NAMES.get(user, ''))}")
        if not logins:
            out.write("  (this database was not created by the demo: use your own accounts)")
        out.write("")
        if options["no_serve"]:
            return
        call_command("serve", host=options["host"], port=options["port"], no_migrate=True)
