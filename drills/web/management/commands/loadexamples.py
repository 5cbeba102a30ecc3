from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load (or refresh) the example playbooks from examples/ as new versions."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--owner", default="admin", help="username that owns new playbooks")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        from drills.cli.demo import load_examples

        owner = get_user_model().objects.filter(username=options["owner"]).first()
        load_examples(owner, self.stdout.write)
