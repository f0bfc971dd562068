from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from fangkong.accounts.models import User
from fangkong.accounts.services import api_token_create


class Command(BaseCommand):
    help = ("Create an API token for an integration. It acts as USERNAME, with exactly that "
            "user's role and area. The token is printed once and never stored.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what the token is for")

    def handle(self, *args, **options) -> None:
        user = User.objects.filter(username=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {options['username']!r}")
        token, clear = api_token_create(user=user, name=options["name"])
        self.stderr.write(f"token {token.name!r} for {user.username}; store it now, it is "
                          "not shown again:")
        self.stdout.write(clear)
