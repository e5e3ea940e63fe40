"""Documents sealed at rest: what lies on disk tells nothing, and only the configured keys open it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from documents.sealed import SealedFileError, Sealer

OLD, NEW = bytes(range(32)), bytes(range(32, 64))
PDF = b"%PDF-1.7 ... Nguyen Thi Lan, RP-3F9A2C10 ... %%EOF"


def test_a_sealed_file_shows_nothing_and_opens_to_the_same_bytes(tmp_path: Path) -> None:
    sealer = Sealer({"k1": OLD}, "k1")
    path = tmp_path / "etd_application-v1.pdf.sealed"
    sealer.write(path, PDF)
    on_disk = path.read_bytes()
    assert b"%PDF" not in on_disk and b"Nguyen" not in on_disk and b"RP-3F9A2C10" not in on_disk
    assert sealer.read(path) == PDF
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    assert sealer.seal(PDF) != sealer.seal(PDF)  # a fresh nonce each time


def test_keys_rotate_and_an_unknown_key_is_named(tmp_path: Path) -> None:
    sealed_with_old = Sealer({"k1": OLD}, "k1").seal(PDF)
    rotated = Sealer({"k1": OLD, "k2": NEW}, "k2")
    assert rotated.open(sealed_with_old) == PDF  # the old key still opens what it sealed
    assert rotated.open(rotated.seal(PDF)) == PDF
    with pytest.raises(SealedFileError, match="sealed with key 'k2', which is not configured"):
        Sealer({"k1": OLD}, "k1").open(rotated.seal(PDF))


def test_a_changed_file_is_refused_and_a_file_from_before_sealing_is_read_as_it_is() -> None:
    sealer = Sealer({"k1": OLD}, "k1")
    sealed = bytearray(sealer.seal(PDF))
    sealed[-5] ^= 0x01
    with pytest.raises(InvalidTag):
        sealer.open(bytes(sealed))
    assert sealer.open(PDF) == PDF  # a plain PDF stored before documents were sealed
