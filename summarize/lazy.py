"""Lazy public names for a subpackage: its ``__init__`` lists where each name lives, and the
module holding it is imported at first use (a reader importing one module pays for no other)."""
from __future__ import annotations

from importlib import import_module
from typing import Any, Callable


def names(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each public name to its module."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f".{where[name]}", package), name)

    return __getattr__
