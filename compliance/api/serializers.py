from rest_framework import serializers

from compliance.chain import EVENT_FIELDS, format_timestamp
from compliance.models import AuditEvent


class CanonicalTimestampField(serializers.DateTimeField):
    """UTC with microseconds, exactly as hashed (``2025-01-31T12:00:00.000000Z``)."""

    def to_representation(self, value):
        return format_timestamp(value)


class AuditEventSerializer(serializers.ModelSerializer):
    timestamp = CanonicalTimestampField(read_only=True)

    class Meta:
        model = AuditEvent
        fields = list(EVENT_FIELDS)
        read_only_fields = fields


class VerifyResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    first_bad_seq = serializers.IntegerField(allow_null=True)
    head_hash = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
