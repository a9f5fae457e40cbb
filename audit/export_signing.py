"""Ed25519 signatures on audit exports, which anyone holding the public key can check.

Every event already carries an HMAC (``AuditEvent.mac``), but a key that checks an HMAC can also
forge one, so it proves nothing to a third party (an internal auditor's counterpart at the NAO, a
court). An export's manifest is therefore signed with an Ed25519 key: the private half stays on the
site (``HUMPHREY_AUDIT_EXPORT_KEY_PATH``, made on first use, readable by the site's account only),
and the public half is recorded in the trail itself (``audit.export_key``, chained and anchored
like any event) and printed by ``manage.py audit_export_key`` for whoever must check exports.

The signature covers the manifest's canonical JSON (sorted keys, no spaces, UTF-8), which holds the
SHA-256 of every line above it: so one signature vouches for the whole file.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

ALGORITHM = "Ed25519"


class ExportKeyError(Exception):
    """The signing key file cannot be read or made (a clear message, never the key)."""


@dataclass(frozen=True)
class ExportKey:
    private: Ed25519PrivateKey
    public_pem: str
    key_id: str


def canonical_manifest(manifest: dict) -> bytes:
    """The bytes a manifest's signature covers: every field but ``signature``, canonical JSON."""
    unsigned = {name: value for name, value in manifest.items() if name != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id_of(key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of the SHA-256 of its raw 32 bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _key_path() -> Path:
    return Path(settings.HUMPHREY_AUDIT_EXPORT_KEY_PATH)


def _create(path: Path) -> None:
    """Write a new private key, readable by this account only; lose no race to another process."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first: use theirs
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


@functools.lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int) -> ExportKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ExportKeyError(f"The audit export key at {path} cannot be read: {exc.__class__.__name__}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ExportKeyError(f"The audit export key at {path} is not an Ed25519 private key")
    public = private.public_key()
    return ExportKey(private=private, public_pem=public_pem(public), key_id=key_id_of(public))


def export_key() -> ExportKey:
    """The site's export signing key, made on first use (replace the file to rotate it)."""
    path = _key_path()
    if not path.exists():
        try:
            _create(path)
        except OSError as exc:
            raise ExportKeyError(f"The audit export key cannot be made at {path}: {exc.strerror}") from None
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ExportKeyError(f"The audit export key at {path} cannot be read: {exc.strerror}") from None
    return _load(path, mtime)


def sign_manifest(manifest: dict, key: ExportKey) -> dict:
    """``manifest`` with its ``signature``: algorithm, key id, public key and the signature (base64)."""
    signature = key.private.sign(canonical_manifest(manifest))
    return {
        **manifest,
        "signature": {
            "algorithm": ALGORITHM,
            "key_id": key.key_id,
            # For convenience only: trust a key from the trail or from the site's owner, not from the file.
            "public_key": key.public_pem,
            "value": base64.b64encode(signature).decode("ascii"),
        },
    }


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """A public key from PEM text; ValueError if it is not an Ed25519 public key."""
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signature_problem(manifest: dict, trusted: dict[str, Ed25519PublicKey]) -> str | None:
    """Why ``manifest``'s signature does not hold under one of ``trusted`` (key id -> key), or None."""
    signature = manifest.get("signature")
    if not isinstance(signature, dict):
        return "the manifest is not signed"
    if signature.get("algorithm") != ALGORITHM:
        return f"the manifest is signed with {signature.get('algorithm')!r}, not {ALGORITHM}"
    key = trusted.get(str(signature.get("key_id")))
    if key is None:
        return f"the manifest is signed with key {signature.get('key_id')!r}, which is not a trusted key"
    try:
        key.verify(base64.b64decode(str(signature.get("value")), validate=True), canonical_manifest(manifest))
    except (InvalidSignature, ValueError):
        return f"the manifest's signature does not verify under key {signature.get('key_id')}: it was altered"
    return None
