"""Audit ORM writes of webhooks that did not come through events.webhooks (shell, admin
without the service): recorded with actor ``system``. The worker's bookkeeping (cursor,
failure state) uses ``QuerySet.update`` and is not an audited change."""

from compliance.audit import connect_audit_signals
from events.models import Webhook
from events.webhooks import AUDITED_FIELDS

connect_audit_signals(Webhook, thing="webhook", fields=AUDITED_FIELDS)
