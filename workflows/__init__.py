"""Deterministic orchestration: one RepatriationWorkflow per case. No I/O here."""
