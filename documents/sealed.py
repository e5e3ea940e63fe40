"""Documents sealed at rest: every PDF the store keeps is encrypted on disk (AES-256-GCM), with
the keys that encrypt the workflows' payloads (repatriation/codec.py), so that a copied disk or
backup of the documents folder shows nobody's name. Whoever may read a document gets it opened
by the service (a download, a mail's attachment); nobody opens the file directly.

A sealed file names its key, so keys rotate as the payloads' do: a new key seals what is written
from then on, and the old ones still open what they sealed. A file written before sealing was on
(a plain PDF) is read as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from repatriation.settings import Settings

MAGIC = b"REPATRIATION-SEALED-1\n"
SUFFIX = ".sealed"


class SealedFileError(ValueError):
    pass


class Sealer:
    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"the active key {active!r} is not among the keys")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = active

    @classmethod
    def for_settings(cls, settings: Settings) -> Sealer:
        keys, active = settings.encryption_keys()
        return cls(keys, active)

    def seal(self, data: bytes) -> bytes:
        kid = self._active.encode()
        nonce = os.urandom(12)
        header = MAGIC + len(kid).to_bytes(1, "big") + kid
        return header + nonce + self._ciphers[self._active].encrypt(nonce, data, header)

    def open(self, data: bytes) -> bytes:
        if not data.startswith(MAGIC):
            return data  # written before documents were sealed
        at = len(MAGIC)
        size = data[at]
        kid = data[at + 1 : at + 1 + size]
        header, rest = data[: at + 1 + size], data[at + 1 + size :]
        name = kid.decode(errors="replace")
        cipher = self._ciphers.get(name)
        if cipher is None:
            raise SealedFileError(f"sealed with key {name!r}, which is not configured")
        return cipher.decrypt(rest[:12], rest[12:], header)

    def read(self, path: Path) -> bytes:
        return self.open(path.read_bytes())

    def write(self, path: Path, data: bytes) -> None:
        """Atomically: a reader finds the whole file or none."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.seal(data))
        os.replace(tmp, path)
