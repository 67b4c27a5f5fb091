"""Smiles in the domain: market surfaces, scenario smiles, the mixture's surface, calibration.

Witnesses: the foundation's flat-vol prices (a flat surface at the ATM curve's pillar dates,
flat scenario quotes at the scenario's vol); the built-in data file read here with tomllib
(the surface re-quotes its own quotes); a digital as minus the strike derivative of calls
(and a USD digital as ``C − K·dC/dK``), by Richardson-extrapolated central differences of
the service's own call prices; QuantLib's ``blackFormula`` at the mixture's quoted vols;
Breeden–Litzenberger second differences for densities; probabilities recovered from quotes
the mixture itself generated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tomllib
from importlib import resources

import numpy as np
import pytest
import QuantLib as ql

from pricing.mixture.measure import Measure
from pricing.vol.arbitrage import arbitrage_report
from pricing.vol.quoting import quote_surface
from scenarios.calibration.fit import CalibrationSettings, calibrate
from scenarios.calibration.rows import OptionQuote
from scenarios.catalog import builtin_catalog
from scenarios.dates import tenor_dates, year_fraction
from scenarios.errors import DomainError
from scenarios.fx.instruments import Currency, OptionKind, build_fx_option
from scenarios.fx.valuation import fit_measure, value_book
from scenarios.market import Diffusion
from scenarios.scenario import Scenario, ScenarioSet
from scenarios.vol.mixture_smile import Expiries, mixture_variance
from scenarios.vol.model import build_vol_model
from scenarios.vol.smiles import MarketSurface, ScenarioSmile, SmileQuote, SmileShift
from scenarios.vol.surface_view import vol_surface_view

D = dt.date
ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET, SET = ENTRY.market, ENTRY.scenario_set
TODAY, EVENT = MARKET.valuation_date, SET.event_date
BARE = dataclasses.replace(MARKET, surface=None)  # the ATM curve alone, flat in strike
EXPIRIES = (D(2025, 6, 27), D(2025, 7, 9), D(2025, 7, 16), D(2025, 9, 12), D(2026, 6, 12))
KINDS = (
    (OptionKind.CALL, None),
    (OptionKind.PUT, None),
    (OptionKind.DIGITAL_CALL, Currency.JPY),
    (OptionKind.DIGITAL_PUT, Currency.USD),
    (OptionKind.FORWARD, None),
)


def options(strikes=(128.0, 140.0, 144.1, 150.0, 165.0), expiries=EXPIRIES, kinds=KINDS):
    return tuple(
        build_fx_option(valuation_date=TODAY, kind=k, strike=s, expiry=e, payout_currency=c)
        for e in expiries
        for s in strikes
        for k, c in kinds
    )


def shifted_set(**smiles: ScenarioSmile) -> ScenarioSet:
    scenarios = tuple(
        dataclasses.replace(s, smile=smiles.get(s.name, s.smile)) for s in SET.scenarios
    )
    return dataclasses.replace(SET, scenarios=scenarios)


def post_quotes(rows) -> tuple[SmileQuote, ...]:
    """Scenario quotes with tenors counted from the event date."""
    return tuple(
        SmileQuote(*tenor_dates("t", EVENT, tenor), atm=a, rr25=r, bf25=b, tenor=tenor)
        for tenor, a, r, b in rows
    )


SMILES = {
    "comprehensive_deal": ScenarioSmile(shift=SmileShift(atm=-0.02, rr25=0.01, bf25=-0.001)),
    "no_deal": ScenarioSmile(
        quotes=post_quotes(
            [("1M", 0.13, -0.025, 0.004), ("6M", 0.125, -0.03, 0.0045), ("2Y", 0.12, -0.03, 0.005)]
        )
    ),
}


# --- the flat limit is the foundation's pricer ------------------------------------------


def test_flat_surface_at_the_atm_pillars_prices_as_the_atm_curve() -> None:
    atm = MARKET.atm_vols
    flat = MarketSurface(
        tuple(
            SmileQuote(d, d, v, 0.0, 0.0) for d, v in zip(atm.pillar_dates, atm.vols, strict=True)
        )
    )
    with_flat = dataclasses.replace(BARE, surface=flat)
    book = options()
    reference = value_book(market=BARE, scenario_set=SET, options=book)
    flat_prices = value_book(market=with_flat, scenario_set=SET, options=book)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho_jpy", "rho_usd"):
        np.testing.assert_allclose(
            getattr(flat_prices.greeks, name),
            getattr(reference.greeks, name),
            rtol=1e-12,
            atol=1e-14,
            err_msg=name,
        )
    np.testing.assert_allclose(
        flat_prices.greeks.scenario_values, reference.greeks.scenario_values, rtol=1e-12, atol=1e-14
    )


def test_flat_scenario_quotes_price_as_the_flat_vol() -> None:
    deal = SET.scenarios[0]
    rows = [(t, deal.vol, 0.0, 0.0) for t in ("1W", "1M", "3M", "1Y", "2Y")]
    with_quotes = shifted_set(comprehensive_deal=ScenarioSmile(quotes=post_quotes(rows)))
    book = options()
    reference = value_book(market=BARE, scenario_set=SET, options=book).greeks
    quoted = value_book(market=BARE, scenario_set=with_quotes, options=book).greeks
    np.testing.assert_allclose(quoted.price, reference.price, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(quoted.delta, reference.delta, rtol=1e-12, atol=1e-14)


# --- the built-in surface ---------------------------------------------------------------


def test_builtin_surface_requotes_its_data_file_to_1e8() -> None:
    raw = tomllib.loads(
        resources.files("scenarios.data").joinpath("tariff_2025.toml").read_text("utf-8")
    )
    rows = raw["market"]["surface"]
    assert [r["tenor"] for r in rows] == ["1W", "1M", "3M", "6M", "1Y", "2Y"]
    # ATM as the ATM curve's; 1M ATM 11.5% (MARKET_FACTS.md)
    assert [r["atm"] for r in rows] == [r["vol"] for r in raw["market"]["atm_vols"]]
    quotes = quote_surface(surface=MARKET.vol_surface(), deltas=(0.25,))
    assert quotes.converged.all()
    np.testing.assert_allclose(quotes.atm_vols, [r["atm"] for r in rows], rtol=0, atol=1e-8)
    np.testing.assert_allclose(quotes.risk_reversals[:, 0], [r["rr25"] for r in rows], atol=1e-8)
    np.testing.assert_allclose(
        quotes.broker_butterflies[:, 0], [r["bf25"] for r in rows], atol=1e-8
    )
    t_event = year_fraction(TODAY, EVENT)
    assert arbitrage_report(surface=MARKET.vol_surface(t_event)).arbitrage_free


def test_event_weighting_keeps_the_event_out_of_the_pre_event_diffusion() -> None:
    """Clark (2011) §4 event weights: with the decision day counted as 3 extra days, the 1W→1M
    ATM-forward increment Δw is shared at one rate, ``v_e = Δw·ε/(ΔT + ε)``; the diffusion to
    the event loses its share ``α·v_e`` at every strike, and the pillars still re-quote."""
    weighted = dataclasses.replace(
        MARKET, surface=dataclasses.replace(MARKET.surface, event_extra_days=3.0)
    )
    quoted = MARKET.with_diffusion(Diffusion.QUOTED)  # the quotes as they stand
    t_event = year_fraction(TODAY, EVENT)
    smiles = MARKET.smiles
    w, t = smiles.total_variance(log_moneyness=np.zeros(6)), smiles.expiries
    epsilon = 3.0 / 365.0
    event = (w[1] - w[0]) * epsilon / (t[1] - t[0] + epsilon)
    alpha = (t_event - t[0]) / (t[1] - t[0])
    k = np.array([-0.05, 0.0, 0.04])
    plain = build_vol_model(quoted, SET).market_variance(times=t_event, log_moneyness=k)[0]
    less = build_vol_model(weighted, SET).market_variance(times=t_event, log_moneyness=k)[0]
    np.testing.assert_allclose(plain - less, alpha * event, rtol=1e-10)
    quotes = quote_surface(surface=weighted.vol_surface(t_event), deltas=(0.25,))
    np.testing.assert_allclose(quotes.atm_vols, [q.atm for q in MARKET.surface.quotes], atol=1e-8)
    # and the 1M option, after the event, prices with less pre-event variance
    book = options(strikes=(144.1,), expiries=(D(2025, 7, 16),), kinds=KINDS[:1])
    assert (
        value_book(market=weighted, scenario_set=SET, options=book).greeks.price
        < value_book(market=quoted, scenario_set=SET, options=book).greeks.price
    ).all()


def test_bad_market_surfaces_name_the_quote() -> None:
    rows = list(MARKET.surface.quotes)

    def build(quotes) -> None:
        dataclasses.replace(BARE, surface=MarketSurface(tuple(quotes)))

    with pytest.raises(DomainError, match=r"tenors must be sorted by expiry") as caught:
        build([rows[0], rows[2], rows[1]])
    assert caught.value.errors[0].field == "surface[2].tenor"
    with pytest.raises(DomainError, match=r"must be positive \(an SVI smile is convex") as caught:
        build([*rows[:2], dataclasses.replace(rows[2], bf25=-0.002), *rows[3:]])
    assert caught.value.errors[0].field == "surface[2].bf25"
    with pytest.raises(DomainError, match=r"is too low for the atm and rr") as caught:
        build([*rows[:3], dataclasses.replace(rows[3], rr25=-0.2, bf25=0.00001), *rows[4:]])
    assert caught.value.errors[0].field == "surface[3].bf25"
    assert "too low" in caught.value.errors[0].reason


# --- digitals off the smile -------------------------------------------------------------


@pytest.mark.parametrize("expiry", [D(2025, 6, 27), D(2025, 7, 23), D(2025, 12, 12)])
def test_digitals_off_the_smile_are_strike_derivatives_of_calls(expiry: dt.date) -> None:
    scenario_set = shifted_set(**SMILES)
    strikes = np.array([132.0, 140.0, 144.0, 149.0, 158.0])

    def prices(kind: OptionKind, ks: np.ndarray, currency: Currency | None = None) -> np.ndarray:
        book = tuple(
            build_fx_option(valuation_date=TODAY, kind=kind, strike=float(k), expiry=expiry,
                            payout_currency=currency)
            for k in ks
        )  # fmt: skip
        return value_book(market=MARKET, scenario_set=scenario_set, options=book).greeks.price

    root_t = math.sqrt(year_fraction(TODAY, expiry))

    def central(h: np.ndarray) -> np.ndarray:
        up, down = prices(OptionKind.CALL, strikes + h), prices(OptionKind.CALL, strikes - h)
        return (up - down) / (2 * h)

    h = 0.01 * strikes * 0.11 * root_t
    slope = (4 * central(h / 2) - central(h)) / 3
    jpy = prices(OptionKind.DIGITAL_CALL, strikes, Currency.JPY)
    usd = prices(OptionKind.DIGITAL_CALL, strikes, Currency.USD)
    calls = prices(OptionKind.CALL, strikes)
    np.testing.assert_allclose(jpy, -slope, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(usd, calls - strikes * slope, rtol=1e-7, atol=1e-8)


# --- the mixture's surface --------------------------------------------------------------

TENORS = ("1W", "1M", "3M", "6M", "1Y")
GRID = MARKET.spot * np.exp(np.linspace(-0.25, 0.25, 51))


@pytest.fixture(scope="module")
def view():
    return vol_surface_view(
        market=MARKET, scenario_set=shifted_set(**SMILES), tenors=TENORS, strikes=GRID
    )


def test_mixture_quotes_are_its_vols_at_their_strikes_per_quantlib(view) -> None:
    scenario_set = shifted_set(**SMILES)
    quotes = view.mixture.quotes
    assert quotes.converged.all()
    e = view.expiries
    for i, expiry in enumerate(view.expiry_dates):
        delivery = view.delivery_dates[i]
        points = [(quotes.atm_strikes[i], quotes.atm_vols[i], OptionKind.CALL)]
        for j in range(quotes.deltas.size):
            points += [
                (quotes.call_strikes[i, j], quotes.call_vols[i, j], OptionKind.CALL),
                (quotes.put_strikes[i, j], quotes.put_vols[i, j], OptionKind.PUT),
            ]
        book = tuple(
            build_fx_option(valuation_date=TODAY, kind=kind, strike=float(k), expiry=expiry,
                            delivery=delivery)
            for k, _, kind in points
        )  # fmt: skip
        ours = value_book(market=MARKET, scenario_set=scenario_set, options=book).greeks.price
        for (strike, vol, kind), price in zip(points, ours, strict=True):
            option = ql.Option.Call if kind is OptionKind.CALL else ql.Option.Put
            std = float(vol) * math.sqrt(e.times[i])
            witness = ql.blackFormula(
                option, float(strike), float(e.forwards[i]), std, float(e.discount_factors[i])
            )
            assert price == pytest.approx(witness, rel=1e-9)
    # before the event the mixture is the market
    np.testing.assert_allclose(quotes.atm_vols[0], view.market.quotes.atm_vols[0], atol=1e-12)


def test_mixture_and_scenario_densities_are_breeden_litzenberger(view) -> None:
    scenario_set = shifted_set(**SMILES)
    i = 2  # 3M, after the event
    expiry, delivery = view.expiry_dates[i], view.delivery_dates[i]
    df = view.expiries.discount_factors[i]
    h = 0.05

    def calls(ks: np.ndarray) -> np.ndarray:
        book = tuple(
            build_fx_option(valuation_date=TODAY, kind=OptionKind.CALL, strike=float(k),
                            expiry=expiry, delivery=delivery)
            for k in ks
        )  # fmt: skip
        return value_book(market=MARKET, scenario_set=scenario_set, options=book).greeks

    picks = GRID[10:41:5]
    mixture = (calls(picks + h).price - 2 * calls(picks).price + calls(picks - h).price) / h**2
    columns = np.searchsorted(GRID, picks)
    np.testing.assert_allclose(view.mixture.densities[i, columns], mixture / df, rtol=1e-4)
    values = [calls(k).scenario_values for k in (picks + h, picks, picks - h)]
    for j, scenario in enumerate(view.scenarios):
        second = (values[0][:, j] - 2 * values[1][:, j] + values[2][:, j]) / h**2
        np.testing.assert_allclose(scenario.densities[i, columns], second / df, rtol=1e-4)


def test_densities_integrate_to_one() -> None:
    wide = MARKET.spot * np.exp(np.linspace(-2.0, 2.0, 4001))  # SVI wings: fat tails
    v = vol_surface_view(
        market=MARKET, scenario_set=shifted_set(**SMILES), tenors=("1M", "1Y"), strikes=wide
    )
    for density in (v.mixture.densities, v.market.densities, *(s.densities for s in v.scenarios)):
        total = np.sum(0.5 * (density[:, 1:] + density[:, :-1]) * np.diff(wide), axis=1)
        np.testing.assert_allclose(total, 1.0, atol=2e-5)
        assert (density >= 0).all()


def test_mixture_variance_slope_is_its_derivative() -> None:
    scenario_set = shifted_set(**SMILES)
    fit = fit_measure(MARKET, scenario_set, Measure.TILT)
    model = build_vol_model(MARKET, scenario_set)
    t = np.array([year_fraction(TODAY, d) for d in (D(2025, 7, 16), D(2025, 12, 12))])
    variance = mixture_variance(
        market=MARKET, model=model, fit=fit, expiries=Expiries.on(MARKET, t, t + 2 / 365)
    )
    k = np.array([[-0.08, -0.02, 0.0, 0.03, 0.09]] * 2)
    w, slope = variance(k)
    h = 1e-4
    fd = (variance(k + h)[0] - variance(k - h)[0]) / (2 * h)
    np.testing.assert_allclose(slope, fd, rtol=1e-5, atol=1e-9)
    assert (w > 0).all()


# --- calibration ------------------------------------------------------------------------


def reweighted(probabilities) -> ScenarioSet:
    return dataclasses.replace(
        SET,
        scenarios=tuple(
            dataclasses.replace(s, probability=p)
            for s, p in zip(SET.scenarios, probabilities, strict=True)
        ),
    )


def mixture_quotes(scenario_set: ScenarioSet, tenors, deltas=(0.25,)):
    v = vol_surface_view(
        market=MARKET, scenario_set=scenario_set, tenors=tenors, strikes=GRID[:2], deltas=deltas
    )
    q = v.mixture.quotes
    tenth = len(deltas) > 1
    quotes = tuple(
        SmileQuote(
            v.expiry_dates[i], v.delivery_dates[i], float(q.atm_vols[i]),
            float(q.risk_reversals[i, 0]), float(q.broker_butterflies[i, 0]),
            float(q.risk_reversals[i, 1]) if tenth else None,
            float(q.broker_butterflies[i, 1]) if tenth else None, tenor,
        )
        for i, tenor in enumerate(tenors)
    )  # fmt: skip
    return quotes, v.fit.weights


def test_calibration_recovers_the_probabilities_that_made_the_quotes() -> None:
    quotes, truth = mixture_quotes(reweighted([0.35, 0.2, 0.1, 0.2, 0.15]), ("1M", "3M", "1Y"),
                                   deltas=(0.25, 0.10))  # fmt: skip
    result = calibrate(market=MARKET, scenario_set=SET, quotes=quotes)
    assert result.converged
    np.testing.assert_allclose(result.weights, truth, rtol=0, atol=1e-6)
    assert not result.identification.unidentified.any()
    assert abs(result.forward_mismatch) < 1e-12
    assert max(abs(f.residual) for f in result.fits) < 1e-8
    # the prior is the tilt of the analyst's p, not the truth
    assert np.abs(result.prior.weights - truth).max() > 0.01


def test_calibration_from_option_vols_recovers_the_probabilities() -> None:
    truth_set = reweighted([0.1, 0.4, 0.2, 0.2, 0.1])
    expiry, delivery = tenor_dates("t", TODAY, "6M")
    strikes = (128.0, 136.0, 142.0, 148.0, 156.0)
    book = tuple(
        build_fx_option(valuation_date=TODAY, kind=OptionKind.CALL, strike=k, expiry=expiry,
                        delivery=delivery)
        for k in strikes
    )  # fmt: skip
    priced = value_book(market=MARKET, scenario_set=truth_set, options=book)
    t, t_del = year_fraction(TODAY, expiry), year_fraction(TODAY, delivery)
    quotes = tuple(
        OptionQuote(f"6M {k}", t, t_del, k, float(v))
        for k, v in zip(strikes, priced.implied_vols, strict=True)
    )
    result = calibrate(
        market=MARKET, scenario_set=SET, quotes=(), options=quotes, option_dates=(expiry,) * 5
    )
    np.testing.assert_allclose(result.weights, priced.fit.weights, rtol=0, atol=1e-6)
    assert max(abs(f.residual) for f in result.fits) < 1e-9


def test_calibration_says_when_two_scenarios_are_indistinguishable() -> None:
    twin = dataclasses.replace(SET.scenarios[1], name="narrow_suspension_twin")
    scenarios = list(SET.scenarios)
    scenarios[1] = dataclasses.replace(scenarios[1], probability=0.18)
    twin = dataclasses.replace(twin, probability=0.12)
    twins = dataclasses.replace(SET, scenarios=(*scenarios, twin))
    quotes, truth = mixture_quotes(twins, ("1M", "3M", "1Y"))
    result = calibrate(market=MARKET, scenario_set=twins, quotes=quotes)
    found = result.identification
    assert found.groups == ((1, 5),)
    assert found.unidentified.tolist() == [False, True, False, False, False, True]
    assert found.group_totals[0] == pytest.approx(truth[1] + truth[5], abs=1e-6)
    np.testing.assert_allclose(found.ranges[1], [0.0, truth[1] + truth[5]], atol=1e-6)
    identified = ~found.unidentified
    np.testing.assert_allclose(result.weights[identified], truth[identified], atol=1e-6)


def test_calibration_errors_name_the_field() -> None:
    early = (dataclasses.replace(MARKET.surface.quotes[0]),)  # 1W: before the event
    with pytest.raises(DomainError, match=r"must expire after 2025\-07\-09") as caught:
        calibrate(market=MARKET, scenario_set=SET, quotes=early)
    assert caught.value.errors[0].field == "quotes[0].tenor"
    with pytest.raises(
        DomainError, match=r"give quotes or options expiring after the event"
    ) as caught:
        calibrate(market=BARE, scenario_set=SET)
    assert caught.value.errors[0].field == "quotes"
    settings = CalibrationSettings(vol_tolerance=1e-3)
    assert settings.threshold == pytest.approx(0.1)


# --- scenario smiles: bad input ---------------------------------------------------------


@pytest.mark.parametrize(
    ("smile", "field"),
    [
        (ScenarioSmile(shift=SmileShift(bf25=-0.01)), "scenario_set.scenarios[3].smile.shift.bf25"),
        (ScenarioSmile(shift=SmileShift(rr10=0.01)), "scenario_set.scenarios[3].smile.shift.rr10"),
        (ScenarioSmile(shift=SmileShift(atm=-0.2)), "scenario_set.scenarios[3].smile.shift.atm"),
        (
            ScenarioSmile(
                quotes=(SmileQuote(D(2025, 7, 1), D(2025, 7, 3), 0.12, -0.01, 0.003, tenor=None),)
            ),
            "scenario_set.scenarios[3].smile.quotes[0].date",
        ),
        (
            ScenarioSmile(
                quotes=post_quotes([("1M", 0.13, -0.02, 0.004), ("3M", 0.13, -0.02, -0.001)])
            ),
            "scenario_set.scenarios[3].smile.quotes[1].bf25",
        ),
    ],
    ids=["bf-too-negative", "no-10d-base", "atm-negative", "before-event", "negative-bf"],
)
def test_bad_scenario_smiles_name_the_field(smile: ScenarioSmile, field: str) -> None:
    scenario_set = shifted_set(no_deal=smile)
    with pytest.raises(DomainError) as caught:
        value_book(market=MARKET, scenario_set=scenario_set, options=options()[:1])
    assert caught.value.errors[0].field == field
    reasons = {  # what each refusal says: the rule broken and the figure that broke it
        "shift.bf25": "must be positive (an SVI smile is convex in log-moneyness), got -0.0075",
        "shift.rr10": "the market's surface has no 10-delta quotes to shift",
        "shift.atm": "moves the 1W pillar out of range: must be in [0.0001, 5]",
        "quotes[0].date": "must expire after 2025-07-09, got 2025-07-01",
        "quotes[1].bf25": "must be positive (an SVI smile is convex in log-moneyness), got -0.001",
    }
    (reason,) = [r for key, r in reasons.items() if field.endswith(key)]
    assert reason in caught.value.errors[0].reason


def test_scenario_smile_needs_one_source() -> None:
    with pytest.raises(DomainError, match=r"give exactly one of quotes or shift"):
        ScenarioSmile()
    with pytest.raises(DomainError, match=r"give exactly one of quotes or shift"):
        ScenarioSmile(quotes=post_quotes([("1M", 0.1, 0.0, 0.0)]), shift=SmileShift())
    assert Scenario("s", 1.0, 144.0, 0.1, smile=ScenarioSmile(shift=SmileShift())).smile
