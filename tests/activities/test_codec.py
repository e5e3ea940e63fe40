"""The payload codec: AES-GCM with a key id in every payload, several keys for rotation."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload

from repatriation.codec import ENCODING, EncryptionCodec
from repatriation.settings import Settings


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_the_data_and_names_the_key() -> None:
    codec = EncryptionCodec({"k1": os.urandom(32)}, "k1")
    [sealed] = await codec.encode([payload('{"etd": "SPLP-0042"}')])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata["encryption-key-id"] == b"k1"
    assert b"SPLP" not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == payload('{"etd": "SPLP-0042"}')


async def test_rotation_old_key_still_decrypts_and_unknown_key_is_named() -> None:
    old, new = os.urandom(32), os.urandom(32)
    [sealed_old] = await EncryptionCodec({"k1": old}, "k1").encode([payload("a")])
    rotated = EncryptionCodec({"k1": old, "k2": new}, "k2")
    [sealed_new] = await rotated.encode([payload("b")])
    assert sealed_new.metadata["encryption-key-id"] == b"k2"
    assert [p.data for p in await rotated.decode([sealed_old, sealed_new])] == [b"a", b"b"]
    with pytest.raises(ValueError, match="key 'k2'"):
        await EncryptionCodec({"k1": old}, "k1").decode([sealed_new])
    plain = payload("written before encryption")
    assert await rotated.decode([plain]) == [plain]


def test_keys_from_configuration_are_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = base64.b64encode(os.urandom(32)).decode()
    keys, active = Settings(data_dir=tmp_path, payload_keys={"a": good, "b": good}).encryption_keys()
    assert set(keys) == {"a", "b"} and active == "b"
    with pytest.raises(ValueError, match="REPATRIATION_PAYLOAD_KEYS"):
        Settings(data_dir=tmp_path, payload_keys={"a": base64.b64encode(b"short").decode()}).encryption_keys()
    with pytest.raises(ValueError, match="REPATRIATION_PAYLOAD_KEY_ID"):
        Settings(data_dir=tmp_path, payload_keys={"a": good}, payload_key_id="zz").encryption_keys()
    generated, _ = Settings(data_dir=tmp_path / "fresh").encryption_keys()
    again, _ = Settings(data_dir=tmp_path / "fresh").encryption_keys()
    assert generated == again and len(next(iter(generated.values()))) == 32
