"""Past the last pillar of the built-in market (2Y): the extrapolation rules in closed form.

Witnesses: the raw SVI formula (Gatheral 2004) on the last pillar's fitted parameters, the
rule of :mod:`pricing.vol.surface` — the diffusive total variance at fixed ``k = ln(K/F(T))``
grows ∝ ``T`` past the last pillar ``T_n`` (the last smile's implied vol held in moneyness),
the event's variance added once — and those of :mod:`pricing.curve`: the ATM curve's last
vol held flat, the log-linear discount curve's last forward continued.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from scenarios.catalog import builtin_catalog
from scenarios.dates import tenor_dates, year_fraction
from scenarios.market import MarketSnapshot

ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET = ENTRY.market
TODAY = MARKET.valuation_date
STRIKES = np.array([110.0, 125.0, 135.0, 144.1, 150.0, 165.0, 190.0])


def _times(tenor: str) -> tuple[float, float]:
    expiry, delivery = tenor_dates("tenor", TODAY, tenor)
    return year_fraction(TODAY, expiry), year_fraction(TODAY, delivery)


def _last_pillar_svi(market: MarketSnapshot, k: np.ndarray) -> tuple[float, np.ndarray]:
    """``(T_n, w_n(k))``: raw SVI ``a + b(ρ(k − m) + √((k − m)² + s²))`` of the last pillar."""
    smiles = market.smiles
    assert smiles is not None
    p = smiles.params
    a, b, rho, m, s = (float(np.asarray(v)[-1]) for v in (p.a, p.b, p.rho, p.m, p.sigma))
    z = k - m
    return float(smiles.expiries[-1]), a + b * (rho * z + np.sqrt(z * z + s * s))


@pytest.mark.parametrize("tenor", ["3Y", "5Y", "10Y"])
def test_the_surface_keeps_the_last_smile_in_moneyness_past_the_last_pillar(tenor) -> None:
    """No event weight: ``σ(T, k) = σ_2Y(k) = √(w_2Y(k)/T_2Y)`` at every ``k``."""
    t, t_del = _times(tenor)
    surface = MARKET.vol_surface()
    assert surface is not None
    forward = float(MARKET.forwards(np.array(t_del)))
    k = np.log(STRIKES / forward)
    t_last, w_last = _last_pillar_svi(MARKET, k)
    assert t > t_last
    read = surface.vols(expiries=t, strikes=STRIKES, forwards=forward)
    assert read.valid.all()
    np.testing.assert_allclose(read.vols, np.sqrt(w_last / t_last), rtol=1e-14)


def test_with_an_event_weight_the_event_variance_is_added_once() -> None:
    """``σ²(T, k)·T = (T/T_n)·(w_n(k) − v) + v`` with ``v`` the event's variance."""
    weighted = dataclasses.replace(
        MARKET, surface=dataclasses.replace(MARKET.surface, event_extra_days=3.0)
    )
    event_time = year_fraction(TODAY, ENTRY.scenario_set.event_date)
    surface = weighted.vol_surface(event_time)
    assert surface is not None
    v = float(surface.event_variances[0])
    assert v > 0
    t, t_del = _times("3Y")
    forward = float(weighted.forwards(np.array(t_del)))
    k = np.log(STRIKES / forward)
    t_last, w_last = _last_pillar_svi(weighted, k)
    expected = np.sqrt(((t / t_last) * (w_last - v) + v) / t)
    read = surface.vols(expiries=t, strikes=STRIKES, forwards=forward)
    np.testing.assert_allclose(read.vols, expected, rtol=1e-14)
    # not the 2Y vol: the event's variance is not scaled with T
    assert np.all(np.abs(read.vols - np.sqrt(w_last / t_last)) > 1e-5)


def test_the_atm_curve_holds_its_last_vol() -> None:
    t, _ = _times("3Y")
    assert MARKET.atm_vols.total_variance(np.array(t)) == pytest.approx(0.102**2 * t, rel=1e-15)


def test_the_jpy_curve_continues_its_last_forward() -> None:
    """JPY pillars end at 2Y (0.60% at 1Y, 0.70% at 2Y): ln DF continues the 1Y–2Y line."""
    times, rates = MARKET.jpy_curve.times, MARKET.jpy_curve.zero_rates
    t1, t2, r1, r2 = times[-2], times[-1], rates[-2], rates[-1]
    forward = (r2 * t2 - r1 * t1) / (t2 - t1)
    t, _ = _times("5Y")
    expected = (r2 * t2 + forward * (t - t2)) / t
    assert float(MARKET.jpy_curve.zero_rates_at(np.array(t))) == pytest.approx(expected, rel=1e-14)
    assert math.isclose(forward, 0.008, rel_tol=0.01)  # ≈ (0.7%·2 − 0.6%·1)/1
