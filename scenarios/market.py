"""Market snapshot: valuation date, USD/JPY spot, USD and JPY curves, pre-event vols.

Conventions: ``spot`` is JPY per USD for value on the valuation date (a "today" rate; the
quoted T+2 rate differs by two days of carry, about 0.02% at June-2025 rates). Curves hold
continuously compounded zero rates (ACT/365F) at pillar dates. The ATM vol term structure is
the market's as quoted: after a decision date it holds the decision's variance. The diffusion
the pricer reads before and between decisions is that term structure with each event's
variance removed (:class:`Diffusion`, :meth:`MarketSnapshot.event_strip`,
:mod:`pricing.vol.event_strip`); scenario vols take over after the event.

An optional :class:`scenarios.vol.smiles.MarketSurface` (ATM, RR, BF per tenor) gives the
pre-event vols a smile: when present it is fitted (one SVI slice per tenor) as the snapshot
is built, and the pre-event diffusion reads it at each strike (:mod:`scenarios.vol.model`);
when absent the ATM curve alone applies, flat in strike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from pricing.curve import CurveInterpolation, atm_total_variance, zero_rates_at
from pricing.vol.event_strip import EventSizing, EventStrip, strip_events
from pricing.vol.surface import EventVariance, VolSurface, build_surface
from pricing.vol.svi import SviSmiles
from scenarios import checks
from scenarios.errors import DomainError
from scenarios.vol.smiles import MarketSurface, fit_quotes, year_fractions


def _pillar_times(field: str, valuation_date: dt.date, dates: tuple[dt.date, ...]) -> np.ndarray:
    if not dates:
        raise DomainError.field(field, "must hold at least one pillar")
    times = []
    for i, date in enumerate(dates):
        if date <= valuation_date:
            raise DomainError.field(
                f"{field}[{i}].date",
                f"must be after the valuation date {valuation_date.isoformat()}, "
                f"got {date.isoformat()}",
            )
        if i and date <= dates[i - 1]:
            raise DomainError.field(
                f"{field}[{i}].date",
                f"pillars must be strictly increasing, got {date.isoformat()} after "
                f"{dates[i - 1].isoformat()}",
            )
        times.append((date - valuation_date).days / 365.0)
    return np.array(times)


@dataclass(frozen=True)
class DiscountCurve:
    """Zero rates (continuous, ACT/365F) at pillar dates, with a stated interpolation."""

    valuation_date: dt.date
    pillar_dates: tuple[dt.date, ...]
    zero_rates: tuple[float, ...]
    interpolation: CurveInterpolation = CurveInterpolation.LOG_LINEAR_DISCOUNT

    def __post_init__(self) -> None:
        if len(self.pillar_dates) != len(self.zero_rates):
            raise DomainError.field("", "dates and rates must have the same length")
        for i, rate in enumerate(self.zero_rates):
            checks.in_range(f"[{i}].rate", rate, -0.2, 1.0, " (a decimal, 0.043 = 4.3%)")
        object.__setattr__(
            self, "_times", _pillar_times("", self.valuation_date, self.pillar_dates)
        )

    @property
    def times(self) -> np.ndarray:
        """Pillar times, years ACT/365F from the valuation date."""
        return self._times  # type: ignore[attr-defined,no-any-return]

    def zero_rates_at(self, times: np.ndarray) -> np.ndarray:
        """Zero rates at ``times`` (years ACT/365F from the valuation date)."""
        return zero_rates_at(
            pillar_times=self._times,  # type: ignore[attr-defined]
            zero_rates=np.array(self.zero_rates),
            times=times,
            interpolation=self.interpolation,
        )


@dataclass(frozen=True)
class AtmVolCurve:
    """Pre-event ATM vols (annualised decimals) at pillar dates; linear in total variance."""

    valuation_date: dt.date
    pillar_dates: tuple[dt.date, ...]
    vols: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.pillar_dates) != len(self.vols):
            raise DomainError.field("", "dates and vols must have the same length")
        for i, vol in enumerate(self.vols):
            checks.in_range(f"[{i}].vol", vol, 1e-4, 5.0, " (a decimal, 0.115 = 11.5%)")
        times = _pillar_times("", self.valuation_date, self.pillar_dates)
        variances = np.array(self.vols) ** 2 * times
        for i in range(1, len(times)):
            if variances[i] < variances[i - 1]:
                raise DomainError.field(
                    f"[{i}].vol",
                    f"total variance must not fall with maturity (calendar arbitrage): "
                    f"{self.vols[i]:g} at {self.pillar_dates[i].isoformat()} gives "
                    f"{variances[i]:.6g} < {variances[i - 1]:.6g} at the previous pillar",
                )
        object.__setattr__(self, "_times", times)

    @property
    def times(self) -> np.ndarray:
        """Pillar times, years ACT/365F from the valuation date."""
        return self._times  # type: ignore[attr-defined,no-any-return]

    def total_variance(self, times: np.ndarray) -> np.ndarray:
        return atm_total_variance(
            pillar_times=self._times,  # type: ignore[attr-defined]
            vols=np.array(self.vols),
            times=times,
        )


MIN_SPOT, MAX_SPOT = 1e-3, 1e6  # JPY per USD: far outside any market, inside double range


class Diffusion(StrEnum):
    """How the quotes are read for the diffusion before and between decisions.

    ``ex_event`` (default): the quotes after a decision hold its variance; the diffusion is
    the quoted term structure with each event's variance removed (:mod:`pricing.vol.event_strip`),
    and the scenarios' jumps carry the event. ``quoted``: the quoted ATM curve and surface,
    interpolated as they stand, are the diffusion (the event's premium is then counted twice
    after the decision: once in the diffusion, once in the jumps).
    """

    EX_EVENT = "ex_event"
    QUOTED = "quoted"


@dataclass(frozen=True)
class MarketSnapshot:
    """Everything the pricer reads from the market on ``valuation_date``."""

    valuation_date: dt.date
    spot: float
    usd_curve: DiscountCurve
    jpy_curve: DiscountCurve
    atm_vols: AtmVolCurve
    surface: MarketSurface | None = None
    diffusion: Diffusion = Diffusion.EX_EVENT

    def __post_init__(self) -> None:
        checks.in_range("spot", self.spot, MIN_SPOT, MAX_SPOT, " (JPY per USD)")
        for name in ("usd_curve", "jpy_curve", "atm_vols"):
            if getattr(self, name).valuation_date != self.valuation_date:
                raise DomainError.field(name, "must be built on the snapshot's valuation date")
        object.__setattr__(self, "diffusion", Diffusion(self.diffusion))
        object.__setattr__(self, "_smiles", self._fit_surface())
        self._hashed()

    def _hashed(self) -> None:
        # hashed once: the lru caches keyed on a snapshot otherwise re-hash every curve
        fields = (self.valuation_date, self.spot, self.usd_curve, self.jpy_curve)
        object.__setattr__(
            self, "_hash", hash((*fields, self.atm_vols, self.surface, self.diffusion))
        )
        object.__setattr__(self, "_strips", {})

    def with_diffusion(self, diffusion: Diffusion) -> MarketSnapshot:
        """The same snapshot read with ``diffusion`` (the fitted smiles are shared)."""
        if diffusion == self.diffusion:
            return self
        other = object.__new__(MarketSnapshot)
        for name in self.__dataclass_fields__:
            object.__setattr__(other, name, getattr(self, name))
        object.__setattr__(other, "diffusion", Diffusion(diffusion))
        object.__setattr__(other, "_smiles", self._smiles)  # type: ignore[attr-defined]
        other._hashed()
        return other

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    def _fit_surface(self) -> SviSmiles | None:
        if self.surface is None:
            return None
        quotes = self.surface.quotes
        try:
            self.surface.check_against(self.valuation_date)
            deliveries = year_fractions(self.valuation_date, tuple(q.delivery for q in quotes))
            return fit_quotes(
                quotes=quotes,
                expiries=year_fractions(self.valuation_date, tuple(q.expiry for q in quotes)),
                forwards=self.forwards(deliveries),
                foreign_discount_factors=self.usd_discount_factors(deliveries),
                conventions=self.surface.conventions,
            )
        except DomainError as exc:
            raise exc.prefixed("surface") from None

    @property
    def smiles(self) -> SviSmiles | None:
        """The surface's pillar smiles (None without a surface)."""
        return self._smiles  # type: ignore[attr-defined,no-any-return]

    def event_strip(self, event_times: tuple[float, ...]) -> EventStrip:
        """The events' variances at ``event_times`` (years ACT/365F, sorted) and the diffusion
        without them, read off the surface's ATM-forward variances (the ATM curve's without a
        surface): by the decision day's stated weight when ``surface.event_extra_days > 0``,
        from the term structure otherwise (:mod:`pricing.vol.event_strip`). Under
        :attr:`Diffusion.QUOTED` only a stated weight strips anything (with none, every
        event's variance is 0: the quotes as they stand). Cached per snapshot."""
        strips = self._strips  # type: ignore[attr-defined]
        if event_times in strips:
            return strips[event_times]  # type: ignore[no-any-return]
        smiles = self.smiles
        if smiles is not None:
            times = smiles.expiries
            variances = smiles.derivatives(log_moneyness=np.zeros_like(times))[0]
        else:
            times = self.atm_vols.times
            variances = np.array(self.atm_vols.vols) ** 2 * times
        extra = self.surface.event_extra_days if self.surface is not None else 0.0
        weighted = extra > 0 or self.diffusion is Diffusion.QUOTED
        strip = strip_events(
            pillar_times=times,
            total_variances=variances,
            event_times=np.array(event_times, dtype=float),
            sizing=EventSizing.EVENT_DAY_WEIGHT if weighted else EventSizing.TERM_STRUCTURE,
            extra_days=extra,
        )
        if len(strips) >= 64:
            strips.clear()
        strips[event_times] = strip
        return strip

    def vol_surface(
        self, event_times: float | tuple[float, ...] | None = None
    ) -> VolSurface | None:
        """The quoted surface, read as diffusion plus each event's variance on its date
        (:meth:`event_strip`; ``event_times`` years ACT/365F, one or several, sorted); None
        without a surface."""
        smiles = self.smiles
        if smiles is None or self.surface is None:
            return None
        times = () if event_times is None else event_times
        times = (times,) if isinstance(times, float | int) else tuple(times)
        events = []
        if times:
            variances = self.event_strip(tuple(float(t) for t in times)).event_variances
            for time, variance in zip(times, variances, strict=True):
                if variance > 0.0 or self.surface.event_extra_days > 0:  # as before: an event
                    events.append(EventVariance(time=float(time), variance=float(variance)))
        return build_surface(smiles=smiles, events=events)

    def diffusion_atm(self, event_times: tuple[float, ...]) -> AtmVolCurve:
        """The ATM curve with the events' variances (:meth:`event_strip`) taken out of every
        pillar after them: the diffusion, linear in total variance as the quoted curve."""
        if not event_times:
            return self.atm_vols
        key = ("diffusion_atm", event_times)
        strips = self._strips  # type: ignore[attr-defined]
        if key in strips:  # a path request reads it each time
            return strips[key]  # type: ignore[no-any-return]
        v = self.event_strip(event_times).event_variances
        times = self.atm_vols.times
        curve = self.atm_vols
        if v.any():
            removed = np.array([v[np.array(event_times) < t].sum() for t in times])
            variances = np.maximum(np.array(self.atm_vols.vols) ** 2 * times - removed, 0.0)
            variances = np.maximum.accumulate(np.maximum(variances, 1e-8 * times))
            curve = AtmVolCurve(
                self.valuation_date,
                self.atm_vols.pillar_dates,
                tuple(float(x) for x in np.sqrt(variances / times)),
            )
        strips[key] = curve
        return curve

    def usd_discount_factors(self, times: np.ndarray | float) -> np.ndarray:
        """USD discount factors to ``times`` (years ACT/365F)."""
        times = np.asarray(times, dtype=float)
        factors: np.ndarray = np.exp(-self.usd_curve.zero_rates_at(times) * times)
        return factors

    def forwards(self, times: np.ndarray) -> np.ndarray:
        """Outright forwards (JPY per USD) to ``times``: ``S0·exp((r_d − r_f)·t)``."""
        times = np.asarray(times, dtype=float)
        forwards: np.ndarray = self.spot * np.exp(
            (self.jpy_curve.zero_rates_at(times) - self.usd_curve.zero_rates_at(times)) * times
        )
        return forwards
