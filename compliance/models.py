"""The append-only audit trail (filled by the compliance work, issue #4)."""
