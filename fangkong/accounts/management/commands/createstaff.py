from __future__ import annotations

import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from fangkong.accounts.models import Role
from fangkong.accounts.services import staff_create
from fangkong.places.models import Area


class Command(BaseCommand):
    help = ("Create a staff account with a role and an area. The area is given by its "
            "official code, its path, or its exact name.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--area", required=True, help="code, path or name of the area")
        parser.add_argument("--name", default="", help="full name shown in the app")
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from standard input")

    def handle(self, *args, **options) -> None:
        key = options["area"]
        areas = list(Area.objects.filter(Q(code=key) | Q(path=key) | Q(name=key))[:3])
        if not areas:
            raise CommandError(f"no area with code, path or name {key!r}")
        if len(areas) > 1:
            paths = ", ".join(a.path for a in areas)
            raise CommandError(f"{key!r} matches several areas ({paths}); give the path")
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("password: ")
            if password != getpass.getpass("again: "):
                raise CommandError("the passwords differ")
        try:
            user = staff_create(username=options["username"], password=password,
                                role=options["role"], area=areas[0],
                                full_name=options["name"])
        except ValidationError as exc:
            raise CommandError("; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())) \
                from exc
        self.stdout.write(f"created {user.username} ({user.role}) at {areas[0].path} "
                          f"{areas[0].name}")
