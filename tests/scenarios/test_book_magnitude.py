"""The last guard of a mixed book: a value beyond 1e300 is refused by name, never returned.

Inputs are bounded upstream (notional and cash ≤ 1e15, strikes and levels within 1,000× of
spot), so no request reaches it today; it is tested directly.
"""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.book import _check_magnitude
from scenarios.errors import DomainError


def test_values_beyond_1e300_are_refused_by_line() -> None:
    values = np.array([1.0, 2e300, 3.0])
    with pytest.raises(DomainError, match=r"is beyond 1e300 and cannot be reported") as refused:
        _check_magnitude(values, np.zeros((3, 2)))
    assert refused.value.errors[0].field == "instruments[1]"


def test_infinite_scenario_values_are_refused_and_nan_passes() -> None:
    scenario_values = np.array([[1.0, np.nan], [np.inf, 0.0]])  # NaN: no path reached it
    with pytest.raises(DomainError, match=r"is beyond 1e300 and cannot be reported") as refused:
        _check_magnitude(np.array([1.0, 1.0]), scenario_values)
    assert refused.value.errors[0].field == "instruments[1]"
    _check_magnitude(np.array([1.0]), np.array([[np.nan, -1e300]]))  # at the bound: kept
