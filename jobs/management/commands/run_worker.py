from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from jobs.worker import stalled_jobs_recover, worker_app, worker_options


class Command(BaseCommand):
    help = (
        "Run a background worker (Procrastinate): webhook deliveries, HMCP and compliance jobs, "
        "the periodic schedules. Runs until SIGTERM/SIGINT (running jobs get "
        "METAQORE_WORKER_SHUTDOWN_SECONDS to finish); --once runs the due jobs and exits. "
        "Start as many as you like, on as many machines: they share the queue in PostgreSQL."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="jobs run at once by this worker (default METAQORE_WORKER_CONCURRENCY)",
        )
        parser.add_argument(
            "--queue", action="append", dest="queues", help="only this queue (repeatable)"
        )
        parser.add_argument("--name", default=None, help="the worker's name in logs and jobs")
        parser.add_argument(
            "--once", action="store_true", help="run the jobs due now, then exit (no schedules)"
        )

    def handle(self, *args, concurrency, queues, name, once, **options):
        concurrency = settings.METAQORE_WORKER_CONCURRENCY if concurrency is None else concurrency
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1.")
        recovered = stalled_jobs_recover()
        if recovered:
            self.stdout.write(f"Recovered {len(recovered)} stalled job(s) of dead workers.")
        connections.close_all()
        if not once:
            self.stdout.write(
                f"Worker {name or 'worker'}: {concurrency} at a time, "
                f"queues {', '.join(queues) if queues else 'all'}."
            )
            self.stdout.flush()
        options = worker_options(concurrency=concurrency, queues=queues, name=name, wait=not once)
        with worker_app(schedules=not once) as app:
            app.run_worker(**options)
