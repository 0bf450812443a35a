"""The platform's Ed25519 signing key: what signs checkpoints and evidence manifests.

Where the key comes from, in order:

- ``METAQORE_SIGNING_KEY``: the 32-byte private seed in base64 (or hex), or a PKCS#8 PEM;
  rotate by changing the variable (every process must get the same value);
- otherwise ``$METAQORE_DATA_DIR/signing/ed25519.pem``, generated once (mode 0600) on first
  use; ``manage.py signing_key_rotate`` replaces it and keeps only the old public key, in
  ``signing/retired/<key_id>.pub``.

A key is named by its ``key_id``: the first 16 hex characters of sha256(raw public key). Old
public keys stay published per organization with their validity windows (``SigningKey``), so
checkpoints signed before a rotation keep verifying.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from filelock import FileLock

from metaqore_site.embedded_db import default_data_dir

ALGORITHM = "Ed25519"
KEY_ENV = "METAQORE_SIGNING_KEY"


class SigningKeyError(RuntimeError):
    """The configured signing key cannot be read."""


@dataclass(frozen=True)
class KeyPair:
    key_id: str
    private: Ed25519PrivateKey
    public_b64: str  # raw 32-byte public key, standard base64
    source: str  # "env" or the key file's path

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode("ascii")


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_for(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()[:16]


def _pair(private: Ed25519PrivateKey, source: str) -> KeyPair:
    raw = public_raw(private.public_key())
    return KeyPair(key_id_for(raw), private, base64.b64encode(raw).decode("ascii"), source)


def _from_text(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            loaded = serialization.load_pem_private_key(text.encode(), password=None)
        except ValueError as exc:
            raise SigningKeyError(f"{KEY_ENV}: not a readable PEM private key") from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise SigningKeyError(f"{KEY_ENV}: the PEM key is not an Ed25519 key")
        return loaded
    seed: bytes | None = None
    try:
        if len(text) == 64:
            seed = bytes.fromhex(text)
        else:  # standard or URL-safe base64, padding optional
            padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
            seed = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        seed = None
    if seed is None or len(seed) != 32:
        raise SigningKeyError(
            f"{KEY_ENV} must be a 32-byte Ed25519 seed in base64 or hex, or a PKCS#8 PEM"
        )
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_dir() -> Path:
    return default_data_dir() / "signing"


def _key_file() -> Path:
    return signing_dir() / "ed25519.pem"


def _write_private(path: Path, private: Ed25519PrivateKey) -> None:
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    partial = path.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.replace(partial, path)


def _load_file(path: Path) -> Ed25519PrivateKey:
    try:
        return _from_text(path.read_text())
    except SigningKeyError as exc:
        raise SigningKeyError(f"{path}: {exc}") from exc


def signing_key() -> KeyPair:
    """The current signing key (read on every call: a rotation by another process is seen)."""
    configured = os.environ.get(KEY_ENV, "").strip()
    if configured:
        return _pair(_from_text(configured), "env")
    path = _key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.parent / "signing.lock"), timeout=30):
            if not path.exists():
                _write_private(path, Ed25519PrivateKey.generate())
    return _pair(_load_file(path), str(path))


def signing_key_rotate() -> tuple[KeyPair, KeyPair]:
    """Replace the data-dir key by a new one; (old, new). The old private key is destroyed,
    its public key kept in ``signing/retired/``."""
    if os.environ.get(KEY_ENV, "").strip():
        raise SigningKeyError(
            f"The key comes from {KEY_ENV}: rotate it by setting a new value in every process."
        )
    old = signing_key()
    path = _key_file()
    with FileLock(str(path.parent / "signing.lock"), timeout=30):
        retired = signing_dir() / "retired"
        retired.mkdir(exist_ok=True)
        (retired / f"{old.key_id}.pub").write_text(old.public_b64 + "\n")
        _write_private(path, Ed25519PrivateKey.generate())
    return old, signing_key()


def signature_valid(public_b64: str, signature_b64: str, message: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
        key.verify(base64.b64decode(signature_b64), message)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
