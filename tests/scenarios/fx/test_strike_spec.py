"""Strikes in desk terms ("25D", "ATM", "ATMF") resolved on the built-in market's smile.

Witnesses: QuantLib's ``BlackDeltaCalculator`` (premium-adjusted spot delta to 1Y, forward
beyond; unadjusted on a surface quoted so), fed the market's discount factors to delivery and
the surface's vol read at the resolved strike, recomputes the requested delta (1e-10) and the
delta-neutral ATM (``atmStrike(AtmDeltaNeutral)``, 1e-10 relative); the surface's own pillar
quotes (:func:`pricing.vol.quoting.quote_surface`): a "25D" strike at a pillar is that
pillar's 25-delta strike, and its vols give back the quoted ATM and 25Δ risk reversal of
``scenarios/data/tariff_2025.toml``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest
import QuantLib as ql

from pricing.vol.quotes import SmileConventions
from pricing.vol.quoting import quote_surface
from scenarios.catalog import builtin_catalog
from scenarios.dates import tenor_dates, year_fraction
from scenarios.errors import DomainError
from scenarios.fx.instruments import OptionKind
from scenarios.fx.strike_spec import (
    StrikeSpec,
    StrikeType,
    parse_strike_spec,
    resolve_strike,
    resolve_strikes,
)
from scenarios.market import MarketSnapshot

ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET = ENTRY.market
TODAY = MARKET.valuation_date
TENORS = ("1W", "1M", "3M", "6M", "1Y", "18M", "2Y")
DELTA_SPECS = ("25D", "10D", "12.5D", "1D", "49D")
SIDES = (OptionKind.CALL, OptionKind.PUT)
_QL_TYPES = {
    "premium_adjusted_spot": ql.DeltaVolQuote.PaSpot,
    "premium_adjusted_forward": ql.DeltaVolQuote.PaFwd,
    "spot": ql.DeltaVolQuote.Spot,
    "forward": ql.DeltaVolQuote.Fwd,
}


def _calculator(market: MarketSnapshot, tenor: str, kind: OptionKind, strike: float,
                convention: str) -> tuple[ql.BlackDeltaCalculator, float]:  # fmt: skip
    """QuantLib's calculator at the market's vol at ``strike`` (the surface read directly,
    discount factors to delivery, std dev to the expiry), and that vol."""
    expiry, delivery = tenor_dates("tenor", TODAY, tenor)
    t, t_del = year_fraction(TODAY, expiry), year_fraction(TODAY, delivery)
    times = np.array(t_del)
    forward = float(market.forwards(times))
    usd = float(market.usd_discount_factors(times))
    jpy = math.exp(-float(market.jpy_curve.zero_rates_at(times)) * t_del)
    surface = market.vol_surface()
    if surface is None:
        vol = math.sqrt(float(market.atm_vols.total_variance(np.array(t))) / t)
    else:
        vol = float(surface.vols(expiries=t, strikes=strike, forwards=forward).vols)
    option = ql.Option.Call if kind is OptionKind.CALL else ql.Option.Put
    calc = ql.BlackDeltaCalculator(
        option, _QL_TYPES[convention], market.spot, jpy, usd, vol * math.sqrt(t)
    )
    return calc, vol


def _resolve(market: MarketSnapshot, tenor: str, kind: OptionKind, spec: str):
    expiry, delivery = tenor_dates("tenor", TODAY, tenor)
    return resolve_strike(market, kind=kind, spec=spec, expiry=expiry, delivery=delivery)


@pytest.mark.parametrize("kind", SIDES)
@pytest.mark.parametrize("tenor", TENORS)
@pytest.mark.parametrize("spec", DELTA_SPECS)
def test_delta_strike_has_its_delta_per_quantlib(spec, tenor, kind) -> None:
    resolved = _resolve(MARKET, tenor, kind, spec)
    expected = "premium_adjusted_forward" if tenor in ("18M", "2Y") else "premium_adjusted_spot"
    assert resolved.delta_convention == expected
    calc, vol = _calculator(MARKET, tenor, kind, resolved.strike, resolved.delta_convention)
    assert resolved.vol == vol  # the smile's vol at that strike
    sign = 1.0 if kind is OptionKind.CALL else -1.0
    delta = float(spec.removesuffix("D")) / 100.0
    assert calc.deltaFromStrike(resolved.strike) == pytest.approx(sign * delta, abs=1e-10)


@pytest.mark.parametrize("tenor", TENORS)
def test_atm_is_quantlibs_delta_neutral_strike_at_its_own_vol(tenor) -> None:
    call = _resolve(MARKET, tenor, OptionKind.CALL, "ATM")
    put = _resolve(MARKET, tenor, OptionKind.PUT, "ATM")
    assert put == call
    calc, _ = _calculator(MARKET, tenor, OptionKind.CALL, call.strike, call.delta_convention)
    assert calc.atmStrike(ql.DeltaVolQuote.AtmDeltaNeutral) == pytest.approx(call.strike, rel=1e-10)
    put_calc, _ = _calculator(MARKET, tenor, OptionKind.PUT, put.strike, put.delta_convention)
    straddle = calc.deltaFromStrike(call.strike) + put_calc.deltaFromStrike(put.strike)
    assert straddle == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("tenor", TENORS)
def test_atmf_is_the_forward_to_delivery(tenor) -> None:
    resolved = _resolve(MARKET, tenor, OptionKind.PUT, "ATMF")
    calc, _ = _calculator(MARKET, tenor, OptionKind.PUT, resolved.strike, resolved.delta_convention)
    assert calc.atmStrike(ql.DeltaVolQuote.AtmFwd) == pytest.approx(resolved.strike, rel=1e-14)


def test_at_the_pillars_the_strikes_are_the_surfaces_own_quotes() -> None:
    """1W … 2Y are the surface's pillars: 25D and 10D are the strikes it quotes back, ATM
    its ATM strike, and their vols the quoted ATM and 25Δ risk reversal."""
    surface = MARKET.vol_surface()
    assert surface is not None and MARKET.surface is not None
    quotes = quote_surface(surface=surface, deltas=(0.25, 0.10))
    assert quotes.converged.all()
    for i, quote in enumerate(MARKET.surface.quotes):

        def line(kind: OptionKind, spec: str, quote=quote):
            return resolve_strike(MARKET, kind=kind, spec=spec, expiry=quote.expiry,
                                  delivery=quote.delivery)  # fmt: skip

        for j, spec in enumerate(("25D", "10D")):
            call, put = line(OptionKind.CALL, spec), line(OptionKind.PUT, spec)
            assert call.strike == pytest.approx(quotes.call_strikes[i, j], rel=1e-10)
            assert put.strike == pytest.approx(quotes.put_strikes[i, j], rel=1e-10)
            assert call.vol == pytest.approx(quotes.call_vols[i, j], abs=1e-10)
        atm = line(OptionKind.CALL, "ATM")
        assert atm.strike == pytest.approx(quotes.atm_strikes[i], rel=1e-10)
        assert atm.vol == pytest.approx(quote.atm, abs=1e-10)  # the toml's ATM quote
        rr = line(OptionKind.CALL, "25D").vol - line(OptionKind.PUT, "25D").vol
        assert rr == pytest.approx(quote.rr25, abs=1e-10)  # the toml's 25Δ risk reversal


@pytest.mark.parametrize("tenor", ["1M", "2Y"])
def test_an_unadjusted_surface_reads_unadjusted_deltas(tenor) -> None:
    """A surface quoted without premium adjustment: "25D" is then a spot/forward delta."""
    assert MARKET.surface is not None
    plain = dataclasses.replace(
        MARKET,
        surface=dataclasses.replace(
            MARKET.surface, conventions=SmileConventions(premium_adjusted=False)
        ),
    )
    for kind, sign in ((OptionKind.CALL, 1.0), (OptionKind.PUT, -1.0)):
        resolved = _resolve(plain, tenor, kind, "25D")
        assert resolved.delta_convention == ("spot" if tenor == "1M" else "forward")
        calc, _ = _calculator(plain, tenor, kind, resolved.strike, resolved.delta_convention)
        assert calc.deltaFromStrike(resolved.strike) == pytest.approx(0.25 * sign, abs=1e-10)
        atm = _resolve(plain, tenor, kind, "ATM")
        calc, _ = _calculator(plain, tenor, kind, atm.strike, atm.delta_convention)
        assert calc.atmStrike(ql.DeltaVolQuote.AtmDeltaNeutral) == pytest.approx(
            atm.strike, rel=1e-10
        )


def test_without_a_surface_the_atm_curve_is_flat_in_strike() -> None:
    bare = dataclasses.replace(MARKET, surface=None)
    expiry, delivery = tenor_dates("tenor", TODAY, "3M")
    t, t_del = year_fraction(TODAY, expiry), year_fraction(TODAY, delivery)
    resolved = resolve_strike(bare, kind=OptionKind.CALL, spec="ATM", expiry=expiry,
                              delivery=delivery)  # fmt: skip
    vol = math.sqrt(float(bare.atm_vols.total_variance(np.array(t))) / t)
    forward = float(bare.forwards(np.array(t_del)))
    assert resolved.vol == pytest.approx(vol, rel=1e-15)
    assert resolved.strike == pytest.approx(forward * math.exp(-0.5 * vol * vol * t), rel=1e-14)
    put = resolve_strike(bare, kind=OptionKind.PUT, spec="25D", expiry=expiry, delivery=delivery)
    jpy = math.exp(-float(bare.jpy_curve.zero_rates_at(np.array(t_del))) * t_del)
    usd = float(bare.usd_discount_factors(np.array(t_del)))
    calc = ql.BlackDeltaCalculator(ql.Option.Put, ql.DeltaVolQuote.PaSpot, bare.spot, jpy, usd,
                                   vol * math.sqrt(t))  # fmt: skip
    assert calc.deltaFromStrike(put.strike) == pytest.approx(-0.25, abs=1e-10)


def test_with_the_event_weighed_the_strike_reads_the_surface_the_valuation_reads() -> None:
    assert MARKET.surface is not None
    weighted = dataclasses.replace(
        MARKET, surface=dataclasses.replace(MARKET.surface, event_extra_days=3.0)
    )
    event = ENTRY.scenario_set.event_date
    # the day after the decision, between the 1W and 1M pillars: the interval the event sits in
    expiry = dt.date(2025, 7, 10)
    delivery = dt.date(2025, 7, 14)
    t, t_del = year_fraction(TODAY, expiry), year_fraction(TODAY, delivery)
    with_event = resolve_strike(weighted, kind=OptionKind.PUT, spec="25D", expiry=expiry,
                                delivery=delivery, event_date=event)  # fmt: skip
    without = resolve_strike(weighted, kind=OptionKind.PUT, spec="25D", expiry=expiry,
                             delivery=delivery)  # fmt: skip
    assert abs(with_event.strike - without.strike) > 1e-3
    surface = weighted.vol_surface(year_fraction(TODAY, event))
    assert surface is not None
    forward = float(weighted.forwards(np.array(t_del)))
    vol = float(surface.vols(expiries=t, strikes=with_event.strike, forwards=forward).vols)
    assert vol == pytest.approx(with_event.vol, rel=1e-15)
    jpy = math.exp(-float(weighted.jpy_curve.zero_rates_at(np.array(t_del))) * t_del)
    usd = float(weighted.usd_discount_factors(np.array(t_del)))
    calc = ql.BlackDeltaCalculator(ql.Option.Put, ql.DeltaVolQuote.PaSpot, weighted.spot, jpy,
                                   usd, vol * math.sqrt(t))  # fmt: skip
    assert calc.deltaFromStrike(with_event.strike) == pytest.approx(-0.25, abs=1e-10)


def test_a_book_resolves_line_by_line_as_one_line_does() -> None:
    """Grouped lines (digitals on their kind's side, repeated lines, implied deliveries)."""
    three_months, delivery = tenor_dates("tenor", TODAY, "3M")
    lines = [
        (OptionKind.CALL, "25D", three_months, delivery),
        (OptionKind.DIGITAL_CALL, "25D", three_months, delivery),
        (OptionKind.PUT, "10D", dt.date(2026, 1, 9), None),
        (OptionKind.DIGITAL_PUT, parse_strike_spec("10D"), dt.date(2026, 1, 9), None),
        (OptionKind.CALL, "ATM", dt.date(2027, 3, 5), None),
        (OptionKind.CALL, "25D", three_months, delivery),
    ]
    book = resolve_strikes(MARKET, kinds=[x[0] for x in lines], specs=[x[1] for x in lines],
                           expiries=[x[2] for x in lines], deliveries=[x[3] for x in lines])  # fmt: skip
    for i, (kind, spec, expiry, line_delivery) in enumerate(lines):
        one = resolve_strike(MARKET, kind=kind, spec=spec, expiry=expiry, delivery=line_delivery)
        assert book[i] == one
    assert book.strikes[0] == book.strikes[1] == book.strikes[5]
    assert book.strikes[2] == book.strikes[3]
    assert book.delta_conventions[4] == "premium_adjusted_forward"  # 1.7 years: forward delta


def test_parse_accepts_the_desk_spellings() -> None:
    assert parse_strike_spec("25D") == StrikeSpec(StrikeType.DELTA, 0.25, "25D")
    assert parse_strike_spec("12.5D").delta == 0.125
    assert parse_strike_spec("49.99D").delta == pytest.approx(0.4999)
    assert parse_strike_spec("ATM").type is StrikeType.ATM
    assert parse_strike_spec("ATMF").type is StrikeType.ATM_FORWARD


@pytest.mark.parametrize(
    "text",
    ["60D", "0D", "50D", "0.0D", "25", "ATMF ", "atm", "25d", "-25D", "D", "25DD", "", "1e1D",
     "100D", "ATMS", 25, None],
)  # fmt: skip
def test_malformed_specs_are_refused_naming_the_strike(text) -> None:
    with pytest.raises(DomainError) as raised:
        parse_strike_spec(text)
    assert [e.field for e in raised.value.errors] == ["strike"]
    assert repr(text) in raised.value.errors[0].reason
    expiry, delivery = tenor_dates("tenor", TODAY, "1M")
    with pytest.raises(DomainError) as raised:
        resolve_strike(MARKET, kind=OptionKind.CALL, spec=text, expiry=expiry, delivery=delivery)
    assert raised.value.errors[0].field == "strike"
    assert repr(text) in raised.value.errors[0].reason


def test_bad_lines_are_refused_by_field_and_line() -> None:
    expiry, delivery = tenor_dates("tenor", TODAY, "1M")
    cases = [
        (dict(kind=OptionKind.FORWARD, spec="25D"), "strike", "not to a forward"),
        (dict(spec="25D", expiry=TODAY), "expiry", "must be after the valuation date"),
        (dict(spec="25D", delivery=expiry - dt.timedelta(days=1)), "delivery",
         "must be on or after the expiry"),
        (dict(spec="25D", expiry=dt.date(2070, 1, 1), delivery=None), "expiry",
         "must be at most 30 years after the valuation date"),
    ]  # fmt: skip
    for changes, field, reason in cases:
        line = dict(kind=OptionKind.CALL, expiry=expiry, delivery=delivery) | changes
        with pytest.raises(DomainError) as raised:
            resolve_strike(MARKET, **line)
        assert raised.value.errors[0].field == field, changes
        assert reason in raised.value.errors[0].reason, changes
    with pytest.raises(
        DomainError, match=r"a delta strike must lie strictly between 0D and 50D, got '55D'"
    ) as raised:
        resolve_strikes(MARKET, kinds=[OptionKind.CALL, OptionKind.PUT], specs=["25D", "55D"],
                        expiries=[expiry, expiry], deliveries=[delivery, delivery])  # fmt: skip
    assert raised.value.prefixed("instruments").errors[0].field == "instruments[1].strike"
