"""Surfaces: event-weighted interpolation, re-quoting, and arbitrage reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql

from pricing.vol.arbitrage import arbitrage_report
from pricing.vol.quotes import SmileConventions, SmileError, TenorQuote, WingQuote
from pricing.vol.quoting import quote_surface
from pricing.vol.smile import fit_smiles
from pricing.vol.surface import (
    EventVariance,
    VolSurface,
    build_surface,
    event_variance_from_weight,
    surface_from_quotes,
)
from pricing.vol.svi import SviParams, SviSmiles, durrleman_g

# USD/JPY on 2025-06-13 from /work/shared/MARKET_FACTS.md (spot, OIS pillars, ATM 1W–2Y,
# 25Δ RR/BF at 1M/3M/1Y; the event is the 2025-07-09 tariff deadline, 26 days out). Test
# assumptions: RR/BF flat outside 1M–1Y and linear inside; expiry days 7/32/94/185/367/732,
# delivery two days later; the event day weighs as 3 extra days.
SPOT = 144.1
EXPIRY_DAYS = np.array([7, 32, 94, 185, 367, 732])
ATM = np.array([12.0, 11.5, 10.8, 10.5, 10.3, 10.2]) / 100
RR25 = np.interp(EXPIRY_DAYS, [32, 94, 367], [-1.4, -1.8, -2.2]) / 100
BF25 = np.interp(EXPIRY_DAYS, [32, 94, 367], [0.30, 0.35, 0.40]) / 100
EVENT_TIME = 26 / 365


def market(expiry_days: np.ndarray):
    expiries = np.asarray(expiry_days, dtype=float) / 365.0
    delivery = expiries + 2 / 365.0
    r_usd = np.interp(delivery, [0.0, 1.0, 2.0], [0.043, 0.040, 0.038])
    r_jpy = np.interp(delivery, [0.0, 1.0, 2.0], [0.0048, 0.0060, 0.0070])
    df_jpy, df_usd = np.exp(-r_jpy * delivery), np.exp(-r_usd * delivery)
    return expiries, df_jpy, df_usd, SPOT * df_usd / df_jpy


def usdjpy_tenors(atm: np.ndarray = ATM) -> list[TenorQuote]:
    expiries, _, df_usd, forwards = market(EXPIRY_DAYS)
    return [
        TenorQuote(
            expiries[i], forwards[i], df_usd[i], atm[i], (WingQuote(0.25, RR25[i], BF25[i]),)
        )
        for i in range(expiries.size)
    ]


@pytest.fixture(scope="module")
def smiles() -> SviSmiles:
    return fit_smiles(tenors=usdjpy_tenors())


@pytest.fixture(scope="module")
def surface(smiles: SviSmiles) -> VolSurface:
    event = event_variance_from_weight(smiles=smiles, event_time=EVENT_TIME, extra_days=3.0)
    return build_surface(smiles=smiles, events=[event])


def test_event_weight_sizes_the_event_variance(smiles: SviSmiles) -> None:
    # closed form: the 1W→1M ATM-forward increment shared at one rate with 3 event days
    event = event_variance_from_weight(smiles=smiles, event_time=EVENT_TIME, extra_days=3.0)
    w = smiles.total_variance(log_moneyness=np.zeros(6))
    t = smiles.expiries
    epsilon = 3.0 / 365.0
    assert event.variance == pytest.approx((w[1] - w[0]) * epsilon / (t[1] - t[0] + epsilon))
    assert event.variance > 0


def test_market_surface_is_arbitrage_free(surface: VolSurface) -> None:
    report = arbitrage_report(surface=surface, expiries=np.array([EVENT_TIME, 1.5, 2.5]))
    assert report.arbitrage_free, report
    # and directly: density sign (Durrleman) and total variance in T on a dense grid
    expiries = np.linspace(1 / 365, 2.2, 400)
    k = np.linspace(-0.6, 0.6, 241)
    w, w1, w2 = surface.derivatives(expiries=expiries[:, None], log_moneyness=k[None, :])
    assert (w > 0).all()
    assert (durrleman_g(log_moneyness=k[None, :], derivatives=(w, w1, w2)) >= 0).all()
    assert (np.diff(w, axis=0) >= -1e-16).all()


def test_surface_requotes_its_pillars(surface: VolSurface) -> None:
    quotes = quote_surface(surface=surface, deltas=(0.25,))
    assert quotes.converged.all()
    np.testing.assert_allclose(quotes.atm_vols, ATM, rtol=0, atol=1e-10)
    np.testing.assert_allclose(quotes.risk_reversals[:, 0], RR25, rtol=0, atol=1e-10)
    np.testing.assert_allclose(quotes.broker_butterflies[:, 0], BF25, rtol=0, atol=1e-10)


def test_event_variance_is_paid_on_the_event_date(surface: VolSurface, smiles: SviSmiles) -> None:
    (event,) = surface.event_variances
    k = np.array([-0.05, 0.0, 0.05])
    on, after = (
        surface.derivatives(expiries=t, log_moneyness=k)[0]
        for t in (EVENT_TIME, EVENT_TIME * (1 + 1e-12))
    )
    np.testing.assert_allclose(after - on, event, rtol=1e-6)
    # an expiry on the event date is pre-event: diffusive interpolation of the pillars
    t0, t1 = smiles.expiries[:2]
    w0, w1 = (smiles.total_variance(log_moneyness=np.tile(k, (6, 1)))[i] for i in (0, 1))
    alpha = (EVENT_TIME - t0) / (t1 - t0)
    np.testing.assert_allclose(on, (1 - alpha) * w0 + alpha * (w1 - event), rtol=1e-13)
    # the ATM term structure jumps there: more vol just after than just before
    vol_before = math.sqrt(on[1] / EVENT_TIME)
    vol_after = math.sqrt(after[1] / EVENT_TIME)
    assert vol_after - vol_before == pytest.approx(
        math.sqrt((on[1] + event) / EVENT_TIME) - vol_before, rel=1e-6
    )


def test_surface_matches_pillar_smiles(surface: VolSurface, smiles: SviSmiles) -> None:
    strikes = smiles.forwards[:, None] * np.exp(np.linspace(-0.2, 0.2, 9))[None, :]
    vols = surface.vols(
        expiries=smiles.expiries[:, None], strikes=strikes, forwards=smiles.forwards[:, None]
    )
    assert vols.valid.all()
    np.testing.assert_allclose(vols.vols, smiles.vols(strikes=strikes), rtol=1e-13)
    np.testing.assert_allclose(vols.vol_slopes, smiles.vol_slopes(strikes=strikes), rtol=1e-10)


def test_quotes_between_pillars_carry_their_deltas_per_quantlib(surface: VolSurface) -> None:
    days = np.array([14, 61, 548])
    expiries, df_jpy, df_usd, forwards = market(days)
    quotes = quote_surface(
        surface=surface,
        deltas=(0.25, 0.10),
        expiries=expiries,
        forwards=forwards,
        foreign_discount_factors=df_usd,
    )
    assert quotes.converged.all()
    conventions = SmileConventions()
    for i, expiry in enumerate(expiries):
        spot = expiry <= conventions.spot_delta_max_expiry
        delta_type = ql.DeltaVolQuote.PaSpot if spot else ql.DeltaVolQuote.PaFwd
        for j, delta in enumerate((0.25, 0.10)):
            for option, strike, vol, sign in (
                (ql.Option.Call, quotes.call_strikes[i, j], quotes.call_vols[i, j], 1.0),
                (ql.Option.Put, quotes.put_strikes[i, j], quotes.put_vols[i, j], -1.0),
            ):
                calc = ql.BlackDeltaCalculator(
                    option, delta_type, SPOT, df_jpy[i], df_usd[i], vol * math.sqrt(expiry)
                )
                assert calc.deltaFromStrike(float(strike)) == pytest.approx(sign * delta, abs=1e-10)


def test_calendar_arbitrage_is_reported() -> None:
    atm = ATM.copy()
    atm[2] = 0.06  # 3M total variance below 1M's
    surface = surface_from_quotes(tenors=usdjpy_tenors(atm))
    report = arbitrage_report(surface=surface)
    pairs = {(v.earlier_expiry, v.later_expiry) for v in report.calendar}
    t = surface.smiles.expiries
    assert (t[1], t[2]) in pairs
    assert not report.arbitrage_free
    worst = next(v for v in report.calendar if (v.earlier_expiry, v.later_expiry) == (t[1], t[2]))
    k = np.full((6,), worst.log_moneyness)
    w = surface.smiles.total_variance(log_moneyness=k)
    assert w[1] - w[2] == pytest.approx(worst.variance_drop, rel=1e-12)


def test_oversized_event_is_reported_and_flagged(smiles: SviSmiles) -> None:
    w_1m = float(smiles.total_variance(log_moneyness=np.zeros(6))[1])
    surface = build_surface(smiles=smiles, events=[EventVariance(EVENT_TIME, 1.5 * w_1m)])
    report = arbitrage_report(surface=surface)
    t = smiles.expiries
    assert (t[0], t[1]) in {(v.earlier_expiry, v.later_expiry) for v in report.calendar}
    # before the event the diffusive variance runs negative: those vols are flagged, not NaN'd
    vols = surface.vols(
        expiries=np.array([t[0], EVENT_TIME]),
        strikes=smiles.forwards[:2],
        forwards=smiles.forwards[:2],
    )
    assert vols.valid.tolist() == [True, False]
    assert math.isnan(vols.vols[1])


def test_published_butterfly_arbitrage_is_reported() -> None:
    """Gatheral & Jacquier (2014), Example 3.1 (Vogt): raw SVI a=−0.0410, b=0.1331, ρ=0.3060,
    m=0.3586, σ=0.4153, T=1 has a negative density; QuantLib prices confirm it (Breeden–
    Litzenberger at the reported strike)."""
    params = SviParams(*(np.array([v]) for v in (-0.0410, 0.1331, 0.3060, 0.3586, 0.4153)))
    one = np.array([1.0])
    smiles = SviSmiles(one, one, one, params, SmileConventions())
    report = arbitrage_report(surface=build_surface(smiles=smiles))
    violation = next(v for v in report.butterfly if v.expiry == 1.0)
    assert violation.value < 0
    strike, h = math.exp(violation.log_moneyness), 1e-3

    def price(k: float) -> float:
        vol = float(smiles.vols(strikes=np.array([[k]]))[0, 0])
        return ql.blackFormula(ql.Option.Call, k, 1.0, vol)

    density = (price(strike + h) - 2 * price(strike) + price(strike - h)) / h**2
    assert density < 0
    assert float(smiles.densities(strikes=np.array([[strike]]))[0, 0]) == pytest.approx(
        density, rel=1e-4
    )


def test_wing_steeper_than_lee_bound_is_reported() -> None:
    # right wing slope b(1+ρ) = 1.5 × 1.5 = 2.25 > 2 (Lee 2004)
    params = SviParams(*(np.array([v]) for v in (0.01, 1.5, 0.5, 0.0, 0.1)))
    one = np.array([1.0])
    report = arbitrage_report(
        surface=build_surface(smiles=SviSmiles(one, one, one, params, SmileConventions()))
    )
    assert any(v.log_moneyness == math.inf and v.value == 2.25 for v in report.butterfly)


def test_wing_deltas_outside_range_raise(surface: VolSurface) -> None:
    cases = (
        ((0.25, 0.5), "deltas[1]", "must be in (0, 0.5), got 0.5"),
        ((0.0,), "deltas[0]", "must be in (0, 0.5), got 0.0"),
        ((), "deltas", "must hold at least one wing delta, got none"),
    )
    for deltas, field, reason in cases:
        with pytest.raises(SmileError) as caught:
            quote_surface(surface=surface, deltas=deltas)
        assert caught.value.field == field
        assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        (
            EventVariance(EVENT_TIME, -1e-4),
            "events[0].variance",
            "must be non-negative, got -0.0001",
        ),
        (EventVariance(0.0, 1e-4), "events[0].time", "must be positive, got 0.0"),
        (EventVariance(math.nan, 1e-4), "events[0].time", "must be positive, got nan"),
    ],
)
def test_bad_events_raise(smiles: SviSmiles, event: EventVariance, field: str, reason: str) -> None:
    with pytest.raises(SmileError) as caught:
        build_surface(smiles=smiles, events=[event])
    assert caught.value.field == field
    assert reason in str(caught.value)
