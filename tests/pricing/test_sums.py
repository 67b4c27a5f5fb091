"""Compensated sums against ``math.fsum`` (exactly rounded: Shewchuk 1997), with Neumaier's
error bound |ŝ − s| ≤ 2u·|s| + 2n·u²·Σ|x| (Higham 2002, §4.3), and exact cancellation."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pricing.sums import column_sums, grouped_column_sums, total

U = 2.0**-53

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=300))
def test_within_neumaiers_bound_of_the_exact_sum(xs: list[float]) -> None:
    exact = math.fsum(xs)
    bound = 2 * U * abs(exact) + 2 * len(xs) * U * U * math.fsum(abs(x) for x in xs)
    assert abs(total(np.array(xs)) - exact) <= bound


def test_ill_conditioned_sums_keep_their_digits() -> None:
    """Terms up to 1e16 that cancel to ~1: plain summation loses every digit here."""
    rng = np.random.default_rng(3)
    big = rng.normal(0, 1e16, 50_000)
    small = rng.normal(0, 1.0, 50_000)
    xs = np.concatenate([big, -big, small])
    rng.shuffle(xs)
    exact = math.fsum(xs.tolist())
    assert abs(total(xs) - exact) <= 1e-6 * abs(exact) + 1e-3
    assert abs(float(np.sum(xs)) - exact) > 1.0  # the witness that the case is hard


def test_lines_that_cancel_exactly_total_exactly_zero() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        lines = rng.normal(0, 1e7, 7) * rng.choice([1e-3, 1.0, 1e3], 7)
        book = np.concatenate([lines, -lines])
        rng.shuffle(book)
        assert total(book) == 0.0


def test_columns_and_missing_figures() -> None:
    matrix = np.array([[1.0, 2.0, np.nan], [3.0, -2.0, 1.0]])
    sums = column_sums(matrix)
    assert sums[:2].tolist() == [4.0, 0.0] and math.isnan(sums[2])
    assert total(np.array([])) == 0.0


def test_grouped_sums_are_each_groups_exact_sum() -> None:
    rng = np.random.default_rng(9)
    values = rng.normal(0, 1e9, (2_000, 3)) * rng.choice([1e-6, 1.0, 1e6], (2_000, 3))
    codes = rng.integers(0, 7, 2_000)
    sums = grouped_column_sums(values, codes, 8)
    for g in range(8):
        for j in range(3):
            exact = math.fsum(values[codes == g, j].tolist())
            bound = 2 * U * abs(exact) + 4e3 * U * U * math.fsum(np.abs(values[:, j]).tolist())
            assert abs(sums[g, j] - exact) <= bound
    assert sums[7].tolist() == [0.0, 0.0, 0.0]  # an empty group
