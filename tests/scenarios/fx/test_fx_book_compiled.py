"""The compiled book valuation (``pricing.fx.book``) against the step-by-step one.

Witnesses: :func:`scenarios.fx.valuation.value_book_stepwise`, the numpy assembly around the
kernels that the rest of the suite holds to QuantLib, parity and finite differences
(:mod:`scenarios.vol.model`'s vol reads, :func:`pricing.mixture.digital_slope.digital_slope_terms`
for the digitals' smile slope), on flat and smiled post-event vols (scenario smiles as quotes
and as shifts, scaled as a calibration scales them) and digitals under the market's surface;
its serial build against its threaded one, bit for bit; and the named errors of the
step-by-step path for the three ways a book fails. A fault planted in either path (a rate, a
vol read, a jump, a measure derivative, a slope term) moves a figure by far more than the
1e-13 these tests allow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from pricing.curve import CurveInterpolation
from pricing.fx import book as fx_book
from pricing.mixture.measure import Measure
from pricing.vol.surface import VolSurface
from scenarios.catalog import builtin_catalog
from scenarios.dates import tenor_dates
from scenarios.errors import DomainError
from scenarios.fx import valuation
from scenarios.fx.instruments import Currency, OptionKind, build_fx_option
from scenarios.fx.valuation import book_tables, value_book, value_book_stepwise
from scenarios.vol.model import build_vol_model
from scenarios.vol.smiles import ScenarioSmile, SmileQuote, SmileShift

D = dt.date
ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET, SET = ENTRY.market, ENTRY.scenario_set
TODAY = MARKET.valuation_date
BARE = dataclasses.replace(MARKET, surface=None)  # the ATM curve, no surface
LINEAR = dataclasses.replace(
    BARE,
    jpy_curve=dataclasses.replace(MARKET.jpy_curve, interpolation=CurveInterpolation.LINEAR_ZERO),
    usd_curve=dataclasses.replace(MARKET.usd_curve, interpolation=CurveInterpolation.LINEAR_ZERO),
)
# before the event, on it, just after, and out past the last pillar
EXPIRIES = (D(2025, 6, 16), D(2025, 7, 9), D(2025, 7, 10), D(2025, 9, 12), D(2027, 12, 1))
STRIKES = (70.0, 128.0, 144.1, 150.0, 165.0, 400.0)
VANILLAS = ((OptionKind.CALL, None), (OptionKind.PUT, None), (OptionKind.FORWARD, None))
DIGITALS = ((OptionKind.DIGITAL_CALL, Currency.JPY), (OptionKind.DIGITAL_PUT, Currency.USD))
ALL_DIGITALS = (
    *DIGITALS,
    (OptionKind.DIGITAL_PUT, Currency.JPY),
    (OptionKind.DIGITAL_CALL, Currency.USD),
)


def post_quotes(rows) -> tuple[SmileQuote, ...]:
    """Scenario quotes (ATM, 25Δ RR and BF) with tenors counted from the event date."""
    event = SET.event_date
    return tuple(
        SmileQuote(*tenor_dates("t", event, tenor), atm=a, rr25=r, bf25=b, tenor=tenor)
        for tenor, a, r, b in rows
    )


def smiled_set(**smiles: ScenarioSmile):
    scenarios = tuple(dataclasses.replace(s, smile=smiles.get(s.name)) for s in SET.scenarios)
    return dataclasses.replace(SET, scenarios=scenarios)


QUOTED = ScenarioSmile(
    quotes=post_quotes(
        [("1M", 0.13, -0.025, 0.004), ("6M", 0.125, -0.03, 0.0045), ("2Y", 0.12, -0.03, 0.005)]
    )
)
SHIFTED = ScenarioSmile(shift=SmileShift(atm=-0.02, rr25=0.01, bf25=0.002))
# two scenarios with a smile, the others flat; and every scenario with one
SOME_SMILES = smiled_set(comprehensive_deal=SHIFTED, no_deal=QUOTED)
ALL_SMILES = smiled_set(**{s.name: (QUOTED, SHIFTED)[i % 2] for i, s in enumerate(SET.scenarios)})


def book(kinds, strikes=STRIKES, expiries=EXPIRIES):
    return tuple(
        build_fx_option(
            valuation_date=TODAY, kind=k, strike=s, expiry=e, payout_currency=c, notional=2.5
        )
        for e in expiries
        for s in strikes
        for k, c in kinds
    )


def assert_same(fused, stepwise) -> None:
    """Every figure to 1e-13 of its own scale: the two paths differ only in summation order."""
    for field in dataclasses.fields(fused.greeks):
        a, b = getattr(fused.greeks, field.name), getattr(stepwise.greeks, field.name)
        scale = np.maximum(np.abs(b), 1e-12)
        assert np.all(np.abs(a - b) <= 1e-13 * scale), field.name
    # ∂price/∂L: sums of terms that cancel (a deep in-the-money line is ~1e-16 of noise):
    # measured against the largest term of the row's price scale
    row_scale = np.maximum(np.abs(stepwise.greeks.scenario_values).max(axis=1), 1e-12)
    assert np.all(np.abs(fused.d_levels - stepwise.d_levels) <= 1e-13 * row_scale[:, None])
    np.testing.assert_array_equal(fused.forwards, stepwise.forwards)
    np.testing.assert_array_equal(fused.after_event, stepwise.after_event)
    np.testing.assert_array_equal(fused.implied_status, stepwise.implied_status)
    np.testing.assert_array_equal(fused.implied_ok, stepwise.implied_ok)
    assert np.all(np.abs(fused.implied_vols - stepwise.implied_vols) <= 1e-13)
    assert fused.scenario_names == stepwise.scenario_names


@pytest.mark.parametrize(
    ("market", "kinds"),
    [
        (MARKET, VANILLAS),  # the market surface, read per scenario at K/J_i
        (BARE, VANILLAS + DIGITALS),  # the ATM curve: digitals have no smile slope
        (LINEAR, VANILLAS + DIGITALS),  # linear zero-rate interpolation
    ],
    ids=["surface", "atm-curve", "linear-zero"],
)
@pytest.mark.parametrize("measure", list(Measure))
def test_compiled_book_equals_the_stepwise_assembly(market, kinds, measure) -> None:
    options = book(kinds)
    fused = value_book(market=market, scenario_set=SET, options=options, measure=measure)
    stepwise = value_book_stepwise(
        market=market, scenario_set=SET, options=options, measure=measure
    )
    assert isinstance(fused.greeks.price, np.ndarray)
    assert fused.after_event.any() and not fused.after_event.all()
    assert_same(fused, stepwise)


@pytest.mark.parametrize(
    ("market", "scenario_set"),
    [
        (MARKET, SET),  # digitals under the market's surface: its pre-event slope
        (MARKET, SOME_SMILES),  # both slopes; flat scenarios beside smiled ones
        (MARKET, ALL_SMILES),
        (BARE, SOME_SMILES),  # the ATM curve before the event: the post-event slope alone
        (LINEAR, ALL_SMILES),
    ],
    ids=["surface-digitals", "surface-some-smiles", "surface-all-smiles", "atm-some-smiles",
         "linear-all-smiles"],
)  # fmt: skip
@pytest.mark.parametrize("measure", list(Measure))
def test_compiled_book_equals_the_stepwise_assembly_with_smiles(
    market, scenario_set, measure
) -> None:
    options = book(VANILLAS + ALL_DIGITALS)
    model = build_vol_model(market, scenario_set)
    assert model.has_scenario_smiles == (scenario_set is not SET)
    fused = value_book(market=market, scenario_set=scenario_set, options=options, measure=measure)
    stepwise = value_book_stepwise(
        market=market, scenario_set=scenario_set, options=options, measure=measure
    )
    assert fused.after_event.any() and not fused.after_event.all()
    assert fused.implied_ok.any()
    assert_same(fused, stepwise)


def rescaled(monkeypatch, market, scenario_set, factors) -> None:
    """Both paths read the vol model with each scenario's post-event vols scaled (a
    calibration's refit), the compiled one through uncached tables."""
    model = build_vol_model(market, scenario_set).rescaled(np.array(factors))
    monkeypatch.setattr(valuation, "build_vol_model", lambda *args: model)
    monkeypatch.setattr(valuation, "book_tables", book_tables.__wrapped__)


def test_scaled_post_event_smiles_price_as_the_stepwise_assembly(monkeypatch) -> None:
    options = book(VANILLAS + ALL_DIGITALS)
    reference = value_book(market=MARKET, scenario_set=SOME_SMILES, options=options)
    rescaled(monkeypatch, MARKET, SOME_SMILES, (1.3, 0.8, 1.1, 0.7, 1.2))
    fused = value_book(market=MARKET, scenario_set=SOME_SMILES, options=options)
    stepwise = value_book_stepwise(market=MARKET, scenario_set=SOME_SMILES, options=options)
    assert_same(fused, stepwise)
    after = fused.after_event
    assert not np.allclose(fused.greeks.price[after], reference.greeks.price[after])


def test_a_digital_under_smiles_is_minus_the_strike_derivative_of_calls() -> None:
    """The slope term is in the compiled price: a central difference of compiled call prices
    in strike, at the digital's own vol reads (sticky strike is not assumed: the calls are
    read off the smiles at each bumped strike)."""
    expiry, strike, h = D(2025, 9, 12), 150.0, 1e-3
    calls = book(VANILLAS[:1], strikes=(strike - h, strike + h), expiries=(expiry,))
    digital = book(DIGITALS[:1], strikes=(strike,), expiries=(expiry,))
    for scenario_set in (SET, ALL_SMILES):
        prices = value_book(market=MARKET, scenario_set=scenario_set, options=calls).greeks.price
        price = value_book(market=MARKET, scenario_set=scenario_set, options=digital).greeks.price
        assert price[0] == pytest.approx((prices[0] - prices[1]) / (2 * h), rel=1e-6)


def test_the_compiled_path_is_taken_where_it_applies(monkeypatch) -> None:
    calls = []
    original = fx_book.value_fx_options

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr("scenarios.fx.valuation.value_fx_options", counting)
    monkeypatch.setattr("scenarios.fx.valuation.price_options", None)  # the stepwise step
    value_book(market=MARKET, scenario_set=SET, options=book(VANILLAS))
    value_book(market=BARE, scenario_set=SET, options=book(DIGITALS))
    value_book(market=MARKET, scenario_set=SET, options=book(DIGITALS))  # off the smile
    value_book(market=MARKET, scenario_set=ALL_SMILES, options=book(VANILLAS + DIGITALS))
    value_book(market=BARE, scenario_set=SOME_SMILES, options=book(DIGITALS))
    assert len(calls) == 5


@pytest.mark.parametrize(
    ("scenario_set", "kinds"),
    [(SET, VANILLAS), (SET, VANILLAS + ALL_DIGITALS), (SOME_SMILES, VANILLAS + ALL_DIGITALS)],
    ids=["vanillas", "digitals", "smiles"],
)
def test_serial_and_threaded_builds_agree_bit_for_bit(monkeypatch, scenario_set, kinds) -> None:
    """A book above the threshold runs the threaded build; the same book below it, serial."""
    options = book(kinds, strikes=tuple(np.linspace(100.0, 190.0, 40)))
    tables = book_tables(MARKET, scenario_set, Measure.TILT)
    today = TODAY
    arrays = dict(
        payoffs=np.array([int(o.payoff) for o in options]),
        strikes=np.array([o.strike for o in options]),
        expiries=np.array([(o.expiry - today).days / 365.0 for o in options]),
        deliveries=np.array([(o.delivery - today).days / 365.0 for o in options]),
    )
    monkeypatch.setattr(fx_book, "PARALLEL_THRESHOLD", 10**9)
    serial = fx_book.value_fx_book(tables, **arrays)
    monkeypatch.setattr(fx_book, "PARALLEL_THRESHOLD", 1)
    threaded = fx_book.value_fx_book(tables, **arrays)
    assert serial.problem is threaded.problem is fx_book.Problem.NONE
    for name in ("columns", "scenario_values", "d_jumps", "d_levels", "implied_status"):
        np.testing.assert_array_equal(getattr(serial, name), getattr(threaded, name), name)


def errors(market, options, scenario_set=SET):
    messages = []
    for valuation_path in (value_book, value_book_stepwise):
        with pytest.raises(DomainError) as caught:
            valuation_path(market=market, scenario_set=scenario_set, options=options)
        messages.append([(e.field, e.reason) for e in caught.value.errors])
    return messages


def test_a_strike_far_from_spot_is_named_as_the_stepwise_path_names_it() -> None:
    options = book(VANILLAS[:1], strikes=(150.0,)) + book(VANILLAS[:1], strikes=(1e6,))
    fused, stepwise = errors(MARKET, options)
    assert fused == stepwise
    assert fused[0][0] == f"instruments[{len(options) // 2}].strike"


def planted(monkeypatch, **fields) -> None:
    """``book_tables`` with some fields replaced: a fault no valid request can reach."""
    tables = dataclasses.replace(book_tables(MARKET, SET, Measure.TILT), **fields)
    monkeypatch.setattr("scenarios.fx.valuation.book_tables", lambda *args: tables)


def test_a_figure_that_is_not_finite_is_refused_by_line(monkeypatch) -> None:
    post_vols = np.array([[0.1, np.inf, 0.1, 0.1, 0.1]])
    planted(monkeypatch, post_vols=post_vols)
    before, after = D(2025, 7, 1), D(2025, 9, 12)  # only the line after the event reads it
    options = book(VANILLAS[:1], strikes=(150.0,), expiries=(before, after))
    with pytest.raises(DomainError) as caught:
        value_book(market=MARKET, scenario_set=SET, options=options)
    (error,) = caught.value.errors
    assert error.field == "instruments[1]"
    assert "not finite" in error.reason


def test_no_positive_variance_on_the_surface_is_refused_by_line(monkeypatch) -> None:
    surface = book_tables(MARKET, SET, Measure.TILT).surface.copy()
    surface[:, 1] = -1.0  # SVI a: every pillar's variance negative
    planted(monkeypatch, surface=surface)
    options = book(VANILLAS[:1], strikes=(150.0,), expiries=(D(2025, 9, 12),))
    with pytest.raises(DomainError) as caught:
        value_book(market=MARKET, scenario_set=SET, options=options)
    (error,) = caught.value.errors
    assert error.field == "instruments[0]"
    assert "no positive variance" in error.reason


def test_no_positive_variance_on_a_scenario_surface_is_refused_where_stepwise_refuses(
    monkeypatch,
) -> None:
    """A post-event smile dipping below zero variance near its vertex: the strikes there are
    refused after the event (not before it, where the smile is not read), by both paths at
    the same line."""
    model = build_vol_model(MARKET, SOME_SMILES)
    j = next(i for i, s in enumerate(model.smiles) if s.surface is not None)
    surface = model.smiles[j].surface
    params = surface.smiles.params
    dipped = dataclasses.replace(params, a=params.a - params.min_variance - 0.002)
    broken = VolSurface(
        dataclasses.replace(surface.smiles, params=dipped),
        surface.event_times,
        surface.event_variances,
    )
    smiles = list(model.smiles)
    smiles[j] = dataclasses.replace(smiles[j], surface=broken)
    monkeypatch.setattr(
        valuation, "build_vol_model", lambda *args: dataclasses.replace(model, smiles=tuple(smiles))
    )
    monkeypatch.setattr(valuation, "book_tables", book_tables.__wrapped__)
    before = book(VANILLAS[:1], strikes=STRIKES[1:-1], expiries=(D(2025, 7, 1),))
    for valuation_path in (value_book, value_book_stepwise):  # not read there: priced
        valuation_path(market=MARKET, scenario_set=SOME_SMILES, options=before)
    strikes = tuple(np.linspace(100.0, 200.0, 41))
    options = before + book(DIGITALS[:1], strikes=strikes, expiries=(D(2025, 9, 12),))
    fused, stepwise = errors(MARKET, options, SOME_SMILES)
    assert fused == stepwise
    ((field, reason),) = fused
    assert "no positive variance" in reason
    assert len(before) < int(field.removeprefix("instruments[").rstrip("]")) < len(options) - 1
