"""Checks on response bodies shared by the API tests."""

from __future__ import annotations

import math
from typing import Any


def finite_numbers(value: Any) -> bool:
    """True when every float anywhere in a decoded JSON body is finite (no NaN, no inf)."""
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_numbers(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)
