"""FX smile quotes in the desk's conventions: ATM, risk reversals and butterflies per tenor.

Conventions: forwards and strikes in JPY per USD (JPY domestic, USD foreign); vols annualised
decimals (1 vol point = 0.01); expiries in years ACT/365F; ``k = ln(K/F)`` log forward
moneyness; total variance ``w(k) = σ(K)²·T``. USD/JPY quotes (:class:`SmileConventions`
defaults): premium in USD, so deltas are premium-adjusted; spot delta up to the 1Y pillar,
forward delta beyond; ATM is the delta-neutral straddle; butterflies are broker strangles.

Quotes, per tenor and wing delta δ (25Δ, optionally 10Δ):

* ATM: ``σ(K_atm) = σ_atm`` with ``K_atm = F·e^{−σ_atm²T/2}`` (delta-neutral, adjusted).
* risk reversal: ``σ(K_c) − σ(K_p) = RR`` where ``K_c``, ``K_p`` have call delta +δ and put
  delta −δ *at their own smile vols*.
* butterfly, broker (market) strangle — Clark (2011) §3.7.2, Reiswich & Wystup (2010) §3:
  with the single vol ``σ_ms = σ_atm + BF`` take the strikes ``K_c^ms``, ``K_p^ms`` of delta ±δ
  and price that strangle; the smile must price the same two options to the same total.
  ``Butterfly.SMILE`` reads BF as ``(σ(K_c) + σ(K_p))/2 − σ_atm`` instead.

:func:`validate_quotes` checks a tenor list before any fit and raises :class:`SmileError`
naming the quote (``tenors[2].wings[0].bf``).

References: Clark, *Foreign Exchange Option Pricing* (2011), ch. 3; Reiswich & Wystup, "FX
volatility smile construction", CPQF WP 20 (2010).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from pricing.fx.delta import AtmType, DeltaType


class SmileError(Exception):
    """A quote no smile can be built from, named by its path (no HTTP status here).

    ``field`` is the quote's path such as ``"tenors[2].wings[0].bf"``; ``reason`` says which
    rule failed and quotes the value.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Butterfly(StrEnum):
    """Which butterfly the quotes mean."""

    BROKER = "broker"
    SMILE = "smile"


@dataclass(frozen=True)
class SmileConventions:
    """Quoting conventions; the defaults are USD/JPY's.

    Attributes:
        premium_adjusted: deltas net of the premium (premium paid in USD).
        spot_delta_max_expiry: expiries (years) up to this quote spot delta, later ones
            forward delta; 1.1 keeps the 1Y pillar (≈1.00–1.01 years after the date rules)
            on spot delta and puts 18M and beyond on forward delta.
        atm_type: :attr:`AtmType.DELTA_NEUTRAL` or :attr:`AtmType.FORWARD`.
        butterfly: broker (market) strangle or smile strangle.
    """

    premium_adjusted: bool = True
    spot_delta_max_expiry: float = 1.1
    atm_type: AtmType = AtmType.DELTA_NEUTRAL
    butterfly: Butterfly = Butterfly.BROKER

    def __post_init__(self) -> None:
        if self.atm_type is AtmType.SPOT:
            raise ValueError("smiles are quoted ATM forward or delta-neutral, not ATM spot")

    def delta_type(self, expiry: float) -> DeltaType:
        """Delta convention of a tenor expiring at ``expiry`` years."""
        spot = expiry <= self.spot_delta_max_expiry
        if self.premium_adjusted:
            return DeltaType.PREMIUM_ADJUSTED_SPOT if spot else DeltaType.PREMIUM_ADJUSTED_FORWARD
        return DeltaType.SPOT if spot else DeltaType.FORWARD

    def delta_scales(
        self, *, expiries: np.ndarray, foreign_discount_factors: np.ndarray
    ) -> np.ndarray:
        """``DF_f`` where the tenor quotes spot delta, 1 where it quotes forward delta.

        A forward delta is a spot delta with ``DF_f = 1``, so one :func:`strike_from_delta`
        call in :attr:`scaled_delta_type` with these factors covers both.
        """
        expiries = np.asarray(expiries, dtype=float)
        dfs = np.asarray(foreign_discount_factors, dtype=float)
        return np.where(expiries <= self.spot_delta_max_expiry, dfs, 1.0)

    @property
    def scaled_delta_type(self) -> DeltaType:
        return DeltaType.PREMIUM_ADJUSTED_SPOT if self.premium_adjusted else DeltaType.SPOT

    def atm_log_moneyness(self, *, total_vars: np.ndarray) -> np.ndarray:
        """``ln(K_atm/F)`` for ATM total variance ``σ_atm²T``."""
        if self.atm_type is AtmType.FORWARD:
            return np.zeros_like(np.asarray(total_vars, dtype=float))
        return (-0.5 if self.premium_adjusted else 0.5) * np.asarray(total_vars, dtype=float)


@dataclass(frozen=True)
class WingQuote:
    """Risk reversal and butterfly at one wing delta δ ∈ (0, 0.5), vols as decimals."""

    delta: float
    rr: float
    bf: float


@dataclass(frozen=True)
class TenorQuote:
    """One tenor's quotes and the market they are quoted against.

    Attributes:
        expiry: years ACT/365F to expiry (vol time).
        forward: outright forward to delivery, JPY per USD.
        foreign_discount_factor: USD discount factor to delivery (spot-delta scaling).
        atm: ATM vol in the conventions' ATM type.
        wings: one or two :class:`WingQuote`, by decreasing delta (25Δ, then 10Δ).
    """

    expiry: float
    forward: float
    foreign_discount_factor: float
    atm: float
    wings: tuple[WingQuote, ...] = field(default_factory=tuple)


def _finite(value: float, path: str) -> float:
    if value is None or not math.isfinite(value):
        raise SmileError(path, f"must be a finite number, got {value!r}")
    return float(value)


def validate_quotes(tenors: Sequence[TenorQuote]) -> None:
    """Raise :class:`SmileError` on the first missing, out-of-range or unsorted quote."""
    if len(tenors) == 0:
        raise SmileError("tenors", "must hold at least one tenor, got none")
    previous = 0.0
    for i, tenor in enumerate(tenors):
        path = f"tenors[{i}]"
        expiry = _finite(tenor.expiry, f"{path}.expiry")
        if expiry <= previous:
            rule = "be positive" if i == 0 else f"be later than tenors[{i - 1}].expiry ({previous})"
            raise SmileError(f"{path}.expiry", f"must {rule}, got {expiry}")
        previous = expiry
        for name in ("forward", "foreign_discount_factor", "atm"):
            if _finite(getattr(tenor, name), f"{path}.{name}") <= 0:
                raise SmileError(f"{path}.{name}", f"must be positive, got {getattr(tenor, name)}")
        if not 1 <= len(tenor.wings) <= 2:
            raise SmileError(
                f"{path}.wings",
                f"must hold a 25-delta and optionally a 10-delta wing, got {len(tenor.wings)}",
            )
        flat = all(wing.rr == 0 and wing.bf == 0 for wing in tenor.wings)
        for j, wing in enumerate(tenor.wings):
            wpath = f"{path}.wings[{j}]"
            delta = _finite(wing.delta, f"{wpath}.delta")
            if not 0 < delta < 0.5:
                raise SmileError(f"{wpath}.delta", f"must be in (0, 0.5), got {delta}")
            if j > 0 and delta >= tenor.wings[j - 1].delta:
                raise SmileError(
                    f"{wpath}.delta",
                    f"must be below {path}.wings[{j - 1}].delta "
                    f"({tenor.wings[j - 1].delta}), got {delta}",
                )
            _finite(wing.rr, f"{wpath}.rr")
            if _finite(wing.bf, f"{wpath}.bf") <= 0 and not flat:
                raise SmileError(
                    f"{wpath}.bf",
                    f"must be positive (an SVI smile is convex in log-moneyness), got {wing.bf}",
                )
