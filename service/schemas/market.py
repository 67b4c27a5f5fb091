"""Market and scenario-set schemas, and their translation to domain objects."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, model_validator

from pricing.curve import CurveInterpolation
from scenarios import checks
from scenarios.dates import pillar_date
from scenarios.market import AtmVolCurve, DiscountCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet
from scenarios.vol.smiles import MarketSurface
from service.schemas.common import Choice, Date, FiniteFloat, PositiveFloat, Schema, under
from service.schemas.smiles import (
    ScenarioSmileIn,
    SmileQuoteIn,
    SurfaceConventionsIn,
    quotes_to_domain,
)


class Pillar(Schema):
    """A curve point at a ``tenor`` (ON, 1D, 1W, 1M, 1Y …) or a ``date``; one of the two."""

    tenor: str | None = Field(default=None, examples=["1Y"])
    date: Date | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Pillar:
        if (self.tenor is None) == (self.date is None):
            raise ValueError("give exactly one of tenor or date")
        return self

    def resolve(self, valuation_date: dt.date, field: str) -> dt.date:
        if self.date is not None:
            return self.date
        assert self.tenor is not None
        return pillar_date(f"{field}.tenor", valuation_date, self.tenor)


class RatePillar(Pillar):
    rate: FiniteFloat = Field(description="Zero rate, continuously compounded decimal (ACT/365F).")


class VolPillar(Pillar):
    vol: PositiveFloat = Field(description="Pre-event ATM vol, annualised decimal (0.115 = 11.5%).")


class MarketIn(Schema):
    """A market snapshot. ``spot`` is JPY per USD for value on the valuation date."""

    valuation_date: Date
    spot: PositiveFloat
    usd_curve: Annotated[list[RatePillar], Field(min_length=1, max_length=200)]
    jpy_curve: Annotated[list[RatePillar], Field(min_length=1, max_length=200)]
    atm_vols: Annotated[list[VolPillar], Field(min_length=1, max_length=200)]
    curve_interpolation: Choice[CurveInterpolation] = CurveInterpolation.LOG_LINEAR_DISCOUNT
    surface: Annotated[list[SmileQuoteIn], Field(min_length=1, max_length=40)] | None = Field(
        default=None,
        description="Smile quotes per tenor (ATM, 25Δ RR/BF, optional 10Δ), sorted by expiry. "
        "When given, the surface (not atm_vols) sets the pre-event vols of /v1/price, "
        "/v1/vol-surface and /v1/calibrate, read at each strike; without it the ATM curve "
        "applies, flat in strike. /v1/paths reads atm_vols either way.",
    )
    surface_conventions: SurfaceConventionsIn = Field(default_factory=SurfaceConventionsIn)

    def to_domain(self, prefix: str = "market") -> MarketSnapshot:
        v = under(prefix, lambda: checks.in_calendar("valuation_date", self.valuation_date))

        def curve(name: str, rows: list[RatePillar]) -> DiscountCurve:
            dates = tuple(r.resolve(v, f"{prefix}.{name}[{i}]") for i, r in enumerate(rows))
            return under(
                f"{prefix}.{name}",
                lambda: DiscountCurve(
                    v, dates, tuple(r.rate for r in rows), self.curve_interpolation
                ),
            )

        usd = curve("usd_curve", self.usd_curve)
        jpy = curve("jpy_curve", self.jpy_curve)
        vol_dates = tuple(
            r.resolve(v, f"{prefix}.atm_vols[{i}]") for i, r in enumerate(self.atm_vols)
        )
        atm = under(
            f"{prefix}.atm_vols",
            lambda: AtmVolCurve(v, vol_dates, tuple(r.vol for r in self.atm_vols)),
        )
        surface = None
        if self.surface is not None:
            conventions = self.surface_conventions
            quotes = quotes_to_domain(self.surface, v, f"{prefix}.surface")
            surface = under(
                prefix,
                lambda: MarketSurface(
                    quotes, conventions.to_domain(), conventions.event_extra_days
                ),
            )
        return under(prefix, lambda: MarketSnapshot(v, self.spot, usd, jpy, atm, surface))


class ScenarioIn(Schema):
    name: str = Field(min_length=1, max_length=100, examples=["comprehensive_deal"])
    probability: FiniteFloat = Field(ge=0, le=1, description="Subjective probability p.")
    level: PositiveFloat = Field(description="Post-event USD/JPY level L, JPY per USD.")
    vol: PositiveFloat = Field(description="Post-event vol, annualised decimal.")
    description: str = ""
    drivers: dict[str, FiniteFloat] = Field(
        default_factory=dict,
        max_length=16,
        description="Policy levels in percent (auto_tariff_pct, reciprocal_tariff_pct), >= 0; "
        "they move the CDS curves through the credit market's sensitivities.",
        examples=[{"auto_tariff_pct": 25.0, "reciprocal_tariff_pct": 24.0}],
    )
    smile: ScenarioSmileIn | None = Field(
        default=None,
        description="Post-event smile: quotes per tenor from the event date, or a shift of "
        "the market's surface; without it the post-event vol is `vol` at every strike.",
    )


class ScenarioSetIn(Schema):
    """Scenarios of one decision on ``event_date``; probabilities must sum to 1."""

    id: str = Field(default="inline", max_length=100)
    name: str = Field(default="inline scenario set", max_length=200)
    event_date: Date
    scenarios: Annotated[list[ScenarioIn], Field(min_length=1, max_length=64)]
    description: str = ""

    def to_domain(self, prefix: str = "scenario_set") -> ScenarioSet:
        scenarios = tuple(
            under(
                f"{prefix}.scenarios[{i}]",
                lambda s=s: Scenario(
                    s.name,
                    s.probability,
                    s.level,
                    s.vol,
                    s.description,
                    drivers=s.drivers,
                    smile=s.smile.to_domain(self.event_date) if s.smile else None,
                ),
            )
            for i, s in enumerate(self.scenarios)
        )
        return under(
            prefix,
            lambda: ScenarioSet(self.id, self.name, self.event_date, scenarios, self.description),
        )
