from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from fangkong.places.models import Area, AreaKind
from fangkong.places.services import area_create


class Command(BaseCommand):
    help = ("Add an area: a city at the top, then districts, streets, communities and grids, "
            "each under its parent (given by path or official code).")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--kind", required=True, choices=AreaKind.values)
        parser.add_argument("--name", required=True)
        parser.add_argument("--parent", default="", help="path or official code of the parent")
        parser.add_argument("--code", default="",
                            help="official code (GB/T 2260 for cities and districts)")

    def handle(self, *args, **options) -> None:
        parent = None
        if options["parent"]:
            parent = (Area.objects.filter(path=options["parent"]).first()
                      or Area.objects.filter(code=options["parent"]).first())
            if parent is None:
                raise CommandError(f"no area with path or code {options['parent']!r}")
        try:
            area = area_create(kind=options["kind"], name=options["name"], parent=parent,
                               code=options["code"])
        except ValidationError as exc:
            raise CommandError("; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())) \
                from exc
        self.stdout.write(f"{area.path}\t{area.name}")
