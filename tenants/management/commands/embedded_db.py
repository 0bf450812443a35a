import json

from django.core.management.base import BaseCommand

from metaqore_site import embedded_db


class Command(BaseCommand):
    help = "Status or stop of the embedded PostgreSQL (used when DATABASE_URL is unset)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args, action, **options):
        if action == "status":
            self.stdout.write(json.dumps(embedded_db.status(), indent=2))
        elif embedded_db.stop():
            self.stdout.write(self.style.SUCCESS("Embedded PostgreSQL stopped."))
        else:
            self.stdout.write(
                self.style.WARNING("Embedded PostgreSQL was not running: nothing to stop.")
            )
