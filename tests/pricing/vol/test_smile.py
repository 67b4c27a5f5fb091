"""Quotes → SVI smiles: re-quoting, QuantLib deltas and prices, densities, bad quotes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql

from pricing.fx.delta import AtmType
from pricing.vol.quotes import Butterfly, SmileConventions, SmileError, TenorQuote, WingQuote
from pricing.vol.quoting import SmileQuotes, quote_total_variance
from pricing.vol.smile import fit_smiles
from pricing.vol.svi import SviSmiles

# USD/JPY on 2025-06-13 from /work/shared/MARKET_FACTS.md: spot, OIS pillars, ATM 1W–2Y,
# 25Δ RR/BF at 1M/3M/1Y. Test assumptions: RR/BF flat before 1M and after 1Y, linear in
# between; expiry days 7/32/94/185/367/732 with delivery two days later.
SPOT = 144.1
EXPIRY_DAYS = np.array([7, 32, 94, 185, 367, 732])
ATM = np.array([12.0, 11.5, 10.8, 10.5, 10.3, 10.2]) / 100
RR25 = np.interp(EXPIRY_DAYS, [32, 94, 367], [-1.4, -1.8, -2.2]) / 100
BF25 = np.interp(EXPIRY_DAYS, [32, 94, 367], [0.30, 0.35, 0.40]) / 100
RR10, BF10 = 1.9 * RR25, 3.6 * BF25  # test assumption: 10Δ/25Δ ratios within SVI's reach


def market(expiry_days: np.ndarray = EXPIRY_DAYS):
    """Expiries, delivery times, JPY and USD discount factors, forwards (zero rates linear)."""
    expiries = expiry_days / 365.0
    delivery = (expiry_days + 2) / 365.0
    r_usd = np.interp(delivery, [0.0, 1.0, 2.0], [0.043, 0.040, 0.038])
    r_jpy = np.interp(delivery, [0.0, 1.0, 2.0], [0.0048, 0.0060, 0.0070])
    df_jpy, df_usd = np.exp(-r_jpy * delivery), np.exp(-r_usd * delivery)
    return expiries, df_jpy, df_usd, SPOT * df_usd / df_jpy


def usdjpy_tenors(with_10d: bool = False) -> list[TenorQuote]:
    expiries, _, df_usd, forwards = market()
    tenors = []
    for i in range(expiries.size):
        wings = [WingQuote(0.25, RR25[i], BF25[i])]
        if with_10d:
            wings.append(WingQuote(0.10, RR10[i], BF10[i]))
        tenors.append(TenorQuote(expiries[i], forwards[i], df_usd[i], ATM[i], tuple(wings)))
    return tenors


def requote(smiles: SviSmiles, deltas=(0.25,)) -> SmileQuotes:
    return quote_total_variance(
        variance=smiles.variance_and_slope,
        expiries=smiles.expiries,
        forwards=smiles.forwards,
        foreign_discount_factors=smiles.foreign_discount_factors,
        deltas=deltas,
        conventions=smiles.conventions,
    )


def ql_delta_type(expiry: float, premium_adjusted: bool = True) -> int:
    spot = expiry <= SmileConventions().spot_delta_max_expiry
    if premium_adjusted:
        return ql.DeltaVolQuote.PaSpot if spot else ql.DeltaVolQuote.PaFwd
    return ql.DeltaVolQuote.Spot if spot else ql.DeltaVolQuote.Fwd


@pytest.fixture(scope="module")
def smiles() -> SviSmiles:
    return fit_smiles(tenors=usdjpy_tenors())


def test_market_quotes_requote_themselves(smiles: SviSmiles) -> None:
    quotes = requote(smiles)
    assert quotes.converged.all()
    np.testing.assert_allclose(quotes.atm_vols, ATM, rtol=0, atol=1e-10)
    np.testing.assert_allclose(quotes.risk_reversals[:, 0], RR25, rtol=0, atol=1e-10)
    np.testing.assert_allclose(quotes.broker_butterflies[:, 0], BF25, rtol=0, atol=1e-10)


def test_ten_delta_wings_requote_themselves() -> None:
    smiles = fit_smiles(tenors=usdjpy_tenors(with_10d=True))
    quotes = requote(smiles, deltas=(0.25, 0.10))
    assert quotes.converged.all()
    np.testing.assert_allclose(quotes.atm_vols, ATM, rtol=0, atol=1e-10)
    np.testing.assert_allclose(quotes.risk_reversals, np.c_[RR25, RR10], rtol=0, atol=1e-10)
    np.testing.assert_allclose(quotes.broker_butterflies, np.c_[BF25, BF10], rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "conventions",
    [
        SmileConventions(butterfly=Butterfly.SMILE),
        SmileConventions(premium_adjusted=False),
        SmileConventions(atm_type=AtmType.FORWARD),
        SmileConventions(spot_delta_max_expiry=0.0),  # forward delta throughout
    ],
    ids=["smile-fly", "unadjusted", "atm-forward", "forward-delta"],
)
def test_other_conventions_requote_themselves(conventions: SmileConventions) -> None:
    smiles = fit_smiles(tenors=usdjpy_tenors(), conventions=conventions)
    quotes = requote(smiles)
    butterflies = (
        quotes.smile_butterflies
        if conventions.butterfly is Butterfly.SMILE
        else quotes.broker_butterflies
    )
    np.testing.assert_allclose(quotes.atm_vols, ATM, rtol=0, atol=1e-10)
    np.testing.assert_allclose(quotes.risk_reversals[:, 0], RR25, rtol=0, atol=1e-10)
    np.testing.assert_allclose(butterflies[:, 0], BF25, rtol=0, atol=1e-10)


def test_wing_strikes_carry_the_quoted_delta_per_quantlib(smiles: SviSmiles) -> None:
    quotes = requote(smiles)
    _, df_jpy, df_usd, _ = market()
    for i, expiry in enumerate(smiles.expiries):
        for option, strike, vol, delta in (
            (ql.Option.Call, quotes.call_strikes[i, 0], quotes.call_vols[i, 0], 0.25),
            (ql.Option.Put, quotes.put_strikes[i, 0], quotes.put_vols[i, 0], -0.25),
        ):
            calc = ql.BlackDeltaCalculator(
                option, ql_delta_type(expiry), SPOT, df_jpy[i], df_usd[i], vol * math.sqrt(expiry)
            )
            assert calc.deltaFromStrike(float(strike)) == pytest.approx(delta, abs=1e-10)


def test_atm_is_quantlibs_delta_neutral_strike(smiles: SviSmiles) -> None:
    quotes = requote(smiles)
    _, df_jpy, df_usd, _ = market()
    for i, expiry in enumerate(smiles.expiries):
        calc = ql.BlackDeltaCalculator(
            ql.Option.Call,
            ql_delta_type(expiry),
            SPOT,
            df_jpy[i],
            df_usd[i],
            ATM[i] * math.sqrt(expiry),
        )
        strike = calc.atmStrike(ql.DeltaVolQuote.AtmDeltaNeutral)
        assert quotes.atm_strikes[i] == pytest.approx(strike, rel=1e-12)
        assert smiles.vols(strikes=np.full(smiles.expiries.shape, strike))[i] == pytest.approx(
            ATM[i], abs=1e-10
        )


def test_broker_strangle_is_priced_alike_per_quantlib(smiles: SviSmiles) -> None:
    """Clark (2011) §3.7.2: the ±25Δ strangle struck at the single vol ATM + BF costs the same
    at that vol as at the smile's vols; strikes and prices from QuantLib."""
    _, df_jpy, df_usd, forwards = market()
    for i, expiry in enumerate(smiles.expiries):
        vol = ATM[i] + BF25[i]
        std = vol * math.sqrt(expiry)
        legs = []
        for option, delta in ((ql.Option.Call, 0.25), (ql.Option.Put, -0.25)):
            calc = ql.BlackDeltaCalculator(
                option, ql_delta_type(expiry), SPOT, df_jpy[i], df_usd[i], std
            )
            legs.append((option, calc.strikeFromDelta(delta)))
        strikes = np.array([[k for _, k in legs]])
        smile_vols = smiles.vols(strikes=np.repeat(strikes, smiles.expiries.size, 0))[i]
        flat = sum(ql.blackFormula(o, k, forwards[i], std, df_jpy[i]) for o, k in legs)
        smile = sum(
            ql.blackFormula(o, k, forwards[i], v * math.sqrt(expiry), df_jpy[i])
            for (o, k), v in zip(legs, smile_vols, strict=True)
        )
        assert smile == pytest.approx(flat, rel=1e-9)


def test_vol_slope_prices_the_digital(smiles: SviSmiles) -> None:
    """A digital call is −∂C/∂K with the vol moving along the smile: the closed form
    ``DF·N(d2) − vega·dσ/dK`` against a central difference of QuantLib's Black prices."""
    expiries, df_jpy, _, forwards = market()
    grid = np.exp(np.linspace(-2.0, 2.0, 9) * ATM[:, None] * np.sqrt(expiries[:, None]))
    strikes = forwards[:, None] * grid
    vols = smiles.vols(strikes=strikes)
    slopes = smiles.vol_slopes(strikes=strikes)
    for i, expiry in enumerate(expiries):
        root_t = math.sqrt(expiry)
        for strike, vol, slope in zip(strikes[i], vols[i], slopes[i], strict=True):
            h = 1e-3 * strike * vol * root_t
            bumped = np.array([[strike - h, strike + h]])
            v_lo, v_hi = smiles.vols(strikes=np.repeat(bumped, expiries.size, 0))[i]
            c_lo = ql.blackFormula(
                ql.Option.Call, strike - h, forwards[i], v_lo * root_t, df_jpy[i]
            )
            c_hi = ql.blackFormula(
                ql.Option.Call, strike + h, forwards[i], v_hi * root_t, df_jpy[i]
            )
            d1 = math.log(forwards[i] / strike) / (vol * root_t) + 0.5 * vol * root_t
            n_d2 = 0.5 * math.erfc(-(d1 - vol * root_t) / math.sqrt(2.0))
            vega = df_jpy[i] * forwards[i] * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
            digital = df_jpy[i] * n_d2 - vega * root_t * slope
            assert digital == pytest.approx(-(c_hi - c_lo) / (2 * h), rel=1e-6, abs=1e-9)


def test_density_is_breeden_litzenberger_of_quantlib_prices(smiles: SviSmiles) -> None:
    expiries, _, _, forwards = market()
    grid = np.exp(np.linspace(-3.0, 3.0, 13) * ATM[:, None] * np.sqrt(expiries[:, None]))
    strikes = forwards[:, None] * grid
    densities = smiles.densities(strikes=strikes)
    assert (densities > 0).all()
    for i, expiry in enumerate(expiries):
        for strike, density in zip(strikes[i], densities[i], strict=True):
            h = 1e-3 * strike * ATM[i] * math.sqrt(expiry)
            ks = np.array([[strike - h, strike, strike + h]])
            vols = smiles.vols(strikes=np.repeat(ks, expiries.size, 0))[i]
            prices = [
                ql.blackFormula(ql.Option.Call, k, forwards[i], v * math.sqrt(expiry))
                for k, v in zip(ks[0], vols, strict=True)
            ]
            second = (prices[0] - 2 * prices[1] + prices[2]) / (h * h)
            assert density == pytest.approx(second, rel=2e-4)


def test_flat_quotes_give_a_flat_smile() -> None:
    expiries, _, df_usd, forwards = market()
    tenors = [
        TenorQuote(expiries[i], forwards[i], df_usd[i], ATM[i], (WingQuote(0.25, 0.0, 0.0),))
        for i in range(expiries.size)
    ]
    smiles = fit_smiles(tenors=tenors)
    strikes = forwards[:, None] * np.exp(np.linspace(-1.0, 1.0, 11))[None, :]
    np.testing.assert_allclose(
        smiles.vols(strikes=strikes), np.repeat(ATM[:, None], 11, 1), rtol=1e-15
    )
    np.testing.assert_allclose(smiles.vol_slopes(strikes=strikes), 0.0, atol=0)


def one_tenor(**changes) -> list[TenorQuote]:
    tenors = usdjpy_tenors()
    fields = {"atm": tenors[2].atm, "wings": tenors[2].wings, **changes}
    tenors[2] = TenorQuote(
        tenors[2].expiry,
        tenors[2].forward,
        tenors[2].foreign_discount_factor,
        fields["atm"],
        fields["wings"],
    )
    return tenors


@pytest.mark.parametrize(
    ("tenors", "field", "message"),
    [
        (one_tenor(atm=-0.1), "tenors[2].atm", "must be positive, got -0.1"),
        (one_tenor(atm=math.nan), "tenors[2].atm", "must be a finite number"),
        (
            one_tenor(wings=(WingQuote(0.25, -0.018, -0.001),)),
            "tenors[2].wings[0].bf",
            "must be positive",
        ),
        (one_tenor(wings=()), "tenors[2].wings", "got 0"),
        (
            one_tenor(wings=(WingQuote(0.6, -0.018, 0.0035),)),
            "tenors[2].wings[0].delta",
            r"must be in \(0, 0.5\), got 0.6",
        ),
        (
            one_tenor(wings=(WingQuote(0.0, -0.018, 0.0035),)),
            "tenors[2].wings[0].delta",
            r"must be in \(0, 0.5\)",
        ),
        (
            one_tenor(wings=(WingQuote(0.10, -0.03, 0.01), WingQuote(0.25, -0.018, 0.0035))),
            "tenors[2].wings[1].delta",
            "must be below",
        ),
        (one_tenor(wings=(WingQuote(0.25, math.nan, 0.0035),)), "tenors[2].wings[0].rr", "finite"),
        (one_tenor(wings=(WingQuote(0.25, -0.2, 0.00001),)), "tenors[2].wings[0].bf", "too low"),
        (
            one_tenor(
                wings=(
                    WingQuote(0.25, RR25[2], BF25[2]),
                    WingQuote(0.10, 1.9 * RR25[2], 2.8 * BF25[2]),
                )
            ),
            "tenors[2].wings[1].bf",
            "cannot be matched by an SVI smile",
        ),
        (usdjpy_tenors()[::-1], "tenors[1].expiry", r"must be later than tenors\[0\]\.expiry"),
        ([], "tenors", "at least one tenor"),
    ],
    ids=[
        "negative-atm",
        "missing-atm",
        "negative-bf",
        "no-wings",
        "delta-0.6",
        "delta-0",
        "wings-unsorted",
        "missing-rr",
        "bf-too-low-for-rr",
        "10d-wing-outside-svi",
        "unsorted-tenors",
        "no-tenors",
    ],
)
def test_bad_quotes_raise_smile_error_naming_the_field(
    tenors: list[TenorQuote], field: str, message: str
) -> None:
    with pytest.raises(SmileError, match=message) as caught:
        fit_smiles(tenors=tenors)
    assert caught.value.field == field
