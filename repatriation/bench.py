"""`repatriation bench`: the mass-release benchmark (see BENCHMARKS.md)."""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    """Add the benchmark subcommand to the CLI's subparsers."""
    _ = sub
