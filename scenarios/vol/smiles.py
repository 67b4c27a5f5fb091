"""Vol smiles in the desk's words: ATM, risk reversals and butterflies per tenor.

A :class:`SmileQuote` is one tenor's quotes — ATM, 25Δ risk reversal and butterfly, and
optionally the 10Δ pair — in USD/JPY conventions (:class:`pricing.vol.quotes.
SmileConventions`: premium-adjusted delta, spot delta to 1Y and forward delta beyond,
delta-neutral ATM, broker butterfly). Vols are annualised decimals (a risk reversal of
−1.4 vol is ``-0.014``); a negative risk reversal means JPY calls (USD puts) are bid.

* :class:`MarketSurface` — the market's quotes per tenor from the valuation date, with the
  quoting conventions and how the quotes weigh the decision day (``event_extra_days``: the
  event day counts as that many extra ordinary days of variance; 0 spreads the event's
  variance over the pillar interval like any other day).
* :class:`ScenarioSmile` — a scenario's post-event surface: quotes per tenor *counted from
  the event date* (the market the day after the decision), or a :class:`SmileShift` of ATM,
  RR and BF applied to every pillar of the market's surface (read as post-event tenors).

:func:`fit_quotes` fits one SVI slice per tenor (:func:`pricing.vol.smile.fit_smiles`) and turns
the fit's :class:`pricing.vol.quotes.SmileError` into a :class:`DomainError` naming the
quote (``[2].bf25``) for the caller to prefix.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np

from pricing.vol.quotes import SmileConventions, SmileError, TenorQuote, WingQuote
from pricing.vol.smile import fit_smiles
from pricing.vol.svi import SviSmiles
from scenarios import checks
from scenarios.errors import DomainError

MAX_SMILE_TENORS = 40
WING_DELTAS = (0.25, 0.10)
_SMILE_PATH = re.compile(r"^tenors\[(\d+)\]\.(\w+)(?:\[(\d+)\]\.(\w+))?$")


@dataclass(frozen=True)
class SmileQuote:
    """One tenor: ``atm`` > 0, ``rr25``/``bf25`` and optionally ``rr10``/``bf10`` (decimals).

    ``expiry``/``delivery`` are the option's dates; ``tenor`` the label it was given as
    (None for a dated quote).
    """

    expiry: dt.date
    delivery: dt.date
    atm: float
    rr25: float
    bf25: float
    rr10: float | None = None
    bf10: float | None = None
    tenor: str | None = None

    def __post_init__(self) -> None:
        checks.in_range("atm", self.atm, 1e-4, 5.0, " (a decimal, 0.115 = 11.5%)")
        for name in ("rr25", "bf25"):
            checks.in_range(name, getattr(self, name), -1.0, 1.0, " (a decimal vol)")
        if (self.rr10 is None) != (self.bf10 is None):
            missing = "bf10" if self.bf10 is None else "rr10"
            raise DomainError.field(missing, "give rr10 and bf10 together, or neither")
        for name in ("rr10", "bf10"):
            if getattr(self, name) is not None:
                checks.in_range(name, getattr(self, name), -1.0, 1.0, " (a decimal vol)")
        if self.delivery < self.expiry:
            raise DomainError.field(
                "delivery",
                f"must be on or after the expiry {self.expiry.isoformat()}, "
                f"got {self.delivery.isoformat()}",
            )

    @property
    def date_field(self) -> str:
        """The request field that set the dates: ``tenor`` or ``date``."""
        return "tenor" if self.tenor is not None else "date"

    @property
    def has_10d(self) -> bool:
        return self.rr10 is not None

    def wings(self) -> tuple[WingQuote, ...]:
        wings = [WingQuote(WING_DELTAS[0], self.rr25, self.bf25)]
        if self.rr10 is not None and self.bf10 is not None:
            wings.append(WingQuote(WING_DELTAS[1], self.rr10, self.bf10))
        return tuple(wings)


def check_quotes(quotes: tuple[SmileQuote, ...], after: dt.date) -> None:
    """Quotes must hold 1 to 40 tenors, expiring after ``after`` in increasing order."""
    if not quotes or len(quotes) > MAX_SMILE_TENORS:
        raise DomainError.field("", f"must hold 1 to {MAX_SMILE_TENORS} tenors, got {len(quotes)}")
    for i, quote in enumerate(quotes):
        if quote.expiry <= after:
            raise DomainError.field(
                f"[{i}].{quote.date_field}",
                f"must expire after {after.isoformat()}, got {quote.expiry.isoformat()}",
            )
        if i and quote.expiry <= quotes[i - 1].expiry:
            raise DomainError.field(
                f"[{i}].{quote.date_field}",
                f"tenors must be sorted by expiry: {quote.expiry.isoformat()} is not after "
                f"[{i - 1}]'s {quotes[i - 1].expiry.isoformat()}",
            )


@dataclass(frozen=True)
class MarketSurface:
    """The market's smile quotes per tenor (from the valuation date), sorted by expiry."""

    quotes: tuple[SmileQuote, ...]
    conventions: SmileConventions = field(default_factory=SmileConventions)
    event_extra_days: float = 0.0

    def __post_init__(self) -> None:
        checks.in_range("event_extra_days", self.event_extra_days, 0.0, 30.0, " (days)")

    def check_against(self, valuation_date: dt.date) -> None:
        check_quotes(self.quotes, valuation_date)


@dataclass(frozen=True)
class SmileShift:
    """Vol shifts (decimals) added to every pillar's ATM, RR and BF of the base surface."""

    atm: float = 0.0
    rr25: float = 0.0
    bf25: float = 0.0
    rr10: float = 0.0
    bf10: float = 0.0

    def __post_init__(self) -> None:
        for name in ("atm", "rr25", "bf25", "rr10", "bf10"):
            checks.in_range(name, getattr(self, name), -1.0, 1.0, " (a decimal vol)")

    def applied(self, quote: SmileQuote) -> SmileQuote:
        """``quote`` moved by the shift (10Δ shifts need 10Δ quotes: checked by the caller)."""
        tenth = quote.has_10d
        return SmileQuote(
            expiry=quote.expiry,
            delivery=quote.delivery,
            atm=quote.atm + self.atm,
            rr25=quote.rr25 + self.rr25,
            bf25=quote.bf25 + self.bf25,
            rr10=(quote.rr10 or 0.0) + self.rr10 if tenth else None,
            bf10=(quote.bf10 or 0.0) + self.bf10 if tenth else None,
            tenor=quote.tenor,
        )


@dataclass(frozen=True)
class ScenarioSmile:
    """A scenario's post-event surface: ``quotes`` (tenors from the event date) or ``shift``."""

    quotes: tuple[SmileQuote, ...] = ()
    shift: SmileShift | None = None

    def __post_init__(self) -> None:
        if bool(self.quotes) == (self.shift is not None):
            raise DomainError.field("", "give exactly one of quotes or shift")

    @property
    def source(self) -> str:
        return "quotes" if self.quotes else "shift"


def fit_quotes(
    *,
    quotes: tuple[SmileQuote, ...],
    expiries: np.ndarray,
    forwards: np.ndarray,
    foreign_discount_factors: np.ndarray,
    conventions: SmileConventions,
) -> SviSmiles:
    """SVI smiles through ``quotes`` at ``expiries`` (years) with their forwards and USD DFs.

    Raises:
        DomainError: a quote no smile matches, named ``[i].<field>`` (``[2].bf25``).
    """
    tenors = [
        TenorQuote(float(t), float(f), float(df), q.atm, q.wings())
        for q, t, f, df in zip(quotes, expiries, forwards, foreign_discount_factors, strict=True)
    ]
    try:
        return fit_smiles(tenors=tenors, conventions=conventions)
    except SmileError as exc:
        raise DomainError.field(_quote_field(exc.field, quotes), exc.reason) from None


def _quote_field(path: str, quotes: tuple[SmileQuote, ...]) -> str:
    """``tenors[2].wings[1].bf`` → ``[2].bf10``; ``tenors[2].expiry`` → ``[2].tenor``."""
    match = _SMILE_PATH.match(path)
    if match is None:
        return ""
    i, name, j, wing_field = match.groups()
    index = int(i)
    if name == "wings" and j is not None and wing_field in ("rr", "bf"):
        return f"[{index}].{wing_field}{'25' if j == '0' else '10'}"
    if name == "atm":
        return f"[{index}].atm"
    return f"[{index}].{quotes[index].date_field}" if index < len(quotes) else f"[{index}]"


def year_fractions(start: dt.date, dates: tuple[dt.date, ...]) -> np.ndarray:
    """ACT/365F years from ``start`` to each date."""
    return np.array([(d - start).days / 365.0 for d in dates])
