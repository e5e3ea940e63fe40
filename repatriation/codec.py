"""Encryption of every workflow and activity payload (AES-256-GCM), so that nothing personal
rests in plain text in the Temporal server's database.

Each encrypted payload names its key (`encryption-key-id`): keys can be rotated by adding a
new one and making it active, while the old ones still decrypt what they encrypted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from repatriation.settings import Settings

ENCODING = b"binary/encrypted"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._active]
        out = []
        for payload in payloads:
            nonce = os.urandom(12)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), self._active.encode())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, "encryption-key-id": self._active.encode()},
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)  # written before encryption was on
                continue
            kid = payload.metadata.get("encryption-key-id", b"").decode()
            cipher = self._ciphers.get(kid)
            if cipher is None:
                raise ValueError(f"payload encrypted with key {kid!r}, which is not configured")
            plain = cipher.decrypt(payload.data[:12], payload.data[12:], kid.encode())
            out.append(Payload.FromString(plain))
        return out


def codec_for(settings: Settings) -> EncryptionCodec:
    keys, active = settings.encryption_keys()
    return EncryptionCodec(keys, active)


def data_converter(settings: Settings) -> DataConverter:
    """The pydantic data converter, with every payload encrypted, failures' messages and stack
    traces included: an error's text may quote the data it failed on (a database error quoting
    a row, a validation error its input), and the history keeps it as long as the case."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec_for(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
