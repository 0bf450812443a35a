from django.core.management.base import BaseCommand, CommandError

from compliance.signing import SigningKeyError, signing_key_rotate


class Command(BaseCommand):
    help = (
        "Replace the platform's checkpoint signing key (the one generated in "
        "METAQORE_DATA_DIR/signing). Old checkpoints keep verifying: each org keeps the old "
        "public key with its validity window. With METAQORE_SIGNING_KEY set, change that instead."
    )

    def handle(self, *args, **options):
        try:
            old, new = signing_key_rotate()
        except SigningKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Signing key rotated: {old.key_id} retired, {new.key_id} current.")
