"""The scale phase's cloned cases: each gets a printed reference no other case has."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from bench import scale
from repatriation.service import case_reference


def test_a_cloned_case_never_takes_a_reference_already_given(monkeypatch: pytest.MonkeyPatch) -> None:
    # Random ids whose first eight hex digits meet: a real case's, then one cloned in this batch.
    drawn: Iterator[uuid.UUID] = iter(
        uuid.UUID(u)
        for u in (
            "3f9a2c1b-0000-4000-8000-000000000001",  # a real case has RP-3F9A2C1B
            "0badcafe-0000-4000-8000-000000000002",
            "0badcafe-0000-4000-8000-000000000003",  # the one just cloned has RP-0BADCAFE
            "7e5d4c3b-0000-4000-8000-000000000004",
        )
    )
    monkeypatch.setattr(scale.uuid, "uuid4", lambda: next(drawn))
    taken = {case_reference("3f9a2c1b-1111-4111-8111-111111111111")}

    first = scale._fresh_case_id(taken)
    second = scale._fresh_case_id(taken)

    assert first == ("0badcafe-0000-4000-8000-000000000002", "RP-0BADCAFE")
    assert second == ("7e5d4c3b-0000-4000-8000-000000000004", "RP-7E5D4C3B")
    assert taken == {"RP-3F9A2C1B", "RP-0BADCAFE", "RP-7E5D4C3B"}
