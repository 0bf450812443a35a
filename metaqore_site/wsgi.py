import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
application = get_wsgi_application()

from metaqore_site.heap import freeze_loaded_heap  # noqa: E402 (needs Django set up)

freeze_loaded_heap()  # metaqore_site.heap says why
