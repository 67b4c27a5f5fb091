"""``POST /v1/calibrate``: request and response schemas.

Units: vols annualised decimals in the quotes (0.115 = 11.5%); fit residuals in vol points
(1.0 = one vol, 0.01 in decimals); probabilities and weights as fractions; levels JPY per
USD. Quotes are in the market surface's conventions (USD/JPY: premium-adjusted delta, spot
delta to 1Y, delta-neutral ATM, broker butterfly), tenors counted from the valuation date.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from scenarios.calibration.fit import Calibration, CalibrationSettings
from scenarios.calibration.rows import OptionQuote
from scenarios.dates import expiry_delivery, tenor_dates, year_fraction
from scenarios.errors import DomainError
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.smiles import SmileQuote
from service.schemas.common import Date, PositiveFloat, Schema, under
from service.schemas.consistency import (
    CONSISTENCY_DESCRIPTION,
    ConsistencyRead,
    consistency_block,
)
from service.schemas.results import BUILTIN_SET, MeasureRead, measure_read
from service.schemas.smiles import SmileQuoteIn, quotes_to_domain
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

    model_config = ConfigDict(json_schema_extra={"examples": _EXAMPLES})

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
        )


class ImpliedScenario(Schema):
    name: str
    subjective_probability: float = Field(description="The analyst's p.")
    prior_weight: float = Field(description="q under the request's measure (tilt of p …).")
    implied_probability: float | None = Field(
        description="q the quotes imply; null where they cannot tell this scenario apart "
        "from others (see range and identification)."
    )
    identified: bool
    range: list[float] = Field(description="[least, greatest] q consistent with the quotes.")
    level: float = Field(description="Post-event level given, JPY per USD.")
    fitted_level: float = Field(description="Post-event level priced with (refitted or given).")
    vol_scale: float = Field(description="Post-event vol multiplier (1 unless refitted).")
    jump_ratio: float


class QuoteFitRead(Schema):
    label: str
    expiry: dt.date
    kind: str = Field(description="atm | rr25 | bf25 | rr10 | bf10 | vol")
    strike: float | None
    market: float
    model: float | None = Field(description="The fitted mixture's quote (null: not solved).")
    residual_vol_points: float | None = Field(description="(model − market) × 100.")


class FitRead(Schema):
    quotes: list[QuoteFitRead]
    rms_vol_points: float
    max_abs_vol_points: float
    iterations: int
    converged: bool


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


class CalibrateResponse(Schema):
    scenario_set_id: str
    valuation_date: dt.date
    event_date: dt.date
    spot: float
    prior: MeasureRead
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
    if not found.groups:
        return "Every scenario is identified by the quotes."
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
    return "; ".join(parts).capitalize() + "."


def calibrate_response(
    scenario_set: ScenarioSet, market: MarketSnapshot, calibration: Calibration
) -> dict[str, Any]:
    """The response body as plain JSON types."""
    names = calibration.scenario_names
    found = calibration.identification
    residuals = [f.residual for f in calibration.fits if f.residual is not None]
    points = 100.0 * np.array(residuals) if residuals else np.zeros(1)
    settings = calibration.settings
    return {
        "scenario_set_id": scenario_set.id,
        "valuation_date": market.valuation_date.isoformat(),
        "event_date": scenario_set.event_date.isoformat(),
        "spot": market.spot,
        "prior": measure_read(calibration.prior, scenario_set),
        "scenarios": [
            {
                "name": name,
                "subjective_probability": float(calibration.probabilities[i]),
                "prior_weight": float(calibration.prior.weights[i]),
                "implied_probability": None
                if found.unidentified[i]
                else float(calibration.weights[i]),
                "identified": not bool(found.unidentified[i]),
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
            "quotes": [
                {
                    "label": f.label,
                    "expiry": f.expiry.isoformat(),
                    "kind": f.kind,
                    "strike": f.strike,
                    "market": f.market,
                    "model": f.model,
                    "residual_vol_points": None if f.residual is None else 100.0 * f.residual,
                }
                for f in calibration.fits
            ],
            "rms_vol_points": float(np.sqrt(np.mean(points * points))),
            "max_abs_vol_points": float(np.max(np.abs(points))),
            "iterations": calibration.iterations,
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
