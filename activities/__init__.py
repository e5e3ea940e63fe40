"""Side effects, one module per stage. Every activity is idempotent: a retry never duplicates
a document, a mail, a booking or a ledger entry. Blocking work (SQLAlchemy, WeasyPrint) runs
in synchronous activities on the worker's thread pool, never on the event loop."""
