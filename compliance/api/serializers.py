from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance.chain import EVENT_FIELDS, format_timestamp
from compliance.checkpoints import checkpoint_as_dict
from compliance.erasure import MAX_EQUALS, MAX_NUMBER, SubjectError, erasure_subject_clean
from compliance.models import AuditEvent, AuditVerification, Erasure


class CanonicalTimestampField(serializers.DateTimeField):
    """UTC with microseconds, exactly as hashed (``2025-01-31T12:00:00.000000Z``)."""

    def to_representation(self, value):
        return format_timestamp(value)


class AuditEventSerializer(serializers.ModelSerializer):
    timestamp = CanonicalTimestampField(read_only=True)
    redacted = serializers.BooleanField(
        read_only=True, help_text="Personal fields erased by the erasure `erasure_id`."
    )

    class Meta:
        model = AuditEvent
        fields = [*EVENT_FIELDS, "redacted"]
        read_only_fields = fields


class UnauditedChangeSerializer(serializers.Serializer):
    """A change of a governed table whose transaction wrote no audit event."""

    table = serializers.CharField()
    row_id = serializers.CharField()
    txid = serializers.IntegerField()
    at = serializers.CharField()
    operation = serializers.CharField()
    actor = serializers.CharField(help_text="metaqore.actor when it was declared, else empty")


class VerifyResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=AuditVerification.KINDS)
    from_seq = serializers.IntegerField(help_text="First event checked (after a checkpoint).")
    through_seq = serializers.IntegerField()
    events_checked = serializers.IntegerField()
    checkpoints_checked = serializers.IntegerField()
    first_bad_seq = serializers.IntegerField(allow_null=True)
    head_hash = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    verification_id = serializers.CharField()
    unaudited_changes = UnauditedChangeSerializer(many=True)


class VerificationSerializer(serializers.ModelSerializer):
    requested_at = CanonicalTimestampField(read_only=True)
    finished_at = CanonicalTimestampField(read_only=True, allow_null=True)

    class Meta:
        model = AuditVerification
        fields = [
            "id",
            "kind",
            "status",
            "requested_by",
            "requested_at",
            "finished_at",
            "from_seq",
            "through_seq",
            "events_total",
            "events_checked",
            "checkpoints_checked",
            "first_bad_seq",
            "reason",
        ]
        read_only_fields = fields


class CheckpointSerializer(serializers.Serializer):
    """A signed checkpoint as published: verify ``signature`` over the canonical JSON of
    ``format, org, seq, event_count, head_hash, at, previous_checkpoint_hash, key_id``."""

    format = serializers.CharField()
    id = serializers.CharField()
    org = serializers.CharField()
    seq = serializers.IntegerField()
    event_count = serializers.IntegerField()
    head_hash = serializers.CharField()
    at = serializers.CharField()
    previous_checkpoint_hash = serializers.CharField()
    checkpoint_hash = serializers.CharField()
    key_id = serializers.CharField()
    signature = serializers.CharField()
    kind = serializers.CharField()
    requested_by = serializers.CharField()

    def to_representation(self, instance):
        return checkpoint_as_dict(instance, self.context["org"])


class PublicKeySerializer(serializers.Serializer):
    key_id = serializers.CharField()
    algorithm = serializers.CharField()
    public_key = serializers.CharField(help_text="Raw 32-byte Ed25519 public key, base64.")
    valid_from = serializers.CharField(allow_null=True)
    valid_until = serializers.CharField(allow_null=True)


class PublicKeysSerializer(serializers.Serializer):
    current_key_id = serializers.CharField()
    keys = PublicKeySerializer(many=True)


class ErasureSerializer(serializers.ModelSerializer):
    requested_at = CanonicalTimestampField(read_only=True)
    approved_at = CanonicalTimestampField(read_only=True, allow_null=True)
    executed_at = CanonicalTimestampField(read_only=True, allow_null=True)

    class Meta:
        model = Erasure
        fields = [
            "id",
            "subject",
            "reason",
            "status",
            "requested_by",
            "requested_at",
            "approved_by",
            "approved_at",
            "executed_at",
            "events_redacted",
        ]
        read_only_fields = fields


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "maxLength": 206, "description": "agent:<name> or user:<name>"},
            {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "maxLength": 1100, "example": "payload.email"},
                    "equals": {
                        "oneOf": [
                            {"type": "string", "maxLength": MAX_EQUALS},
                            {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER},
                            {"type": "boolean"},
                        ]
                    },
                },
                "required": ["field", "equals"],
                "additionalProperties": False,
            },
        ]
    }
)
class ErasureSubjectField(serializers.JSONField):
    """What an erasure removes: the events of an actor, or the payloads holding a value."""


class ErasureRequestSerializer(serializers.Serializer):
    subject = ErasureSubjectField(
        help_text='"agent:<name>", "user:<name>" or {"field": "payload.<path>", "equals": value}'
    )
    reason = serializers.CharField(max_length=2000)

    def validate_subject(self, value):
        try:
            return erasure_subject_clean(value)
        except SubjectError as exc:
            raise serializers.ValidationError(str(exc)) from exc
