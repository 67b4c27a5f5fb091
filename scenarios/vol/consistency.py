"""How far a scenario mixture sits from the market it prices on: the market-consistency report.

Conventions: vols annualised decimals (0.115 = 11.5%) for every quote; differences mixture −
market in vol points (1 = 0.01); variances are total variances of ``ln S`` (decimals
squared); times in years ACT/365F from the valuation date; quotes in the market surface's
conventions (USD/JPY's: premium-adjusted delta, spot delta to 1Y, delta-neutral straddle ATM,
broker butterfly), the default conventions without a surface.

A desk prices exotics on a mixture that reprices its vanillas (Clark & Amen 2017, Brexit;
DESIGN.md "Market consistency"). For each market pillar expiring after the event — the
surface's (ATM, RR25, BF25 as quoted), or the ATM curve's without a surface (ATM only) — the
mixture is priced at that expiry, inverted and quoted back in the market's conventions
(:func:`scenarios.vol.mixture_smile.mixture_variance`,
:func:`pricing.vol.quoting.quote_total_variance`, as
:func:`scenarios.calibration.solve.mixture_quotes` does), and set beside the quote.

The event's side: the market's event variance is what the quotes hold for the decision
(:meth:`scenarios.market.MarketSnapshot.event_strip` under the market's
:class:`~scenarios.market.Diffusion`: ``quoted`` without a stated event-day weight strips
nothing, so it reads 0), and the scenarios carry ``Var_q(ln J) = Σ q (ln J)² − (Σ q ln J)²``
under the pricing measure (effective jumps and weights of
:func:`scenarios.fx.valuation.fit_measure`). Each is also given as the annualised vol of one
day carrying it (:func:`pricing.vol.event_strip.event_day_vol`).

``consistent`` holds iff every post-event pillar is quoted and within
:data:`ATM_TOLERANCE_VOL_POINTS` at ATM and :data:`WING_TOLERANCE_VOL_POINTS` at RR25 and BF25
(a desk's bid–offer on USD/JPY vols: about a quarter of a vol point ATM, half a point on the
25-delta wings). A pillar the mixture cannot be quoted at (no risk-neutral measure, a solve
that fails) is reported with a ``note`` and is not consistent; nothing here raises for it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pricing.mixture.measure import Measure, MeasureFit
from pricing.vol.event_strip import EventSizing, event_day_vol
from pricing.vol.quotes import SmileConventions, SmileError
from pricing.vol.quoting import SmileQuotes, quote_total_variance
from scenarios.dates import expiry_delivery, year_fraction
from scenarios.errors import DomainError
from scenarios.fx.valuation import fit_measure
from scenarios.market import Diffusion, MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.mixture_smile import Expiries, mixture_variance
from scenarios.vol.model import build_vol_model

ATM_TOLERANCE_VOL_POINTS = 0.25
"""Largest ``|mixture ATM − market ATM|`` a consistent pillar may show, vol points."""
WING_TOLERANCE_VOL_POINTS = 0.5
"""Largest ``|mixture − market|`` of RR25 and of BF25 a consistent pillar may show, vol points."""

_WING_DELTAS = (0.25,)
_VOL_POINTS = 100.0


@dataclass(frozen=True)
class Quotes:
    """ATM, 25-delta risk reversal and broker butterfly, annualised decimals (None: not
    quoted, or not available)."""

    atm: float | None
    rr25: float | None = None
    bf25: float | None = None


@dataclass(frozen=True)
class PillarConsistency:
    """One post-event market pillar: the market's quotes, the mixture's, and mixture − market
    in vol points (None where either side has no figure); ``note`` says why a figure is
    missing."""

    tenor: str | None
    expiry: dt.date
    delivery: dt.date
    time: float
    market: Quotes
    mixture: Quotes
    differences: Quotes
    consistent: bool
    note: str | None = None

    @property
    def label(self) -> str:
        return self.tenor or self.expiry.isoformat()


@dataclass(frozen=True)
class ConsistencyReport:
    """The mixture against the market at every post-event pillar, and the event's variance
    as the market reads it and as the scenarios carry it (module docstring for units)."""

    event_date: dt.date
    event_time: float
    measure: Measure
    diffusion: Diffusion
    sizing: EventSizing
    market_event_variance: float
    market_event_day_vol: float
    jump_variance: float | None
    jump_event_day_vol: float | None
    variance_ratio: float | None
    pillars: tuple[PillarConsistency, ...]
    consistent: bool
    reason: str | None
    note: str | None
    atm_tolerance: float = ATM_TOLERANCE_VOL_POINTS
    wing_tolerance: float = WING_TOLERANCE_VOL_POINTS


def jump_variance(fit: MeasureFit) -> float:
    """``Var_q(ln J) = Σ q (ln J)² − (Σ q ln J)²`` of the measure's weights and effective
    jumps (≥ 0)."""
    q = np.asarray(fit.weights, dtype=float)
    log_j = np.log(np.asarray(fit.jumps, dtype=float))
    mean = float(q @ log_j)
    return max(float(q @ (log_j * log_j)) - mean * mean, 0.0)


@dataclass(frozen=True)
class _Pillar:
    tenor: str | None
    expiry: dt.date
    delivery: dt.date
    market: Quotes


def _post_event_pillars(market: MarketSnapshot, event: dt.date) -> tuple[_Pillar, ...]:
    if market.surface is not None:
        return tuple(
            _Pillar(q.tenor, q.expiry, q.delivery, Quotes(q.atm, q.rr25, q.bf25))
            for q in market.surface.quotes
            if q.expiry > event
        )
    curve = market.atm_vols
    return tuple(
        _Pillar(None, date, _delivery(date), Quotes(vol))
        for date, vol in zip(curve.pillar_dates, curve.vols, strict=True)
        if date > event
    )


def _delivery(date: dt.date) -> dt.date:
    """An ATM curve pillar's delivery: the USD/JPY spot date of its date (the date itself
    at the calendar's far end, where there is none)."""
    try:
        return expiry_delivery(date)
    except DomainError:
        return date


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _difference(model: float | None, quoted: float | None) -> float | None:
    if model is None or quoted is None:
        return None
    return _VOL_POINTS * (model - quoted)


def _quote_mixture(
    market: MarketSnapshot, scenario_set: ScenarioSet, fit: MeasureFit, pillars: tuple[_Pillar, ...]
) -> SmileQuotes:
    today = market.valuation_date
    expiries = Expiries.on(
        market,
        np.array([year_fraction(today, p.expiry) for p in pillars]),
        np.array([year_fraction(today, p.delivery) for p in pillars]),
    )
    model = build_vol_model(market, scenario_set)
    conventions = market.surface.conventions if market.surface else SmileConventions()
    with np.errstate(all="ignore"):  # a failed solve comes back not converged, NaN
        return quote_total_variance(
            variance=mixture_variance(market=market, model=model, fit=fit, expiries=expiries),
            expiries=expiries.times,
            forwards=expiries.forwards,
            foreign_discount_factors=expiries.usd_discount_factors,
            deltas=_WING_DELTAS,
            conventions=conventions,
        )


def _within(differences: Quotes, wings: bool) -> bool:
    if differences.atm is None or abs(differences.atm) > ATM_TOLERANCE_VOL_POINTS:
        return False
    if not wings:
        return True
    return all(
        d is not None and abs(d) <= WING_TOLERANCE_VOL_POINTS
        for d in (differences.rr25, differences.bf25)
    )


def _pillar(
    pillar: _Pillar, time: float, quotes: SmileQuotes | None, i: int, failure: str | None
) -> PillarConsistency:
    wings = pillar.market.rr25 is not None
    mixture = Quotes(None)
    note = failure
    if quotes is not None:
        atm = _finite(quotes.atm_vols[i])
        rr = _finite(quotes.risk_reversals[i, 0]) if wings else None
        bf = _finite(quotes.broker_butterflies[i, 0]) if wings else None
        mixture = Quotes(atm, rr, bf)
        if atm is None:
            note = "the mixture's delta-neutral ATM could not be solved for at this expiry"
        elif wings and (rr is None or bf is None):
            note = "the mixture's 25-delta strikes or broker strangle could not be solved for"
    m = pillar.market
    differences = Quotes(
        _difference(mixture.atm, m.atm),
        _difference(mixture.rr25, m.rr25),
        _difference(mixture.bf25, m.bf25),
    )
    return PillarConsistency(
        tenor=pillar.tenor,
        expiry=pillar.expiry,
        delivery=pillar.delivery,
        time=time,
        market=m,
        mixture=mixture,
        differences=differences,
        consistent=note is None and _within(differences, wings),
        note=note,
    )


def _worst(pillars: tuple[PillarConsistency, ...]) -> str | None:
    """The pillar quote furthest beyond its tolerance, in words; or the first unquoted one."""
    for p in pillars:
        if p.note is not None:
            return f"{p.label}: {p.note}"
    worst, excess = None, 1.0
    for p in pillars:
        d = p.differences
        for name, diff, tolerance in (
            ("ATM", d.atm, ATM_TOLERANCE_VOL_POINTS),
            ("RR25", d.rr25, WING_TOLERANCE_VOL_POINTS),
            ("BF25", d.bf25, WING_TOLERANCE_VOL_POINTS),
        ):
            if diff is not None and abs(diff) / tolerance > excess:
                worst, excess = (p.label, name, diff), abs(diff) / tolerance
    if worst is None:
        return None
    label, name, diff = worst
    if name == "ATM":
        side = "rich" if diff > 0 else "cheap"
        return f"{label} ATM is {abs(diff):.2f} vol points {side}"
    side = "above" if diff > 0 else "below"
    return f"{label} {name} is {abs(diff):.2f} vol points {side} the market's"


def _variance_words(market_variance: float, jumps: float | None, ratio: float | None) -> str:
    if jumps is None:
        return ""
    if ratio is not None:
        return f"the jumps imply {ratio:.2f}× the market's event variance"
    return (
        f"the jumps carry variance {jumps:.3g} (event-day vol {event_day_vol(jumps):.1%}) "
        f"where the market's quotes, read as they are, hold none for the event"
    )


@lru_cache(maxsize=256)
def consistency_report(
    market: MarketSnapshot, scenario_set: ScenarioSet, measure: Measure
) -> ConsistencyReport:
    """The market-consistency report of ``scenario_set`` on ``market`` under ``measure``
    (module docstring). Never raises for a mixture it cannot quote: the pillars say why.
    Cached per (market, set, measure): a repeated request costs a dict look-up."""
    event = scenario_set.event_date
    event_time = year_fraction(market.valuation_date, event)
    # every decision's variance (a tree's later nodes too): what the leaves' jumps carry
    decisions = scenario_set.event_times(market.valuation_date)
    strip = market.event_strip(decisions)
    market_variance = float(strip.event_variances.sum())
    pillars = _post_event_pillars(market, event)
    times = [year_fraction(market.valuation_date, p.expiry) for p in pillars]
    fit: MeasureFit | None = None
    failure: str | None = None
    quotes: SmileQuotes | None = None
    try:
        fit = fit_measure(market, scenario_set, measure)
        if pillars:
            quotes = _quote_mixture(market, scenario_set, fit, pillars)
    except DomainError as exc:
        error = exc.errors[0]
        where = f"{error.field}: " if error.field else ""
        failure = f"the mixture cannot be quoted: {where}{error.reason}"
    except (SmileError, ArithmeticError, ValueError) as exc:
        failure = f"the mixture cannot be quoted: {exc}"
    rows = tuple(
        _pillar(p, t, quotes, i, failure)
        for i, (p, t) in enumerate(zip(pillars, times, strict=True))
    )
    jumps = jump_variance(fit) if fit is not None else None
    ratio = jumps / market_variance if jumps is not None and market_variance > 0.0 else None
    consistent = all(p.consistent for p in rows)
    note = None
    if not rows:
        note = f"no market pillar expires after the event {event.isoformat()}: nothing to compare"
    elif fit is None:
        note = failure
    reason = None
    if not consistent:
        parts = [_variance_words(market_variance, jumps, ratio), _worst(rows) or ""]
        reason = "; ".join(part for part in parts if part)
    return ConsistencyReport(
        event_date=event,
        event_time=event_time,
        measure=measure,
        diffusion=market.diffusion,
        sizing=strip.sizing,
        market_event_variance=market_variance,
        market_event_day_vol=event_day_vol(market_variance),
        jump_variance=jumps,
        jump_event_day_vol=event_day_vol(jumps) if jumps is not None else None,
        variance_ratio=ratio,
        pillars=rows,
        consistent=consistent,
        reason=reason,
        note=note,
    )
