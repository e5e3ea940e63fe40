"""Operations commands (database migrations and the like), added to the `repatriation` CLI."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    """Add the operations subcommands to the CLI's subparsers."""
    _ = (sub, argparse)
