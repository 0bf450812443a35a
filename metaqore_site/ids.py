"""Public ids: a readable prefix plus 16 random hex characters (``proj_3f9c…``)."""

import secrets


def public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
