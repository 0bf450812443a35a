"""The journeys' organization is committed where the live server can read it.

Marked ``django_db`` for a second reason: pytest-django creates and migrates the test database
only for the databases that ``django_db`` tests ask for, and the journeys (which read committed
data through a live server) are not marked. Without this test, running ``tests/browser`` on its
own (``make screenshots``) found no test database.
"""

from __future__ import annotations

import pytest

from tenants.models import Domain, Organization


@pytest.mark.django_db
def test_the_journeys_org_is_committed_with_its_domain(browser_org):
    assert Organization.objects.filter(pk=browser_org.pk).exists()
    assert Domain.objects.filter(tenant=browser_org).exists()
