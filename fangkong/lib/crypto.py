"""Field encryption (AES-256-GCM) and keyed blind indexes for personal data at rest.

Layout of a sealed value: b"\x01" | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag.
The field's purpose (e.g. "id_number") is bound as associated data, so a ciphertext
copied into another field does not decrypt. The blind index is an HMAC-SHA256 of the
normalised value under a separate key derived from the same master key: equal values
give equal indexes (exact lookup, duplicate detection) without revealing the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
HEADER = bytes([VERSION])
NONCE_BYTES = 12
KEY_ID_BYTES = 4
BLIND_INDEX_CHARS = 32


class DataKeyError(RuntimeError):
    """The data key is missing, malformed, or not the key this data was sealed with."""


@dataclass(frozen=True)
class Keyring:
    key_id: bytes
    aead: AESGCM
    index_key: bytes

    def seal(self, plaintext: str, *, purpose: str) -> bytes:
        return self.seal_bytes(plaintext.encode(), purpose=purpose)

    def seal_bytes(self, plaintext: bytes, *, purpose: str) -> bytes:
        """Seal any bytes (an uploaded file, a staged batch), same layout as `seal`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.aead.encrypt(nonce, plaintext, purpose.encode())
        return HEADER + self.key_id + nonce + sealed

    def open(self, token: bytes | memoryview, *, purpose: str) -> str:
        return self.open_bytes(token, purpose=purpose).decode()

    def open_bytes(self, token: bytes | memoryview, *, purpose: str) -> bytes:
        token = bytes(token)
        if len(token) < 1 + KEY_ID_BYTES + NONCE_BYTES + 16 or token[0] != VERSION:
            raise DataKeyError("not a sealed value")
        if token[1 : 1 + KEY_ID_BYTES] != self.key_id:
            raise DataKeyError(
                "this value was encrypted with another data key; "
                "set FANGKONG_DATA_KEY to the key this database was created with"
            )
        start = 1 + KEY_ID_BYTES
        nonce = token[start : start + NONCE_BYTES]
        return self.aead.decrypt(nonce, token[start + NONCE_BYTES :], purpose.encode())

    def blind_index(self, normalized: str, *, purpose: str) -> str:
        mac = hmac.new(self.index_key, purpose.encode() + b"\0" + normalized.encode(),
                       hashlib.sha256)
        return mac.hexdigest()[:BLIND_INDEX_CHARS]

    def key_id_hex(self) -> str:
        return self.key_id.hex()


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def keyring_from_secret(secret: str) -> Keyring:
    """Build the keyring from the base64 master key (32 random bytes)."""
    try:
        master = base64.urlsafe_b64decode(secret.strip().encode() + b"==")
    except ValueError as exc:
        raise DataKeyError("the data key is not valid base64") from exc
    if len(master) != 32:
        raise DataKeyError(f"the data key must be 32 bytes, got {len(master)}")
    key_id = hmac.new(master, b"fangkong key id", hashlib.sha256).digest()[:KEY_ID_BYTES]
    return Keyring(
        key_id=key_id,
        aead=AESGCM(_derive(master, b"fangkong field encryption v1")),
        index_key=_derive(master, b"fangkong blind index v1"),
    )


@lru_cache(maxsize=4)
def _keyring_for(secret: str) -> Keyring:
    return keyring_from_secret(secret)


def keyring() -> Keyring:
    """The keyring of the configured data key (settings.DATA_KEY)."""
    from django.conf import settings

    return _keyring_for(settings.DATA_KEY)


def seal(plaintext: str, *, purpose: str) -> bytes:
    return keyring().seal(plaintext, purpose=purpose)


def unseal(token: bytes | memoryview, *, purpose: str) -> str:
    return keyring().open(token, purpose=purpose)


def blind_index(normalized: str, *, purpose: str) -> str:
    return keyring().blind_index(normalized, purpose=purpose)
