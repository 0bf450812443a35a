"""Every serializer gets its own fields, copied from prototypes built once per class
(metaqore_site.api.serializers.unbound_copy): a copy behaves as DRF's deep copy does, and
nothing one request binds or changes reaches another request's fields."""

from __future__ import annotations

import copy

import pytest
from django.urls import get_resolver
from rest_framework import serializers

from artifacts.api.serializers import ArtifactSerializer
from metaqore_site.api.serializers import StrictModelSerializer, unbound_copy

pytestmark = pytest.mark.django_db


def every_strict_serializer() -> list[type[StrictModelSerializer]]:
    get_resolver().url_patterns  # imports every view, and so every serializer
    found, pending = [], [StrictModelSerializer]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found


def test_copies_equal_drfs_deep_copies_for_every_serializer(org_a):
    classes = every_strict_serializer()
    assert ArtifactSerializer in classes and len(classes) > 10
    for serializer_class in classes:
        serializer_class().fields  # builds the class's prototypes
        for name, field in StrictModelSerializer._field_prototypes[serializer_class].items():
            # A field's repr lists its class and every argument it was built with.
            assert repr(unbound_copy(field)) == repr(copy.deepcopy(field)), (
                serializer_class.__name__,
                name,
            )


def test_each_serializer_binds_its_own_copies():
    first, second = ArtifactSerializer(context={"n": 1}), ArtifactSerializer(context={"n": 2})
    paths_first, paths_second = first.fields["file_paths"], second.fields["file_paths"]
    assert paths_first is not paths_second
    assert paths_first.parent is first and paths_second.parent is second
    # The inner field belongs to its own list, so it reaches its own serializer's context.
    assert paths_first.child is not paths_second.child
    assert paths_first.child.parent is paths_first
    assert paths_first.child.context == {"n": 1} and paths_second.child.context == {"n": 2}
    prototype = StrictModelSerializer._field_prototypes[ArtifactSerializer]["file_paths"]
    assert prototype.parent is None and prototype.field_name is None


def test_a_change_to_one_copys_validators_stays_in_that_copy():
    def refuse(value):
        raise serializers.ValidationError("refused")

    changed = ArtifactSerializer().fields["artifact_type"]
    changed.validators.append(refuse)
    assert refuse not in ArtifactSerializer().fields["artifact_type"].validators
    prototype = StrictModelSerializer._field_prototypes[ArtifactSerializer]["artifact_type"]
    assert refuse not in prototype.validators


@pytest.mark.parametrize(
    ("paths", "errors"),
    [(["ok.py", 5], {1: ["Expected a string."]}), (["a\nb.py"], {0: None})],
    ids=["not-a-string", "line-break"],
)
def test_inner_fields_report_their_own_errors(org_a, paths, errors):
    serializer = ArtifactSerializer(
        data={"project_id": "proj_x", "artifact_type": "code", "data": {}, "file_paths": paths}
    )
    assert not serializer.is_valid()
    reported = serializer.errors["file_paths"]
    assert set(reported) == set(errors)
    for index, messages in errors.items():
        if messages is not None:
            assert reported[index] == messages
