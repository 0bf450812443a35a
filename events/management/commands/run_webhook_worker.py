import signal
import time

import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from compliance.models import EVENTS_CHANNEL
from events.listener import listen_params
from events.webhook_delivery import webhooks_run_once


class Command(BaseCommand):
    help = (
        "Deliver webhooks: read new live events from every organization's audit trail and POST "
        "them, signed, with retries. Runs until stopped (wakes on NOTIFY, and every --interval "
        "seconds for retries); --once makes a single pass. Several workers may run side by side."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--interval", type=float, default=2.0, help="seconds between passes when idle"
        )
        parser.add_argument(
            "--org", action="append", dest="orgs", help="only this organization (repeatable)"
        )

    def handle(self, *args, once, interval, orgs, **options):
        if interval <= 0:
            raise CommandError("--interval must be > 0.")
        if once:
            self._report(webhooks_run_once(organizations=orgs))
            return
        self._stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        self.stdout.write(f"Webhook worker: delivering (idle passes every {interval:g} s).")
        listener = None
        try:
            while not self._stopping:
                result = webhooks_run_once(organizations=orgs)
                if result.delivered or result.failed_attempts or result.disabled:
                    self._report(result)
                close_old_connections()
                listener = self._wait(listener, interval)
        except KeyboardInterrupt:
            pass
        finally:
            if listener is not None:
                listener.close()

    def _stop(self, *_args) -> None:
        self._stopping = True

    @staticmethod
    def _wait(listener, interval: float):
        """Sleep until a live event is committed somewhere, or ``interval`` seconds."""
        try:
            if listener is None or listener.closed:
                listener = psycopg.connect(autocommit=True, **listen_params())
                listener.execute(f"LISTEN {EVENTS_CHANNEL}")
            for _note in listener.notifies(timeout=interval, stop_after=1):
                pass
        except psycopg.Error:
            if listener is not None:
                listener.close()
            time.sleep(interval)
            return None
        return listener

    def _report(self, result) -> None:
        self.stdout.write(
            f"Webhooks: {result.enqueued} queued, {result.delivered} delivered, "
            f"{result.failed_attempts} failed attempts, {result.disabled} disabled."
        )
