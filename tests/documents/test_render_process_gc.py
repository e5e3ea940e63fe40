"""The render process's garbage collection: off while a document renders, once after each one,
with what outlives documents frozen and thawed now and then (documents/renderer.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from documents.renderer import CollectBetweenDocuments


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collector() -> Iterator[CollectBetweenDocuments]:
    was_enabled = gc.isenabled()
    made = CollectBetweenDocuments(thaw_every=3)
    try:
        yield made
    finally:
        made.close()
        if not was_enabled:
            gc.disable()


def test_no_collection_during_a_document_and_its_garbage_gone_after_it(
    collector: CollectBetweenDocuments,
) -> None:
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0  # what was there at the start is kept out of collections
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    for _ in range(20_000):  # far past the threshold that would start a collection
        Node()
    assert gone() is not None  # not collected in the middle of the "document"
    collector.after_document()
    assert gone() is None


def test_what_outlives_a_document_is_frozen_and_freed_at_the_next_thaw(
    collector: CollectBetweenDocuments,
) -> None:
    cached = Node()  # a cache entry: alive when the first document ends
    dropped = weakref.ref(cached)
    collector.after_document()  # 1: frozen with the survivors
    del cached  # the cache lets it go
    collector.after_document()  # 2: frozen objects are not looked at
    assert dropped() is not None
    collector.after_document()  # 3 = thaw_every: everything is looked at once
    assert dropped() is None
    assert gc.get_freeze_count() > 0  # and the survivors frozen again


def test_close_gives_the_collector_back() -> None:
    was_enabled = gc.isenabled()
    made = CollectBetweenDocuments()
    made.close()
    try:
        assert gc.isenabled()
        assert gc.get_freeze_count() == 0
    finally:
        if not was_enabled:
            gc.disable()
