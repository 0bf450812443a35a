"""The platform admin: a superuser of the public schema, who signs in to the bare host's
``/admin/`` and manages organizations and their domains (never an org's own data)."""

import getpass
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context


class Command(BaseCommand):
    help = (
        "Create the platform admin (a superuser of the public schema) who manages organizations "
        "and domains at http://localhost:<port>/admin/."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--password", help="the password (asked for on a terminal when left out)"
        )
        parser.add_argument("--email", default="")

    def handle(self, *args, username, password, email, **options):
        if password is None:
            if not sys.stdin.isatty():
                raise CommandError("Give --password (no terminal to ask on).")
            password = getpass.getpass("Password: ")
        User = get_user_model()
        with schema_context(get_public_schema_name()), transaction.atomic():
            if User.objects.filter(username=username).exists():
                raise CommandError(f"The platform admin '{username}' already exists.")
            candidate = User(username=username, email=email)
            try:
                validate_password(password, candidate)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
            User.objects.create_superuser(username, email, password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created platform admin '{username}': sign in at http://localhost:<port>/admin/ "
                "to manage organizations and domains."
            )
        )
