"""What activities need, built once per worker process."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from booking.provider import BookingProvider
from booking.simulated import SimulatedProvider
from database.engine import Database, database_for
from repatriation.settings import Settings


@dataclass
class Deps:
    settings: Settings
    db: Database
    provider: BookingProvider
    _local: threading.local = field(default_factory=threading.local)

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        db = database_for(settings.db_url, settings.schema_mode)
        seed = settings.booking_failure_seed
        provider = SimulatedProvider(
            db,
            failure_rate=settings.booking_failure_rate,
            rng=random.Random(seed) if seed is not None else None,
        )
        return cls(settings=settings, db=db, provider=provider)

    def renderer(self) -> Any:
        """One renderer per worker thread: templates and fonts are loaded once per thread."""
        renderer = getattr(self._local, "renderer", None)
        if renderer is None:
            from documents.renderer import Renderer

            renderer = self._local.renderer = Renderer()
        return renderer
