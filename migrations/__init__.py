"""Alembic migrations of the app database, configured in code by ``database/migrate.py``.

``versions/`` holds one file per revision, numbered ``0001``, ``0002``, ... Add one with
``repatriation db revision -m "what changes"`` after changing ``database/models.py``; the test
``tests/deploy/test_migrations.py`` fails while the models and the migrations disagree.
"""

from pathlib import Path

LOCATION = Path(__file__).resolve().parent
