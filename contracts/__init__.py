"""Pydantic v2 models that cross a boundary: API bodies, workflow inputs, updates, activity I/O.

Workflows import this package inside ``workflow.unsafe.imports_passed_through()``; it must
therefore stay free of I/O and of heavy imports (no SQLAlchemy, no WeasyPrint).
"""
