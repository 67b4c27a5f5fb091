"""Fit-to-market blocks shared by ``/v1/calibrate``, ``/v1/price`` and ``/v1/vol-surface``.

Units: tolerances in a request are decimal vols (0.0025 = 0.25 vol point), as the quotes
are; residuals and tolerances in a response are vol points (1.0 = one vol); variances are
total variances (decimal², ``σ²·T``); levels JPY per USD; probabilities fractions.

The fitted scenario set comes back in the shape the requests accept as ``scenario_set``
(:class:`service.schemas.market.ScenarioSetIn`): pasted into ``/v1/price`` on the same market
with the same ``measure`` and ``diffusion``, it prices as ``fit_to_market`` does.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydantic import Field

from pricing.mixture.measure import Measure
from scenarios.calibration.fit import Calibration, fit_to_market
from scenarios.calibration.modes import FitMode, FitStatus, FitTolerances
from scenarios.errors import DomainError, FieldError
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from service.schemas.common import Choice, Schema
from service.schemas.market import ScenarioSetIn, TreeIn
from service.schemas.smiles import ScenarioSmileIn

FIT_MODE_DESCRIPTION = (
    "What the fit solves for on the quotes after the event; everything else stays the "
    "analyst's. probabilities: the scenario weights q (q ≥ 0, Σ q = 1, Σ q·J = 1). jump_scale: "
    "one factor κ on every log jump, ln J_i → κ·ln J_i (each level moved toward the forward "
    "by the same share of its log distance, the story's order kept), the weights the "
    "measure's of the analyst's p on the scaled jumps. post_vols: one factor on every "
    "post-event vol (flat vols only), weights from the measure. jump_scale_and_post_vols: "
    "both, weights from the measure. probabilities_and_jump_scale, probabilities_and_post_vols: "
    "κ (or the vol factor) by least squares, the weights re-solved on the quotes at each step."
)
_DEFAULTS = FitTolerances()


class FitTolerancesIn(Schema):
    """The residual each quote kind may keep and still fit, decimal vols (0.0025 = 0.25 vol)."""

    atm: float = Field(default=_DEFAULTS.atm, gt=0, le=0.05, description="ATM vols.")
    rr: float = Field(default=_DEFAULTS.rr, gt=0, le=0.05, description="Risk reversals.")
    bf: float = Field(default=_DEFAULTS.bf, gt=0, le=0.05, description="Butterflies.")
    vol: float = Field(default=_DEFAULTS.vol, gt=0, le=0.05, description="Option vols.")

    def to_domain(self) -> FitTolerances:
        return FitTolerances(self.atm, self.rr, self.bf, self.vol)


class QuoteFitRead(Schema):
    label: str
    expiry: dt.date
    kind: str = Field(description="atm | rr25 | bf25 | rr10 | bf10 | vol")
    strike: float | None
    market: float
    model: float | None = Field(description="The fitted mixture's quote (null: not solved).")
    residual_vol_points: float | None = Field(description="(model − market) × 100.")
    tolerance_vol_points: float = Field(description="The largest |residual| that still fits.")
    within_tolerance: bool = Field(description="False also where the quote was not solved.")


class EventVarianceRead(Schema):
    """The scenarios' event variance beside what the option market pays for the decision."""

    event_date: dt.date
    market: float = Field(
        description="Total variance the market's ATM term structure holds for the event "
        "(the variance its pillar interval carries beyond the diffusion's rate, or the stated "
        "event-day weight); 0 when it holds none."
    )
    market_event_day_vol: float = Field(description="√(365·market): the decision day's vol.")
    jumps: float = Field(description="Var_q(ln J) of the jumps under the weights priced with.")
    ratio: float | None = Field(description="jumps / market; null when the market holds none.")
    least_possible: float | None = Field(
        description="The least Var_q(ln J) any weights (q ≥ 0, Σ q = 1, Σ q·J = 1) give these "
        "levels; null when none make the mixture forward the market's."
    )
    sizing: str = Field(description="term_structure | event_day_weight: how market was read.")


class MarketFitRead(Schema):
    """A set fitted to the market's post-event pillars, and whether the fit holds."""

    mode: FitMode
    status: FitStatus = Field(
        description="fits: every quote within its tolerance; does_not_fit otherwise."
    )
    reasons: list[str] = Field(description="Why, in words: the worst misses, the event gap.")
    converged: bool = Field(description="The optimisers' own flag, not a statement of fit.")
    jump_scale: float = Field(description="κ: ln J_i → κ·ln J_i (1 unless fitted).")
    post_vol_factor: float = Field(description="Common post-event vol factor (1 unless fitted).")
    event_variance: EventVarianceRead
    quotes: list[QuoteFitRead]
    scenario_set: ScenarioSetIn = Field(
        description="The fitted set, as a request's `scenario_set`: priced on the same market "
        "with the same measure and diffusion it gives these prices."
    )


def quote_fit_rows(calibration: Calibration) -> list[dict[str, Any]]:
    """Each quote's fit, with its tolerance, as plain JSON types."""
    tolerances = calibration.settings.tolerances
    rows = []
    for f in calibration.fits:
        tolerance = tolerances.of(f.kind)
        rows.append(
            {
                "label": f.label,
                "expiry": f.expiry.isoformat(),
                "kind": f.kind,
                "strike": f.strike,
                "market": f.market,
                "model": f.model,
                "residual_vol_points": None if f.residual is None else 100.0 * f.residual,
                "tolerance_vol_points": 100.0 * tolerance,
                "within_tolerance": tolerances.holds(f.kind, f.residual),
            }
        )
    return rows


def event_variance_read(calibration: Calibration) -> dict[str, Any]:
    event = calibration.event
    assert event is not None  # every calibration carries one
    least = event.least_possible
    return {
        "event_date": event.event_date.isoformat(),
        "market": event.market,
        "market_event_day_vol": event.market_event_day_vol,
        "jumps": event.jumps,
        "ratio": event.ratio,
        "least_possible": least if math.isfinite(least) else None,
        "sizing": event.sizing,
    }


def scenario_set_json(scenario_set: ScenarioSet) -> dict[str, Any]:
    """``scenario_set`` in the shape of :class:`service.schemas.market.ScenarioSetIn`: its
    ``scenarios``, or a decision tree's ``tree`` (:meth:`service.schemas.market.TreeIn.
    from_domain`; ``event_date`` the root's)."""
    tree = TreeIn.from_domain(scenario_set.tree)
    if tree is not None:
        return {
            "id": scenario_set.id,
            "name": scenario_set.name,
            "event_date": scenario_set.event_date.isoformat(),
            "description": scenario_set.description,
            "tree": tree.model_dump(mode="json", exclude_none=True),
        }
    scenarios = []
    for s in scenario_set.scenarios:
        row: dict[str, Any] = {
            "name": s.name,
            "probability": s.probability,
            "level": s.level,
            "vol": s.vol,
            "description": s.description,
            "drivers": dict(s.drivers),
        }
        smile = ScenarioSmileIn.from_domain(s.smile)
        if smile is not None:
            row["smile"] = smile.model_dump(mode="json", exclude_none=True)
        scenarios.append(row)
    return {
        "id": scenario_set.id,
        "name": scenario_set.name,
        "event_date": scenario_set.event_date.isoformat(),
        "description": scenario_set.description,
        "scenarios": scenarios,
    }


def market_fit_read(calibration: Calibration) -> dict[str, Any]:
    """The :class:`MarketFitRead` block of a pricing response."""
    verdict, fitted = calibration.verdict, calibration.fitted_set
    assert verdict is not None and fitted is not None  # the pricing modes always have both
    return {
        "mode": calibration.mode.value,
        "status": verdict.status.value,
        "reasons": list(verdict.reasons),
        "converged": calibration.converged,
        "jump_scale": calibration.jump_scale,
        "post_vol_factor": calibration.vol_factor,
        "event_variance": event_variance_read(calibration),
        "quotes": quote_fit_rows(calibration),
        "scenario_set": scenario_set_json(fitted),
    }


FitToMarketField = Choice[FitMode] | None
FIT_TO_MARKET_FIELD: Any = Field(
    default=None,
    description="Price under the set fitted to the market's own pillars after the event "
    "(the surface's ATM/RR/BF; default tolerances) instead of the set as given: one of the "
    "fit modes of /v1/calibrate. " + FIT_MODE_DESCRIPTION + " The response reports the fitted "
    "set (paste it as `scenario_set` to price it directly) and whether it fits. Null (the "
    "default): the set as given.",
)


def fitted_for_pricing(
    market: MarketSnapshot, scenario_set: ScenarioSet, measure: Measure, mode: FitMode
) -> tuple[Calibration, ScenarioSet]:
    """The cached fit (:func:`scenarios.calibration.fit.fit_to_market`) and the fitted set to
    price under; errors about the fit itself (``fit``, ``quotes``: nothing to fit, no pillar
    after the event) name the request's ``fit_to_market``."""
    try:
        calibration = fit_to_market(market, scenario_set, measure, mode)
    except DomainError as exc:
        errors = [
            FieldError("fit_to_market", _pricing_reason(e)) if e.field in ("fit", "quotes") else e
            for e in exc.errors
        ]
        raise DomainError(errors, exc.kind) from None
    if calibration.fitted_set is None:
        raise DomainError.field(
            "fit_to_market", f"gives no set to price under: {calibration.fitted_set_note}"
        )
    return calibration, calibration.fitted_set


def _pricing_reason(error: FieldError) -> str:
    if error.field == "quotes":
        return (
            "has nothing to fit to: the market has no smile quotes (surface pillars) after "
            "the event; give a market whose `surface` has a pillar after the event date"
        )
    return error.reason
