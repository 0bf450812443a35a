#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
    if sys.argv[1:2] == ["embedded_db"]:  # inspect or stop the embedded server, never start it
        os.environ["METAQORE_EMBEDDED_NO_START"] = "1"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
