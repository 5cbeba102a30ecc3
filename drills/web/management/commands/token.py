"""`manage.py token create --as USER NAME`: an API token for a pipeline, made without a
browser (printed once, on standard output alone, so `T=$(manage.py token create …)` works);
`token list --as USER` and `token revoke --as USER PREFIX` as on the API tokens page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from drills.web.audit import cli_origin
from drills.web.models import ApiToken
from drills.web.token_issuing import create_token, revoke_token


class Command(BaseCommand):
    help = "Make (shown once), list or revoke a user's API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token and print it (this once)")
        create.add_argument("--as", dest="user", required=True, help="whose token it is")
        create.add_argument("name", help="where it is used, e.g. ci-pipeline")
        listing = actions.add_parser("list", help="a user's tokens: prefix, name, made, used")
        listing.add_argument("--as", dest="user", required=True)
        revoke = actions.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("--as", dest="user", required=True)
        revoke.add_argument("prefix", help="the token's first characters, as listed")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"there is no user {options['user']}")
        if options["action"] == "create":
            try:
                made = create_token(user, options["name"], cli_origin())
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            self.stderr.write(
                f"Made token {made.token.prefix}… “{made.token.name}” for "
                f"{user.get_username()}; it is shown this once:"
            )
            self.stdout.write(made.secret)
            return
        tokens = ApiToken.objects.filter(user=user)
        if options["action"] == "list":
            for t in tokens:
                used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                state = f", revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else ""
                self.stdout.write(
                    f"{t.prefix}…  {t.name}  made {t.created_at:%Y-%m-%d %H:%M}, last used "
                    f"{used}{state}"
                )
            if not tokens:
                self.stdout.write(f"{user.get_username()} has no API tokens")
            return
        prefix = options["prefix"].rstrip("…").rstrip(".")
        token = tokens.filter(prefix=prefix).first()
        if token is None:
            raise CommandError(f"{user.get_username()} has no token {prefix}…")
        if revoke_token(token, cli_origin()):
            self.stdout.write(f"revoked {token.prefix}… “{token.name}”")
        else:
            self.stdout.write(f"{token.prefix}… was already revoked")
