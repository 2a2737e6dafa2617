"""The service's Ed25519 signing key, for transcripts.

Generated on first use and kept with the gradebook's data (``<data_dir>/transcript-ed25519.pem``,
PKCS#8, mode 0600); only the public key is ever served. Every process that shares the data
directory signs with the same key; a deployment on several machines copies that one file
(or shares the directory), or transcripts would carry different key ids.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from autograder.settings import Settings
from course.learner.transcript import canonical_json

KEY_FILE = "transcript-ed25519.pem"


def key_path(settings: Settings) -> Path:
    return settings.data_path / KEY_FILE


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def public_pem(self) -> str:
        return self.public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def public_json(self) -> dict:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"algorithm": "Ed25519", "key_id": self.key_id, "public_key": base64.b64encode(raw).decode(),
                "pem": self.public_pem()}

    def sign(self, document: dict) -> dict:
        """``{"transcript": document, "signature": {...}}``: Ed25519 over ``canonical_json(document)``."""
        sig = self.private.sign(canonical_json(document))
        return {"transcript": document,
                "signature": {"algorithm": "Ed25519", "key_id": self.key_id,
                              "value": base64.b64encode(sig).decode()}}


def load_or_create(settings: Settings) -> SigningKey:
    """The service's key, generated the first time it is needed (written whole to a private
    temporary file, then hard-linked into place: two processes starting at once agree)."""
    path = key_path(settings)
    if not path.is_file():
        settings.ensure_data_dir()
        pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return SigningKey(private)
