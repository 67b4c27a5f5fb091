"""Checks on response bodies shared by the API tests."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any


def numeric_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every number (not a bool) in a decoded JSON body, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numeric_leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numeric_leaves(item, (*path, i))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path


def finite_numbers(value: Any) -> bool:
    """True when every float anywhere in a decoded JSON body is finite (no NaN, no inf)."""
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_numbers(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)
