"""The compiled book valuation (``pricing.fx.book``) against the step-by-step one.

Witnesses: :func:`scenarios.fx.valuation.value_book_stepwise`, the numpy assembly around the
kernels that the rest of the suite holds to QuantLib, parity and finite differences (and
that still prices scenario smiles); its serial build against its threaded one, bit for bit;
and the named errors of the step-by-step path for the three ways a book fails. A fault
planted in either path (a rate, a vol read, a jump, a measure derivative) moves a figure by
far more than the 1e-13 these tests allow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from pricing.curve import CurveInterpolation
from pricing.fx import book as fx_book
from pricing.mixture.measure import Measure
from scenarios.catalog import builtin_catalog
from scenarios.errors import DomainError
from scenarios.fx.instruments import Currency, OptionKind, build_fx_option
from scenarios.fx.valuation import book_tables, value_book, value_book_stepwise

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


def test_the_compiled_path_is_taken_where_it_applies(monkeypatch) -> None:
    calls = []
    original = fx_book.value_fx_options

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr("scenarios.fx.valuation.value_fx_options", counting)
    value_book(market=MARKET, scenario_set=SET, options=book(VANILLAS))
    value_book(market=BARE, scenario_set=SET, options=book(DIGITALS))
    assert len(calls) == 2
    # a digital off the market's smile needs the slope term: the stepwise path prices it
    value_book(market=MARKET, scenario_set=SET, options=book(DIGITALS))
    assert len(calls) == 2


def test_serial_and_threaded_builds_agree_bit_for_bit(monkeypatch) -> None:
    """A book above the threshold runs the threaded build; the same book below it, serial."""
    options = book(VANILLAS, strikes=tuple(np.linspace(100.0, 190.0, 40)))
    tables = book_tables(MARKET, SET, Measure.TILT)
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


def errors(market, options):
    messages = []
    for valuation in (value_book, value_book_stepwise):
        with pytest.raises(DomainError) as caught:
            valuation(market=market, scenario_set=SET, options=options)
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
