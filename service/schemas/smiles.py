"""Smile quote schemas: ATM, risk reversals and butterflies per tenor, and scenario smiles.

Vols are annualised decimals (0.115 = 11.5%; a risk reversal of −1.4 vol is ``-0.014``,
negative when JPY calls are bid). USD/JPY conventions by default: premium-adjusted delta,
spot delta up to ``spot_delta_max_expiry`` (1.1 years, so the 1Y pillar) and forward delta
beyond, delta-neutral straddle ATM, broker (market) strangle butterflies.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from pricing.fx.delta import AtmType
from pricing.vol.quotes import Butterfly, SmileConventions
from scenarios.dates import spot_date, tenor_dates
from scenarios.vol.smiles import MarketSurface, ScenarioSmile, SmileQuote, SmileShift
from service.schemas.common import Choice, Date, FiniteFloat, PositiveFloat, Schema, under

Vol = Annotated[FiniteFloat, Field(ge=-1.0, le=1.0)]


class SmileQuoteIn(Schema):
    """One tenor's quotes; give a ``tenor`` (1W, 1M … 2Y, by the USD/JPY date rules) or the
    option's expiry ``date``. 10-delta quotes are optional, ``rr10`` and ``bf10`` together."""

    tenor: str | None = Field(default=None, examples=["1M"])
    date: Date | None = Field(default=None, description="Option expiry date.")
    atm: PositiveFloat = Field(description="ATM (delta-neutral straddle) vol.", examples=[0.115])
    rr25: Vol = Field(description="25-delta risk reversal, call vol − put vol.", examples=[-0.014])
    bf25: Vol = Field(description="25-delta butterfly (broker strangle).", examples=[0.003])
    rr10: Vol | None = Field(default=None, description="10-delta risk reversal.")
    bf10: Vol | None = Field(default=None, description="10-delta butterfly.")

    @model_validator(mode="after")
    def _one_of(self) -> SmileQuoteIn:
        if (self.tenor is None) == (self.date is None):
            raise ValueError("give exactly one of tenor or date")
        return self

    def to_domain(self, start: dt.date, field: str) -> SmileQuote:
        """Resolve the dates from ``start`` (valuation date, or event date for scenarios)."""
        if self.tenor is not None:
            expiry, delivery = tenor_dates(f"{field}.tenor", start, self.tenor)
        else:
            assert self.date is not None
            expiry, delivery = self.date, spot_date(self.date, f"{field}.date")
        return under(
            field,
            lambda: SmileQuote(
                expiry, delivery, self.atm, self.rr25, self.bf25, self.rr10, self.bf10, self.tenor
            ),
        )

    @classmethod
    def from_domain(cls, quote: SmileQuote) -> SmileQuoteIn:
        dated = quote.tenor is None
        return cls(
            tenor=quote.tenor,
            date=quote.expiry if dated else None,
            atm=quote.atm,
            rr25=quote.rr25,
            bf25=quote.bf25,
            rr10=quote.rr10,
            bf10=quote.bf10,
        )


def quotes_to_domain(
    rows: list[SmileQuoteIn], start: dt.date, field: str
) -> tuple[SmileQuote, ...]:
    return tuple(row.to_domain(start, f"{field}[{i}]") for i, row in enumerate(rows))


class SurfaceConventionsIn(Schema):
    """How the surface's quotes are to be read (defaults: USD/JPY's)."""

    premium_adjusted: bool = Field(default=True, description="Premium in USD: adjusted deltas.")
    spot_delta_max_expiry: float = Field(
        default=1.1,
        gt=0,
        le=10,
        description="Expiries up to this many years quote spot delta, later ones forward delta.",
    )
    atm: Literal["delta_neutral", "forward"] = "delta_neutral"
    butterfly: Choice[Butterfly] = Field(
        default=Butterfly.BROKER, description="broker (market) strangle or smile strangle."
    )
    event_extra_days: float = Field(
        default=0.0,
        ge=0,
        le=30,
        description="How the quotes weigh the decision day: it counts as this many extra days "
        "of variance, which the pre-event diffusion then excludes. 0: an ordinary day (the "
        "event's premium is spread over the pillar interval, as in the ATM curve).",
    )

    @classmethod
    def from_domain(cls, surface: MarketSurface) -> SurfaceConventionsIn:
        c = surface.conventions
        return cls(
            premium_adjusted=c.premium_adjusted,
            spot_delta_max_expiry=c.spot_delta_max_expiry,
            atm="forward" if c.atm_type is AtmType.FORWARD else "delta_neutral",
            butterfly=c.butterfly,
            event_extra_days=surface.event_extra_days,
        )

    def to_domain(self) -> SmileConventions:
        return SmileConventions(
            premium_adjusted=self.premium_adjusted,
            spot_delta_max_expiry=self.spot_delta_max_expiry,
            atm_type=AtmType(self.atm),
            butterfly=self.butterfly,
        )


class SmileShiftIn(Schema):
    """Vol shifts added to every pillar of the market's surface (or its flat ATM curve)."""

    atm: Vol = 0.0
    rr25: Vol = 0.0
    bf25: Vol = 0.0
    rr10: Vol = 0.0
    bf10: Vol = 0.0


class ScenarioSmileIn(Schema):
    """A scenario's post-event smile: ``quotes`` with tenors counted from the event date (the
    market the day after the decision), or a ``shift`` of the market's surface."""

    quotes: Annotated[list[SmileQuoteIn], Field(min_length=1, max_length=40)] | None = None
    shift: SmileShiftIn | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ScenarioSmileIn:
        if (self.quotes is None) == (self.shift is None):
            raise ValueError("give exactly one of quotes or shift")
        return self

    def to_domain(self, event_date: dt.date) -> ScenarioSmile:
        """The domain smile; errors name ``smile.quotes[j].<field>`` or ``smile.shift.<field>``."""
        if self.shift is not None:
            shift = self.shift
            return ScenarioSmile(
                shift=under(
                    "smile.shift",
                    lambda: SmileShift(shift.atm, shift.rr25, shift.bf25, shift.rr10, shift.bf10),
                )
            )
        assert self.quotes is not None
        return ScenarioSmile(quotes=quotes_to_domain(self.quotes, event_date, "smile.quotes"))

    @classmethod
    def from_domain(cls, smile: ScenarioSmile | None) -> ScenarioSmileIn | None:
        if smile is None:
            return None
        if smile.shift is not None:
            return cls(shift=SmileShiftIn(**smile.shift.__dict__))
        return cls(quotes=[SmileQuoteIn.from_domain(q) for q in smile.quotes])
