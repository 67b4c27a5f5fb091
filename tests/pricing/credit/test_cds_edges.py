"""ISDA CDS legs where the closed forms give way to their series, and past the USD curve.

Witnesses: QuantLib's ``IsdaCdsEngine`` (isdacdsengine.cpp; usage as in QuantLib's
test-suite/creditdefaultswap.cpp) on the same hazard and discount curves — with its default
``Taylor`` numerical fix, whose series it takes when ``(f + h)·Δt < 1e-4``, exactly the
branch under test; its ``DiscountCurve`` (log-linear in the discount factor), which
extrapolates past its last node at the last segment's forward rate, for the flat-forward
extrapolation beyond the last USD pillar.
"""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql

from pricing.credit import cds
from pricing.quantlib_guard import quantlib_session
from tests.pricing.credit.test_cds import (
    T0,
    bootstrap,
    ql_contract,
    ql_handles,
    quantlib_hazard_nodes,
    schedule_for,
)


def price_and_quantlib(hazards: np.ndarray, times: np.ndarray, zeros: np.ndarray, coupon: float,
                       numerical_fix=ql.IsdaCdsEngine.Taylor):  # fmt: skip
    """Our figures and IsdaCdsEngine's, per standard tenor, for one flat-by-pillar curve."""
    schedule = schedule_for(T0)
    curves = bootstrap(schedule, np.full(8, 0.01), 0.4, times, zeros)
    curves = cds.HazardCurves(**{**vars(curves), "hazard_rates": np.asarray(hazards, float)})
    ours = cds.price_cds(curves=curves, schedule=schedule, coupons=coupon)
    theirs = []
    with quantlib_session(T0):
        disc, haz = ql_handles(curves, 0, times, zeros)
        engine = ql.IsdaCdsEngine(haz, 0.4, disc, False, numerical_fix)
        for maturity in schedule.maturities:
            c = ql_contract(maturity, coupon, engine, T0)
            rpv01 = (-c.couponLegNPV() - c.accrualRebateNPV()) / coupon * 1e-4
            theirs.append((c.defaultLegNPV(), rpv01, c.fairSpread(), c.fairUpfront()))
    return ours, np.array(theirs).T


TINY_TIMES = np.array([1, 365, 730, 1825, 3650]) / 365.0


@pytest.mark.parametrize(
    ("hazard", "rate"),
    [(1e-9, 1e-7), (1e-7, 1e-7), (3e-6, 1e-7), (3.2e-5, 1e-7), (0.01, -0.03), (0.002, -0.004)],
    ids=["x~3e-9", "x~6e-7", "x~9e-6", "x~9.6e-5", "x~-0.06", "x~-0.006"],
)
def test_leg_series_for_small_hazard_plus_forward_times_time_match_isda_cds_engine(hazard, rate):
    """Witness: IsdaCdsEngine with its Taylor fix (the ISDA model's), which takes the series
    whenever x = (f + h)·Δt < 1e-4 — tiny hazards at near-zero rates, and negative rates below
    −h (x < 0), where the x³ and x⁴ terms reach 1e-7 of the leg and every coefficient of both
    series (protection, accrual on default) shows. Tolerance 1e-16 absolute: QuantLib takes
    h·Δt as ln Q0 − ln Q1 from survival probabilities rounded near 1."""
    zeros = np.full(5, rate)
    nodes = np.union1d(schedule_for(T0).pillar_days, np.round(TINY_TIMES * 365))
    assert (hazard + rate) * np.max(np.diff(nodes)) / 365 < 1e-4  # all intervals: the series
    ours, (protection, rpv01, spread, upfront) = price_and_quantlib(
        np.full(8, hazard), TINY_TIMES, zeros, 0.01
    )
    np.testing.assert_allclose(ours.protection_legs, protection, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(ours.risky_pv01s, rpv01, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(ours.par_spreads, spread, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.clean_upfronts, upfront, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("times", "zeros"),
    [
        (np.array([30, 365]) / 365.0, np.array([0.050, 0.040])),  # inverted: forward 3.9%
        (np.array([1, 182, 730]) / 365.0, np.array([0.030, 0.035, 0.045])),  # rising: 5%
        (np.array([1, 91]) / 365.0, np.array([0.040, 0.041])),  # 3 months, then 10Y beyond
    ],
    ids=["inverted-1y", "rising-2y", "3m"],
)
@pytest.mark.parametrize("hazards", [np.full(8, 0.02), np.linspace(0.005, 0.08, 8)])
def test_legs_past_the_last_usd_pillar_match_isda_cds_engine(times, zeros, hazards):
    """Witness: IsdaCdsEngine on QuantLib's DiscountCurve holding the same nodes, which
    extrapolates flat-forward (the last segment's forward) past its last node — every
    contract up to 10Y lies mostly beyond a 3M, 1Y or 2Y curve."""
    ours, (protection, rpv01, spread, upfront) = price_and_quantlib(hazards, times, zeros, 0.05)
    np.testing.assert_allclose(ours.protection_legs, protection, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours.risky_pv01s, rpv01, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours.par_spreads, spread, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours.clean_upfronts, upfront, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize(
    ("times", "zeros"),
    [(np.array([30, 365]) / 365.0, np.array([0.050, 0.040])),
     (np.array([1, 91]) / 365.0, np.array([0.040, 0.041]))],
)  # fmt: skip
def test_bootstrap_past_the_last_usd_pillar_matches_quantlib_spread_cds_helpers(times, zeros):
    """Witness: QuantLib's PiecewiseFlatHazardRate on ISDA SpreadCdsHelpers discounting on
    its DiscountCurve of the same nodes, extrapolated flat-forward."""
    spreads = np.array([40, 45, 55, 65, 80, 95, 110, 120]) * 1e-4
    schedule = schedule_for(T0)
    curves = bootstrap(schedule, spreads, 0.4, times, zeros)
    assert curves.converged.all()
    with quantlib_session(T0):
        today = ql.Date(T0.day, T0.month, T0.year)
        disc, _ = ql_handles(curves, 0, times, zeros)
        nodes = quantlib_hazard_nodes(today, spreads, disc)
    np.testing.assert_allclose(curves.hazard_rates, [h for _, h in nodes], rtol=1e-9)


def test_zero_hazard_at_zero_rates_prices_as_isda_cds_engine_without_warnings():
    """Witness: IsdaCdsEngine at h = 0, r = 0: no protection, the annuity its coupon fractions
    (x = 0 exactly on every interval: the series, no 0/0)."""
    ours, (protection, rpv01, _, upfront) = price_and_quantlib(
        np.zeros(8), TINY_TIMES, np.zeros(5), 0.01
    )
    np.testing.assert_array_equal(ours.protection_legs, 0.0)
    np.testing.assert_allclose(protection, 0.0, atol=1e-18)
    np.testing.assert_allclose(ours.risky_pv01s, rpv01, rtol=1e-13)
    np.testing.assert_allclose(ours.clean_upfronts, upfront, rtol=1e-12, atol=1e-15)


def test_repeated_maturities_are_refused():
    """Witness: the contract of cds_schedule (maturities strictly increasing)."""
    maturities = cds.standard_maturities(valuation_date=T0, tenors=("1Y", "1Y"))
    with pytest.raises(ValueError, match="strictly increasing"):
        cds.cds_schedule(valuation_date=T0, maturities=maturities)


def test_the_shared_schedule_cannot_be_written_through():
    """Witness: numpy's read-only flag — the cached schedule is shared between callers."""
    schedule = schedule_for(T0)
    for array in (schedule.maturity_days, schedule.pillar_days, schedule.accrual_fractions,
                  *schedule.coupons):  # fmt: skip
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0.0


def test_mixing_weights_of_the_wrong_shape_names_the_shapes():
    curves = bootstrap(schedule_for(T0), np.full((2, 8), 0.01))
    prices = cds.price_cds(curves=curves, schedule=schedule_for(T0), coupons=0.01)
    with pytest.raises(ValueError, match=r"must have shape \(2,\), got \(3,\)"):
        cds.mix_cds_prices(prices=prices, weights=np.ones(3) / 3)
