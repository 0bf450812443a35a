"""``python -m metaqore_client …`` runs the ``metaqore`` CLI (where scripts are not on PATH)."""

import sys

from metaqore_client.cli import main

sys.exit(main())
