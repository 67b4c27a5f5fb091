"""The single-scenario limit of the mixture against QuantLib and 50-digit arithmetic.

Witnesses:
* QuantLib's ``GarmanKohlagenProcess`` + ``AnalyticEuropeanEngine`` with
  ``PlainVanillaPayoff``, ``CashOrNothingPayoff`` (digital paying 1 JPY) and
  ``AssetOrNothingPayoff`` (digital paying 1 USD, worth S_T JPY), on flat curves, ACT/365F.
* mpmath at 50 digits of the Garman–Kohlhagen formulas (Haug 2007, §1.1.6 and §4.19.1–2).

QuantLib's ``CumulativeNormalDistribution`` computes ``0.5·(1 + erf(x/√2))`` above 1e-8 and so
loses relative precision in the lower tail (about 1e-16 / N(x)): 3e-8 relative error on a
1-day 140 put at spot 144.1 against the 50-digit value, where our kernel (``erfc``-based
tails) is within 3e-12. The QuantLib comparison therefore runs to 1e-12 on the grid where
QuantLib's own normal CDF is good to that (both tail probabilities ≥ 1e-4), and the
50-digit comparison covers the whole grid, deep out of the money included.
"""

from __future__ import annotations

import datetime as dt
import itertools

import mpmath as mp
import numpy as np
import QuantLib as ql

from pricing.fx.black import Payoff
from pricing.mixture.european import mixture_greeks
from pricing.quantlib_guard import quantlib_session, to_ql_date
from tests.pricing.book import flat_book, one_scenario

SPOT, R_JPY, R_USD, VOL = 144.1, 0.0048, 0.043, 0.115
DAYS = (1, 7, 30, 91, 365, 730, 1825)
MONEYNESS = (0.6, 0.8, 0.9, 0.97, 1.0, 1.03, 1.1, 1.25, 1.6)  # K / F
PAYOFFS = (
    Payoff.CALL,
    Payoff.PUT,
    Payoff.DIGITAL_CALL_JPY,
    Payoff.DIGITAL_PUT_JPY,
    Payoff.DIGITAL_CALL_USD,
    Payoff.DIGITAL_PUT_USD,
)
TODAY = dt.date(2025, 6, 13)


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = list(itertools.product(PAYOFFS, DAYS, MONEYNESS))
    payoffs = np.array([int(p) for p, _, _ in rows])
    expiries = np.array([d / 365 for _, d, _ in rows])
    forwards = SPOT * np.exp((R_JPY - R_USD) * expiries)
    strikes = np.array([m for _, _, m in rows]) * forwards
    return payoffs, strikes, expiries


def _ours() -> tuple:
    payoffs, strikes, expiries = _grid()
    book = flat_book(
        payoffs=payoffs,
        strikes=strikes,
        expiries=expiries,
        spot=SPOT,
        r_jpy=R_JPY,
        r_usd=R_USD,
        pre_vol=VOL,
    )
    return payoffs, strikes, expiries, mixture_greeks(book=book, mix=one_scenario(), spot=SPOT)


def _ql_payoff(code: int, strike: float) -> ql.StrikedTypePayoff:
    side = ql.Option.Call if code in (0, 2, 4) else ql.Option.Put
    if code in (Payoff.CALL, Payoff.PUT):
        return ql.PlainVanillaPayoff(side, strike)
    if code in (Payoff.DIGITAL_CALL_JPY, Payoff.DIGITAL_PUT_JPY):
        return ql.CashOrNothingPayoff(side, strike, 1.0)
    return ql.AssetOrNothingPayoff(side, strike)


def _quantlib(code: int, strike: float, days: int) -> dict[str, float]:
    with quantlib_session(TODAY):
        today = to_ql_date(TODAY)
        dc = ql.Actual365Fixed()
        process = ql.GarmanKohlagenProcess(
            ql.QuoteHandle(ql.SimpleQuote(SPOT)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, R_USD, dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, R_JPY, dc)),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), VOL, dc)),
        )
        option = ql.VanillaOption(_ql_payoff(code, strike), ql.EuropeanExercise(today + days))
        option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
        return {
            "price": option.NPV(),
            "delta": option.delta(),
            "gamma": option.gamma(),
            "vega": option.vega(),
            "theta": option.theta(),
            "rho_jpy": option.rho(),
            "rho_usd": option.dividendRho(),
        }


def _tails(strike: float, expiry: float) -> float:
    forward = SPOT * np.exp((R_JPY - R_USD) * expiry)
    s = VOL * np.sqrt(expiry)
    d1 = np.log(forward / strike) / s + 0.5 * s
    return min(ql.CumulativeNormalDistribution()(x) for x in (d1, -d1, d1 - s, s - d1))


def test_single_scenario_equals_quantlib_to_1e12() -> None:
    """Price within 1e-12 of QuantLib, or nearer the 50-digit value than QuantLib is."""
    payoffs, strikes, expiries, ours = _ours()
    for i, (code, strike, expiry) in enumerate(zip(payoffs, strikes, expiries, strict=True)):
        reference = _quantlib(int(code), float(strike), round(expiry * 365))
        exact = _mp_price(int(code), float(strike), float(expiry))
        if exact < mp.mpf("1e-290") or _condition(int(code), float(strike), float(expiry))[0] > 100:
            continue  # ill-conditioned far tail: the 50-digit test below covers it
        if abs(ours.price[i] - reference["price"]) > 1e-12 * reference["price"]:
            assert abs(ours.price[i] - exact) < abs(reference["price"] - exact), (code, strike)
        if _tails(strike, expiry) < 1e-4:
            continue  # Greeks where QuantLib's own normal CDF is good (module docstring)
        for greek in ("delta", "gamma", "vega", "theta", "rho_jpy", "rho_usd"):
            scale = max(abs(reference[greek]), 1e-6 * max(abs(reference["vega"]), 1.0))
            assert abs(getattr(ours, greek)[i] - reference[greek]) <= 1e-10 * scale, greek


def _mp_price(code: int, strike: float, expiry: float) -> mp.mpf:
    mp.mp.dps = 50
    s_, k, t = mp.mpf(SPOT), mp.mpf(strike), mp.mpf(expiry)
    forward = s_ * mp.e ** ((mp.mpf(R_JPY) - mp.mpf(R_USD)) * t)
    sd = mp.mpf(VOL) * mp.sqrt(t)
    d1 = mp.log(forward / k) / sd + sd / 2
    d2 = d1 - sd
    df = mp.e ** (-mp.mpf(R_JPY) * t)
    n = mp.ncdf
    return (
        df
        * {
            Payoff.CALL: forward * n(d1) - k * n(d2),
            Payoff.PUT: k * n(-d2) - forward * n(-d1),
            Payoff.DIGITAL_CALL_JPY: n(d2),
            Payoff.DIGITAL_PUT_JPY: n(-d2),
            Payoff.DIGITAL_CALL_USD: forward * n(d1),
            Payoff.DIGITAL_PUT_USD: forward * n(-d1),
        }[Payoff(code)]
    )


def _condition(code: int, strike: float, expiry: float) -> tuple[float, float]:
    """(F·N(d1)/C, d1²): how much F·N(d1) − K·N(d2) amplifies rounding, and how much a
    rounding of d1 moves a tail probability (δN/N ≈ d1·δd1)."""
    if code not in (Payoff.CALL, Payoff.PUT):
        return 1.0, 1.0
    mp.mp.dps = 50
    forward = mp.mpf(SPOT) * mp.e ** ((mp.mpf(R_JPY) - mp.mpf(R_USD)) * mp.mpf(expiry))
    sd = mp.mpf(VOL) * mp.sqrt(mp.mpf(expiry))
    d1 = mp.log(forward / mp.mpf(strike)) / sd + sd / 2
    sign = 1 if code == Payoff.CALL else -1
    big = forward * mp.ncdf(sign * d1) * mp.e ** (-mp.mpf(R_JPY) * mp.mpf(expiry))
    return float(big / _mp_price(code, strike, expiry)), float(d1 * d1)


def test_single_scenario_equals_50_digit_formula_deep_otm_included() -> None:
    """1e-12 relative wherever the Black formula is well conditioned; deeper out of the money
    within a few ulps amplified by the condition number: 4·eps·(F·N(d1)/C)·(1 + d1²)."""
    payoffs, strikes, expiries, ours = _ours()
    for i, (code, strike, expiry) in enumerate(zip(payoffs, strikes, expiries, strict=True)):
        reference = _mp_price(int(code), float(strike), float(expiry))
        if reference < mp.mpf("1e-290"):
            assert ours.price[i] < 1e-280
            continue
        error = float(abs(ours.price[i] - reference) / reference)
        condition, d1_squared = _condition(int(code), float(strike), float(expiry))
        bound = max(1e-12, 4 * np.finfo(float).eps * condition * (1 + d1_squared))
        assert error <= bound, (Payoff(int(code)).name, expiry, strike)
