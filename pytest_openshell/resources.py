"""Locate data shipped with the harness (clusters/, fixtures/, reports/).

In a wheel they live under ``pytest_openshell/_data``; in a source checkout at the repo root.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory ``name`` (e.g. ``"clusters"``) wherever this install keeps it."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"pytest-openshell data folder {name!r} is missing from this install")
