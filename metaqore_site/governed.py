"""Marks that a save or delete of a governed row is audited by the service making it.

A service calls ``mark_audited(instance)`` right before ``save()``/``delete()``; the audit
receivers that catch ORM writes made elsewhere (compliance.audit.connect_audit_signals) then
leave that one write to the service. It lives at the bottom of the import graph so that every
app, the identity layer included, can mark its writes.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import models

_MARK = "_compliance_audited"
ModelT = TypeVar("ModelT", bound=models.Model)


def mark_audited(instance: ModelT) -> ModelT:
    """Tell the audit receivers that the caller (a service) audits this save/delete itself.

    Call it right before ``instance.save()`` / ``instance.delete()``; the mark is consumed by
    that one save or delete, so a later plain ``save()`` of the same object is audited again.
    """
    setattr(instance, _MARK, True)
    return instance


def is_marked(instance: models.Model) -> bool:
    return bool(getattr(instance, _MARK, False))


def consume_mark(instance: models.Model) -> bool:
    return bool(instance.__dict__.pop(_MARK, False))
