"""Curve interpolation (compiled) against QuantLib's curves and the documented closed forms.

Witnesses: ``ql.DiscountCurve`` (log-linear discount factors) for ``log_linear_discount``
between the pillars, ``ql.ZeroCurve`` with ``ql.Linear`` for ``linear_zero`` between the
pillars, ``ql.BlackVarianceCurve`` (linear in variance, flat vol outside) for the ATM total
variance; the extrapolation rules of :mod:`pricing.curve` (flat zero before the first pillar,
flat forward after the last for log-linear discounts; flat zero on both sides for linear
zeros) as closed forms.

Test data: JPY TONA / 1Y / 2Y OIS 0.48% / 0.60% / 0.70% and USD SOFR / 1Y / 2Y 4.3% / 4.0% /
3.8%, ATM USD/JPY vols 1W–2Y (MARKET_FACTS.md, 2025-06-13); the other pillars (1M, 3M, 6M,
5Y) and the negative-rate curve are test assumptions.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import QuantLib as ql

from pricing.curve import CurveInterpolation, atm_total_variance, zero_rates_at
from pricing.fx.normalised_black import PARALLEL_THRESHOLD
from pricing.quantlib_guard import quantlib_session, to_ql_date

EPS = float(np.finfo(float).eps)
VALUATION = dt.date(2025, 6, 13)
DAYS = np.array([1, 30, 91, 182, 365, 730, 1826])
TIMES = DAYS / 365.0  # ACT/365F, as QuantLib's Actual365Fixed computes them
CURVES = {
    "jpy": np.array([0.0048, 0.0050, 0.0053, 0.0056, 0.0060, 0.0070, 0.0095]),
    "usd": np.array([0.0430, 0.0432, 0.0428, 0.0418, 0.0400, 0.0380, 0.0375]),
    "negative": np.array([-0.0010, -0.0012, -0.0008, -0.0005, 0.0002, 0.0010, 0.0025]),
}
ATM_DAYS = np.array([7, 32, 94, 185, 367, 732])
ATM_VOLS = np.array([12.0, 11.5, 10.8, 10.5, 10.3, 10.2]) / 100


def interior_times(pillars: np.ndarray, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(20250613)
    return np.concatenate([pillars, rng.uniform(pillars[0], pillars[-1], n)])


def ql_dates(days: np.ndarray) -> list[ql.Date]:
    reference = to_ql_date(VALUATION)
    return [reference + int(d) for d in days]


def rates_tolerance(times: np.ndarray) -> np.ndarray:
    # QuantLib returns a zero rate as ln(1/DF)/t: the rounding of DF (ε) is ε/t in the rate
    return 8 * EPS / times + 1e-13 * 0.05


@pytest.mark.parametrize("name", sorted(CURVES))
def test_log_linear_discount_matches_quantlib_between_pillars(name: str) -> None:
    rates = CURVES[name]
    times = interior_times(TIMES)
    ours = zero_rates_at(pillar_times=TIMES, zero_rates=rates, times=times)
    with quantlib_session(VALUATION):
        dfs = [1.0] + [math.exp(-r * t) for r, t in zip(rates, TIMES, strict=True)]
        curve = ql.DiscountCurve([to_ql_date(VALUATION), *ql_dates(DAYS)], dfs, ql.Actual365Fixed())
        theirs = np.array([curve.zeroRate(float(t), ql.Continuous).rate() for t in times])
    np.testing.assert_array_less(np.abs(ours - theirs), rates_tolerance(times))


@pytest.mark.parametrize("name", sorted(CURVES))
def test_log_linear_discount_extrapolates_flat_zero_before_and_flat_forward_after(
    name: str,
) -> None:
    rates = CURVES[name]
    before = np.array([1e-9, 0.5 / 365, np.nextafter(TIMES[0], 0.0)])
    after = np.array([np.nextafter(TIMES[-1], 10.0), 6.0, 10.0, 30.0])
    got_before = zero_rates_at(pillar_times=TIMES, zero_rates=rates, times=before)
    np.testing.assert_array_equal(got_before, rates[0])
    # ln DF continues the last segment's line: r(t) = (r_n t_n + f (t − t_n)) / t
    forward = (rates[-1] * TIMES[-1] - rates[-2] * TIMES[-2]) / (TIMES[-1] - TIMES[-2])
    expected = (rates[-1] * TIMES[-1] + forward * (after - TIMES[-1])) / after
    got_after = zero_rates_at(pillar_times=TIMES, zero_rates=rates, times=after)
    np.testing.assert_allclose(got_after, expected, rtol=1e-13, atol=1e-16)


def test_log_linear_discount_with_one_pillar_is_flat() -> None:
    times = np.array([1e-3, 0.5, 1.0, 2.0, 40.0])
    got = zero_rates_at(pillar_times=np.array([1.0]), zero_rates=np.array([0.006]), times=times)
    np.testing.assert_allclose(got, 0.006, rtol=1e-14)


@pytest.mark.parametrize("name", sorted(CURVES))
def test_linear_zero_matches_quantlib_between_pillars(name: str) -> None:
    rates = CURVES[name]
    times = interior_times(TIMES)
    ours = zero_rates_at(
        pillar_times=TIMES,
        zero_rates=rates,
        times=times,
        interpolation=CurveInterpolation.LINEAR_ZERO,
    )
    with quantlib_session(VALUATION):
        curve = ql.ZeroCurve(
            [to_ql_date(VALUATION), *ql_dates(DAYS)],
            [float(rates[0]), *map(float, rates)],
            ql.Actual365Fixed(),
            ql.NullCalendar(),
            ql.Linear(),
            ql.Continuous,
        )
        theirs = np.array([curve.zeroRate(float(t), ql.Continuous).rate() for t in times])
    np.testing.assert_array_less(np.abs(ours - theirs), rates_tolerance(times))


def test_linear_zero_is_flat_outside_the_pillars() -> None:
    rates = CURVES["jpy"]
    times = np.array([1e-6, np.nextafter(TIMES[0], 0.0), np.nextafter(TIMES[-1], 9.0), 30.0])
    got = zero_rates_at(
        pillar_times=TIMES,
        zero_rates=rates,
        times=times,
        interpolation=CurveInterpolation.LINEAR_ZERO,
    )
    np.testing.assert_array_equal(got, [rates[0], rates[0], rates[-1], rates[-1]])


def test_atm_total_variance_matches_quantlib_black_variance_curve() -> None:
    pillars = ATM_DAYS / 365.0
    times = np.concatenate([[1e-4, 1 / 365, 3 / 365], interior_times(pillars), [2.5, 5.0, 10.0]])
    ours = atm_total_variance(pillar_times=pillars, vols=ATM_VOLS, times=times)
    with quantlib_session(VALUATION):
        curve = ql.BlackVarianceCurve(
            to_ql_date(VALUATION),
            ql_dates(ATM_DAYS),
            [float(v) for v in ATM_VOLS],
            ql.Actual365Fixed(),
            False,
        )
        curve.enableExtrapolation()
        theirs = np.array([curve.blackVariance(float(t), 1.0) for t in times])
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=0)
    # flat vol outside the pillars, in closed form
    outside = (times < pillars[0]) | (times > pillars[-1])
    vols = np.where(times < pillars[0], ATM_VOLS[0], ATM_VOLS[-1])
    np.testing.assert_allclose(ours[outside], (vols * vols * times)[outside], rtol=1e-15)


@pytest.mark.parametrize("interpolation", list(CurveInterpolation))
def test_shapes_scalars_and_nan(interpolation: CurveInterpolation) -> None:
    rates = CURVES["usd"]
    grid = np.linspace(0.001, 8.0, 24).reshape(4, 6)

    def read(times: object) -> np.ndarray:
        return zero_rates_at(
            pillar_times=TIMES, zero_rates=rates, times=times, interpolation=interpolation
        )

    whole = read(grid)
    assert whole.shape == (4, 6)
    np.testing.assert_array_equal(whole, [[read(float(t)) for t in row] for row in grid])
    np.testing.assert_array_equal(read(grid.T), whole.T)  # non-contiguous input
    scalar = read(0.75)
    assert np.shape(scalar) == () and isinstance(scalar, np.floating)
    assert math.isnan(read(np.array([math.nan]))[0])
    variance = atm_total_variance(pillar_times=ATM_DAYS / 365.0, vols=ATM_VOLS, times=grid)
    assert variance.shape == (4, 6)


def test_threaded_read_equals_small_reads() -> None:
    # the threaded compilation runs from PARALLEL_THRESHOLD times on: same numbers
    times = np.random.default_rng(7).uniform(0.0, 8.0, PARALLEL_THRESHOLD + 5)
    for interpolation in CurveInterpolation:
        big = zero_rates_at(
            pillar_times=TIMES, zero_rates=CURVES["jpy"], times=times, interpolation=interpolation
        )
        small = np.concatenate([
            zero_rates_at(
                pillar_times=TIMES, zero_rates=CURVES["jpy"], times=chunk,
                interpolation=interpolation,
            )
            for chunk in np.array_split(times, 64)
        ])  # fmt: skip
        np.testing.assert_array_equal(big, small)
    pillars = ATM_DAYS / 365.0
    big = atm_total_variance(pillar_times=pillars, vols=ATM_VOLS, times=times)
    small = np.concatenate([
        atm_total_variance(pillar_times=pillars, vols=ATM_VOLS, times=chunk)
        for chunk in np.array_split(times, 64)
    ])  # fmt: skip
    np.testing.assert_array_equal(big, small)


@pytest.mark.parametrize(
    ("pillar_times", "values"),
    [(np.array([]), np.array([])), (np.array([0.5, 1.0]), np.array([0.01]))],
)
def test_broken_pillars_raise(pillar_times: np.ndarray, values: np.ndarray) -> None:
    with pytest.raises(ValueError, match="must be 1-D, non-empty and of one length"):
        zero_rates_at(pillar_times=pillar_times, zero_rates=values, times=np.array([1.0]))
    with pytest.raises(ValueError, match="must be 1-D, non-empty and of one length"):
        atm_total_variance(pillar_times=pillar_times, vols=values, times=np.array([1.0]))
