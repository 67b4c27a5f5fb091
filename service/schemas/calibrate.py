"""``POST /v1/calibrate``: request and response schemas.

Units: vols annualised decimals in the quotes (0.115 = 11.5%); fit residuals in vol points
(1.0 = one vol, 0.01 in decimals); probabilities and weights as fractions; levels JPY per
USD. Quotes are in the market surface's conventions (USD/JPY: premium-adjusted delta, spot
delta to 1Y, delta-neutral ATM, broker butterfly), tenors counted from the valuation date.
Fit tolerances are decimal vols in the request (0.0025 = 0.25 vol point), vol points in the
response (:mod:`service.schemas.market_fit`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from scenarios.calibration.fit import WEIGHT_FLOOR, Calibration, CalibrationSettings
from scenarios.calibration.modes import FitMode, FitStatus
from scenarios.calibration.rows import OptionQuote
from scenarios.calibration.tree_fit import NodeCalibration
from scenarios.dates import expiry_delivery, tenor_dates, year_fraction
from scenarios.errors import DomainError
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.smiles import SmileQuote
from service.schemas.common import Choice, Date, PositiveFloat, Schema, under
from service.schemas.consistency import (
    CONSISTENCY_DESCRIPTION,
    ConsistencyRead,
    consistency_block,
)
from service.schemas.market import ScenarioSetIn
from service.schemas.market_fit import (
    FIT_MODE_DESCRIPTION,
    EventVarianceRead,
    FitTolerancesIn,
    QuoteFitRead,
    event_variance_read,
    quote_fit_rows,
    scenario_set_json,
)
from service.schemas.results import BUILTIN_SET, MeasureRead, measure_read
from service.schemas.smiles import SmileQuoteIn, quotes_to_domain
from service.schemas.stored import SOURCES_DESCRIPTION, SavedRead, SaveIn, SourcesRead
from service.schemas.vol_surface import SetRequest

_EXAMPLES: list[dict[str, Any]] = [
    {"scenario_set_id": BUILTIN_SET},
    {
        "scenario_set_id": BUILTIN_SET,
        "quotes": [
            {"tenor": "1M", "atm": 0.125, "rr25": -0.016, "bf25": 0.004},
            {"tenor": "3M", "atm": 0.112, "rr25": -0.019, "bf25": 0.0038},
            {"tenor": "1Y", "atm": 0.104, "rr25": -0.022, "bf25": 0.004},
        ],
        "options": [{"tenor": "6M", "strike": 135.0, "vol": 0.118}],
        "vol_tolerance": 0.0005,
    },
    {"scenario_set_id": BUILTIN_SET, "fit": "jump_scale_and_post_vols"},
]


class OptionVolIn(Schema):
    """One option's market vol at a strike; give ``tenor`` or ``expiry``."""

    tenor: str | None = Field(default=None, examples=["6M"])
    expiry: Date | None = None
    strike: PositiveFloat = Field(description="JPY per USD.")
    vol: PositiveFloat = Field(description="Black vol, annualised decimal.")
    label: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_of(self) -> OptionVolIn:
        if (self.tenor is None) == (self.expiry is None):
            raise ValueError("give exactly one of tenor or expiry")
        return self

    def to_domain(self, valuation_date: dt.date, index: int) -> tuple[OptionQuote, dt.date]:
        field = f"options[{index}]"
        if self.tenor is not None:
            expiry, delivery = tenor_dates(f"{field}.tenor", valuation_date, self.tenor)
        else:
            assert self.expiry is not None
            expiry = self.expiry  # delivered on its spot date, as a priced line is
            delivery = expiry_delivery(expiry, f"{field}.expiry")
        if expiry <= valuation_date:
            raise DomainError.field(
                f"{field}.{'tenor' if self.tenor else 'expiry'}",
                f"must be after the valuation date {valuation_date.isoformat()}, "
                f"got {expiry.isoformat()}",
            )
        label = self.label or self.tenor or expiry.isoformat()
        quote = under(
            field,
            lambda: OptionQuote(
                label,
                year_fraction(valuation_date, expiry),
                year_fraction(valuation_date, delivery),
                self.strike,
                self.vol,
            ),
        )
        return quote, expiry


class CalibrateRequest(SetRequest):
    """Fit the scenario weights to market quotes after the event."""

    quotes: Annotated[list[SmileQuoteIn], Field(min_length=1, max_length=40)] | None = Field(
        default=None,
        description="ATM/RR/BF by tenor (from the valuation date), expiring after the event; "
        "default: the market surface's pillars after the event, unless options are given.",
    )
    options: Annotated[list[OptionVolIn], Field(max_length=200)] = Field(
        default_factory=list, description="Option vols at strikes, expiring after the event."
    )
    vol_tolerance: float = Field(
        default=1e-6,
        gt=0,
        le=0.05,
        description="Quote precision (vol, all quotes together): weightings whose quotes differ "
        "by less count as the same fit. 0.001 = 0.1 vol point.",
    )
    probability_resolution: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="Scenarios are told apart when moving this much probability between them "
        "moves the quotes by more than vol_tolerance.",
    )
    refit_levels: bool = Field(default=False, description="Also refit the post-event levels.")
    refit_vols: bool = Field(default=False, description="Also refit the post-event vols.")
    prior_weight: float = Field(
        default=0.01,
        ge=0,
        le=10,
        description="Refit penalty, vol per unit of log change of a level or vol.",
    )
    fit: Choice[FitMode] = Field(default=FitMode.PROBABILITIES, description=FIT_MODE_DESCRIPTION)
    save: SaveIn | None = Field(
        default=None,
        description="Save the fitted set as the next version of the stored set calibrated "
        "(or as a new set) in this call; needs a writer key where writes are keyed.",
    )
    fit_tolerances: FitTolerancesIn = Field(
        default_factory=FitTolerancesIn,
        description="The residual each quote kind may keep for the status to be `fits`, "
        "decimal vols: ATM 0.0025 (0.25 vol point), RR, BF and option vols 0.005 by default.",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [*_EXAMPLES]})

    def domain_quotes(self, market: MarketSnapshot) -> tuple[SmileQuote, ...] | None:
        if self.quotes is None:
            return None
        return quotes_to_domain(self.quotes, market.valuation_date, "quotes")

    def domain_options(
        self, market: MarketSnapshot
    ) -> tuple[tuple[OptionQuote, ...], tuple[dt.date, ...]]:
        pairs = [o.to_domain(market.valuation_date, i) for i, o in enumerate(self.options)]
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)

    def settings(self) -> CalibrationSettings:
        return CalibrationSettings(
            vol_tolerance=self.vol_tolerance,
            probability_resolution=self.probability_resolution,
            refit_levels=self.refit_levels,
            refit_vols=self.refit_vols,
            prior_weight=self.prior_weight,
            mode=self.fit,
            tolerances=self.fit_tolerances.to_domain(),
        )


class ImpliedScenario(Schema):
    name: str
    subjective_probability: float = Field(description="The analyst's p.")
    prior_weight: float = Field(description="q under the request's measure (tilt of p …).")
    implied_probability: float | None = Field(
        description="q the quotes imply (0 for a scenario the fit drops); null where they "
        "cannot tell this scenario apart from others (see range and identification), and "
        "under a fit mode that does not fit probabilities."
    )
    weight: float = Field(description="q the fitted mixture prices with (fitted or the measure's).")
    carries_weight: bool = Field(description="weight > 0.")
    identified: bool = Field(
        description="The quotes fix a positive weight for this scenario: a scenario at zero "
        "weight, one the quotes cannot tell apart from others, or any scenario under a mode "
        "that does not fit probabilities is not identified."
    )
    range: list[float] = Field(description="[least, greatest] q consistent with the quotes.")
    level: float = Field(description="Post-event level given, JPY per USD.")
    fitted_level: float = Field(
        description="Post-event level priced with (given, refitted or moved by jump_scale)."
    )
    vol_scale: float = Field(description="Post-event vol multiplier (1 unless fitted).")
    jump_ratio: float


class FitRead(Schema):
    quotes: list[QuoteFitRead]
    rms_vol_points: float
    max_abs_vol_points: float
    iterations: int = Field(description="Risk-reversal linearisation rounds of the weight solve.")
    outer_evaluations: int = Field(
        description="Residual evaluations of the jump-scale / vol-factor least squares (0 if none)."
    )
    converged: bool = Field(
        description="The optimisers' own flag: the weight solve (and any outer least squares) "
        "met its stopping test. It says nothing of whether the mixture fits the quotes: see "
        "status."
    )


class GroupRead(Schema):
    scenarios: list[str]
    combined_probability: float | None = Field(
        description="The group's total q when the quotes fix it, null otherwise."
    )


class IdentificationRead(Schema):
    vol_tolerance: float
    probability_resolution: float
    sensitivities: list[float] = Field(
        description="Vol moved per unit of probability along each direction of weight "
        "change that keeps Σq = 1 and Σ q·J = 1, largest first."
    )
    indistinguishable: list[GroupRead]
    summary: str


class BranchCalibrationRead(Schema):
    """One branch of a decision node: the fitted weight beside the analyst's p."""

    name: str
    subjective_probability: float = Field(description="The analyst's p, given the node.")
    prior_weight: float = Field(description="q under the request's measure at this node.")
    implied_probability: float | None = Field(
        description="q the quotes imply, given the node is reached (0 for a branch the fit "
        "drops); null where they cannot fix it (see range)."
    )
    weight: float = Field(
        description="q the fitted tree prices with (one solution where not identified)."
    )
    carries_weight: bool = Field(description="weight > 0.")
    identified: bool = Field(
        description="The quotes fix a positive q for this branch (as a scenario's identified: "
        "a branch at zero weight, or one whose q the quotes leave open, is not)."
    )
    range: list[float] = Field(description="[least, greatest] q consistent with the quotes.")
    jump_ratio: float = Field(description="J of the branch (level/S0, or its jump).")


class NodeCalibrationRead(Schema):
    """A decision node's fitted branch weights: Σ q = 1 and Σ q·J = 1 (the martingale)."""

    id: str
    date: dt.date
    reached: float = Field(description="Probability of reaching the node under the fit.")
    forward_mismatch: float = Field(description="Σ q·J − 1 at this node (~1e-16).")
    identified: bool = Field(
        description="The quotes fix the node's split: every branch's q (0 included)."
    )
    summary: str
    branches: list[BranchCalibrationRead]


class CalibrateResponse(Schema):
    scenario_set_id: str
    sources: SourcesRead = Field(description=SOURCES_DESCRIPTION)
    valuation_date: dt.date
    event_date: dt.date
    spot: float
    status: FitStatus = Field(
        description="fits: every quote's residual within its tolerance (fit_tolerances); "
        "does_not_fit otherwise."
    )
    reasons: list[str] = Field(
        description="Why, in words: the worst misses in vol points, and how the jumps' event "
        "variance compares with the market's."
    )
    fit_mode: FitMode
    jump_scale: float = Field(description="κ of ln J_i → κ·ln J_i (1 unless fitted).")
    post_vol_factor: float = Field(description="Common post-event vol factor (1 unless fitted).")
    event_variance: EventVarianceRead
    fitted_set: ScenarioSetIn | None = Field(
        description="The set after the fit, as a request's `scenario_set` (same names and "
        "order; fitted levels, vols, and the fitted weights or the analyst's p): priced on "
        "the same market with the same measure and diffusion it is the fitted mixture. Null "
        "when a fitted vol multiplier falls on a scenario smile (see fitted_set_note)."
    )
    fitted_set_note: str | None = Field(description="Why there is no fitted set, if there is none.")
    saved: SavedRead | None = Field(
        default=None, description="The stored version `save` wrote (null without `save`)."
    )
    prior: MeasureRead
    nodes: list[NodeCalibrationRead] | None = Field(
        description="A decision tree's calibration node by node (null for a flat set): each "
        "node's branch weights q solved so that Σ q = 1 and Σ q·J = 1 at every node, the "
        "leaves (scenarios) weighing Π q along their paths; a node whose split the quotes "
        "cannot fix (e.g. quotes only after a later decision whose leaves coincide with "
        "earlier ones) says so, with each branch's range."
    )
    scenarios: list[ImpliedScenario]
    forward_mismatch: float = Field(description="Σ q·J − 1 of the implied weights.")
    fit: FitRead
    identification: IdentificationRead
    consistency: ConsistencyRead = Field(
        description=CONSISTENCY_DESCRIPTION + " The set as given, before calibration, under "
        "the prior measure."
    )


def _summary(names: tuple[str, ...], calibration: Calibration) -> str:
    found = calibration.identification
    carrying = calibration.carries_weight
    m, n = len(names), int(carrying.sum())
    if not calibration.mode.fits_probabilities:
        return (
            f"Probabilities not fitted (fit '{calibration.mode}'): the weights are the "
            f"'{calibration.prior.measure}' measure's of the analyst's p on the fitted jumps; "
            f"{n} of {m} scenarios carry weight; none identified by the quotes."
        )
    identified = int((carrying & ~found.unidentified).sum())
    head = f"{n} of {m} scenarios carry weight; {identified} identified."
    dropped = [names[i] for i in range(m) if not carrying[i] and not found.unidentified[i]]
    if len(dropped) == 1:
        head += f" {dropped[0]} carries none: the fit puts it at 0."
    elif dropped:
        named = ", ".join(dropped[:-1]) + f" and {dropped[-1]}"
        head += f" {named} carry none: the fit puts them at 0."
    if not found.groups:
        return head + _tree_sentence(calibration)
    parts = []
    for group, total in zip(found.groups, found.group_totals, strict=True):
        listed = [names[i] for i in group]
        members = ", ".join(listed[:-1]) + f" and {listed[-1]}"
        if math.isfinite(total):
            parts.append(
                f"the quotes cannot tell {members} apart: together they carry {total:.4f}, "
                f"the split between them is not identified"
            )
        else:
            parts.append(f"the quotes cannot fix the weights of {members}")
    joined = "; ".join(parts)
    return f"{head} {joined[:1].upper()}{joined[1:]}.{_tree_sentence(calibration)}"


def _tree_sentence(calibration: Calibration) -> str:
    """For a tree: the nodes whose split the quotes leave open (see ``nodes``)."""
    if calibration.tree is None:
        return ""
    unfixed = [node.id for node in calibration.tree.nodes if not node.identified]
    if not unfixed:
        return " Every node's split is identified."
    listed = ", ".join(unfixed)
    return f" The split at node{'s' if len(unfixed) > 1 else ''} {listed} is not identified."


def _node_summary(node: NodeCalibration) -> str:
    reach = f"reached with probability {node.reached:.4f}"
    if node.identified:
        return f"Node {node.id} ({reach}): the quotes fix every branch's weight."
    if node.reached <= 0.0:
        return (
            f"Node {node.id} ({reach}): no quote sees it under the fit, so its split is not "
            f"identified."
        )
    open_ = [
        f"{name} in [{lo:.4f}, {hi:.4f}]"
        for name, (lo, hi), unfixed in zip(
            node.branch_names, node.ranges, node.unidentified, strict=True
        )
        if unfixed
    ]
    return (
        f"Node {node.id} ({reach}): the quotes cannot fix its split ({'; '.join(open_)}): "
        f"the weights given are one solution, not identified."
    )


def _nodes_read(calibration: Calibration) -> list[dict[str, Any]] | None:
    tree = calibration.tree
    if tree is None:
        return None
    return [
        {
            "id": node.id,
            "date": node.date.isoformat(),
            "reached": node.reached,
            "forward_mismatch": node.forward_mismatch,
            "identified": node.identified,
            "summary": _node_summary(node),
            "branches": [
                {
                    "name": name,
                    "subjective_probability": float(node.probabilities[j]),
                    "prior_weight": float(node.prior[j]),
                    "implied_probability": None if node.unidentified[j] else float(node.weights[j]),
                    "weight": float(node.weights[j]),
                    "carries_weight": bool(node.weights[j] > WEIGHT_FLOOR),
                    "identified": bool(node.weights[j] > WEIGHT_FLOOR)
                    and not bool(node.unidentified[j]),
                    "range": [float(node.ranges[j, 0]), float(node.ranges[j, 1])],
                    "jump_ratio": float(node.jumps[j]),
                }
                for j, name in enumerate(node.branch_names)
            ],
        }
        for node in tree.nodes
    ]


def calibrate_response(
    scenario_set: ScenarioSet,
    market: MarketSnapshot,
    calibration: Calibration,
    sources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response body as plain JSON types."""
    names = calibration.scenario_names
    found = calibration.identification
    residuals = [f.residual for f in calibration.fits if f.residual is not None]
    points = 100.0 * np.array(residuals) if residuals else np.zeros(1)
    settings = calibration.settings
    verdict = calibration.verdict
    assert verdict is not None  # every calibration is judged
    fitted = calibration.fitted_set
    by_quotes = calibration.mode.fits_probabilities
    carrying = calibration.carries_weight
    return {
        "scenario_set_id": scenario_set.id,
        "sources": sources or {},
        "valuation_date": market.valuation_date.isoformat(),
        "event_date": scenario_set.event_date.isoformat(),
        "spot": market.spot,
        "status": verdict.status.value,
        "reasons": list(verdict.reasons),
        "fit_mode": calibration.mode.value,
        "jump_scale": calibration.jump_scale,
        "post_vol_factor": calibration.vol_factor,
        "event_variance": event_variance_read(calibration),
        "fitted_set": scenario_set_json(fitted) if fitted is not None else None,
        "fitted_set_note": calibration.fitted_set_note,
        "prior": measure_read(calibration.prior, scenario_set),
        "nodes": _nodes_read(calibration),
        "scenarios": [
            {
                "name": name,
                "subjective_probability": float(calibration.probabilities[i]),
                "prior_weight": float(calibration.prior.weights[i]),
                "implied_probability": None
                if found.unidentified[i] or not by_quotes
                else float(calibration.weights[i]),
                "weight": float(calibration.weights[i]),
                "carries_weight": bool(carrying[i]),
                "identified": by_quotes and bool(carrying[i]) and not bool(found.unidentified[i]),
                "range": [float(found.ranges[i, 0]), float(found.ranges[i, 1])],
                "level": scenario_set.scenarios[i].level,
                "fitted_level": float(calibration.levels[i]),
                "vol_scale": float(calibration.vol_scales[i]),
                "jump_ratio": float(calibration.jumps[i]),
            }
            for i, name in enumerate(names)
        ],
        "forward_mismatch": calibration.forward_mismatch,
        "fit": {
            "quotes": quote_fit_rows(calibration),
            "rms_vol_points": float(np.sqrt(np.mean(points * points))),
            "max_abs_vol_points": float(np.max(np.abs(points))),
            "iterations": calibration.iterations,
            "outer_evaluations": calibration.outer_evaluations,
            "converged": calibration.converged,
        },
        "identification": {
            "vol_tolerance": settings.vol_tolerance,
            "probability_resolution": settings.probability_resolution,
            "sensitivities": found.sensitivities.tolist(),
            "indistinguishable": [
                {
                    "scenarios": [names[i] for i in group],
                    "combined_probability": float(total) if math.isfinite(total) else None,
                }
                for group, total in zip(found.groups, found.group_totals, strict=True)
            ],
            "summary": _summary(names, calibration),
        },
        "consistency": consistency_block(market, scenario_set, calibration.prior.measure),
    }
