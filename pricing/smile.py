"""FX smiles from desk quotes: ATM, risk reversals and butterflies per tenor → SVI smiles.

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

Model: one SVI slice per tenor (Gatheral 2004), ``w(k) = a + b(ρ(k−m) + √((k−m)² + s²))``.
With 25Δ quotes only it is the 3-parameter SSVI slice ``w = θ/2·(1 + ρφk + √((φk+ρ)² + 1−ρ²))``
(Gatheral & Jacquier 2014); with 10Δ quotes as well, the 5-parameter "natural" SVI (level
and centre freed). Why SVI rather than SABR or vanna–volga: it is a formula for total
variance in ``k`` — the quantity the surface interpolates and the calendar check compares;
``w'`` and ``w''`` are closed forms, so ``dσ/dK`` (digitals) and Durrleman's density condition
``g(k)`` need no finite differences; wings are linear in ``k`` (Lee's moment bound is a
parameter check); parameters match quotes one for one (3 or 5), so quotes re-price exactly.
Hagan's SABR expansion cannot take 10Δ quotes exactly and can lose the density's positivity
at long expiries; vanna–volga has no closed-form ``σ(K)`` beyond its first-order
approximation and no 10Δ pillar. SVI total variance is convex in ``k``, so a smile needs a
positive butterfly: quotes that no SVI slice matches raise :class:`SmileError`. Known limit:
SVI wings tend to straight lines in total variance, so 10Δ quotes whose call wing keeps
flattening beyond 25Δ (e.g. RR10 ≈ 1.9·RR25 with BF10 ≲ 3·BF25 at 3M–1Y) have no SVI smile
and are rejected on the 10Δ ``bf``; 25Δ-only smiles have no such limit in practice.

The fit solves the quote equations, the delta equations of the smile's own wing strikes and
(broker) the strangle price jointly by damped Newton, vectorised over tenors.
:func:`pricing.surface.quote_total_variance` reads quotes back off any smile by separate
one-dimensional solves (the tests' independent check of the fit).

References: Clark, *Foreign Exchange Option Pricing* (2011), ch. 3; Reiswich & Wystup, "FX
volatility smile construction", CPQF WP 20 (2010); Gatheral, *The Volatility Surface* (2006),
ch. 3; Gatheral & Jacquier, "Arbitrage-free SVI volatility surfaces", Quant. Finance (2014).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from scipy.special import ndtr

from pricing.fx_delta import AtmType, DeltaType, strike_from_delta

_INV_SQRT_2PI = 0.3989422804014327
_TOLERANCE = 1e-13  # Newton stops when every residual (vol or delta units) is below this
_ACCEPT = 1e-11  # a stalled solve still counts as converged below this
# bounds of the unknowns ln θ, atanh ρ, ln φ, level, centre, and of the wing log-moneyness
_LOWER = np.array([-25.0, -7.0, -15.0, -5.0, -5.0])
_UPPER = np.array([3.0, 7.0, 15.0, 5.0, 5.0])
_K_BOUND = 10.0


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


@dataclass(frozen=True)
class SviParams:
    """Raw SVI parameters ``a, b, ρ, m, s`` (``s`` is Gatheral's σ); arrays that broadcast."""

    a: np.ndarray
    b: np.ndarray
    rho: np.ndarray
    m: np.ndarray
    sigma: np.ndarray

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> SviParams:
        return SviParams(
            *(fn(np.asarray(p)) for p in (self.a, self.b, self.rho, self.m, self.sigma))
        )

    @property
    def min_variance(self) -> np.ndarray:
        """``min_k w(k) = a + b·s·√(1−ρ²)``."""
        return self.a + self.b * self.sigma * np.sqrt(1.0 - self.rho * self.rho)

    @property
    def wing_slopes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(w'(−∞), w'(+∞)) = (−b(1−ρ), b(1+ρ))``; Lee: ``|w'| ≤ 2`` for finite moments."""
        return -self.b * (1.0 - self.rho), self.b * (1.0 + self.rho)


def svi_variance(
    *, log_moneyness: np.ndarray, params: SviParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w, w', w'')`` of raw SVI at ``log_moneyness`` (broadcast with ``params``)."""
    z = np.asarray(log_moneyness, dtype=float) - params.m
    root = np.sqrt(z * z + params.sigma * params.sigma)
    w = params.a + params.b * (params.rho * z + root)
    return w, params.b * (params.rho + z / root), params.b * params.sigma**2 / root**3


def svi_from_natural(
    *,
    thetas: np.ndarray,
    rhos: np.ndarray,
    phis: np.ndarray,
    levels: float | np.ndarray = 0.0,
    centres: float | np.ndarray = 0.0,
) -> SviParams:
    """Raw SVI of ``w = Δ + θ/2·(1 + ρφ(k−μ) + √((φ(k−μ)+ρ)² + 1−ρ²))`` (SSVI slice: Δ=μ=0)."""
    one_minus = 1.0 - rhos * rhos
    return SviParams(
        a=levels + 0.5 * thetas * one_minus,
        b=0.5 * thetas * phis,
        rho=rhos,
        m=centres - rhos / phis,
        sigma=np.sqrt(one_minus) / phis,
    )


def durrleman_g(
    *, log_moneyness: np.ndarray, derivatives: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """``g = (1 − k w'/(2w))² − w'²/4·(1/w + 1/4) + w''/2`` from ``(w, w', w'')`` at ``k``.

    The density is ``g(k)·n(d2)/(K√w)``, so it is negative exactly where ``g < 0``.
    References: Gatheral & Jacquier (2014), Lemma 2.2 (after Durrleman).
    """
    w, w1, w2 = derivatives
    k = np.asarray(log_moneyness, dtype=float)
    return (1.0 - k * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2


def _lead(values: np.ndarray, ndim: int) -> np.ndarray:
    values = np.asarray(values)
    return np.reshape(values, values.shape + (1,) * max(ndim - 1, 0))


@dataclass(frozen=True)
class SviSmiles:
    """SVI smiles for ``n`` expiries, quoted in ``conventions``.

    Attributes:
        expiries, forwards, foreign_discount_factors: shape ``[n]`` (as in :class:`TenorQuote`).
        params: raw SVI parameters, arrays of shape ``[n]``.
        conventions: how the smiles are quoted.

    Evaluation methods take arrays whose leading axis is the expiry: shape ``[n]`` (one point
    per expiry) or ``[n, m]`` (``m`` points per expiry).
    """

    expiries: np.ndarray
    forwards: np.ndarray
    foreign_discount_factors: np.ndarray
    params: SviParams
    conventions: SmileConventions

    def derivatives(self, *, log_moneyness: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(w, ∂w/∂k, ∂²w/∂k²)`` at ``k = ln(K/F)``."""
        k = np.asarray(log_moneyness, dtype=float)
        return svi_variance(log_moneyness=k, params=self.params.map(lambda p: _lead(p, k.ndim)))

    def variance_and_slope(self, log_moneyness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(w, ∂w/∂k)``: the ``VarianceFunction`` that :mod:`pricing.surface` quotes from."""
        w, w1, _ = self.derivatives(log_moneyness=log_moneyness)
        return w, w1

    def total_variance(self, *, log_moneyness: np.ndarray) -> np.ndarray:
        """``w(k) = σ²T``."""
        return self.derivatives(log_moneyness=log_moneyness)[0]

    def vols(self, *, strikes: np.ndarray) -> np.ndarray:
        """Implied vols ``σ(K)``."""
        strikes = np.asarray(strikes, dtype=float)
        k = np.log(strikes / _lead(self.forwards, strikes.ndim))
        return np.sqrt(self.derivatives(log_moneyness=k)[0] / _lead(self.expiries, k.ndim))

    def vol_slopes(self, *, strikes: np.ndarray) -> np.ndarray:
        """``dσ/dK = w'(k) / (2σTK)``, per JPY per USD of strike (digitals need it)."""
        strikes = np.asarray(strikes, dtype=float)
        k = np.log(strikes / _lead(self.forwards, strikes.ndim))
        w, w1, _ = self.derivatives(log_moneyness=k)
        return w1 / (2.0 * np.sqrt(w * _lead(self.expiries, k.ndim)) * strikes)

    def durrleman_g(self, *, log_moneyness: np.ndarray) -> np.ndarray:
        """Durrleman's ``g(k)`` (see :func:`durrleman_g`)."""
        k = np.asarray(log_moneyness, dtype=float)
        return durrleman_g(log_moneyness=k, derivatives=self.derivatives(log_moneyness=k))

    def densities(self, *, strikes: np.ndarray) -> np.ndarray:
        """Risk-neutral density of ``S_T`` (T-forward measure), per JPY per USD of strike.

        ``p(K) = ∂²C/∂K² / DF_d = g(k)·n(d2)/(K√w)`` (Breeden–Litzenberger; Gatheral 2006 §3).
        """
        strikes = np.asarray(strikes, dtype=float)
        k = np.log(strikes / _lead(self.forwards, strikes.ndim))
        derivatives = self.derivatives(log_moneyness=k)
        root_w = np.sqrt(derivatives[0])
        d2 = -k / root_w - 0.5 * root_w
        g = durrleman_g(log_moneyness=k, derivatives=derivatives)
        return g * _INV_SQRT_2PI * np.exp(-0.5 * d2 * d2) / (strikes * root_w)


def _wing_log_strikes(
    *,
    deltas: np.ndarray,
    call_std_devs: np.ndarray,
    put_std_devs: np.ndarray,
    delta_scales: np.ndarray,
    conventions: SmileConventions,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ln(K/F)`` of the call with delta +δ and the put with delta −δ at flat std devs.

    ``delta_scales`` from :meth:`SmileConventions.delta_scales`; arrays broadcast. Returns
    ``(k_call, k_put, solved)``; ``k`` is 0 where ``solved`` is False. One solve for both legs.
    """
    shape = np.broadcast_shapes(
        np.shape(deltas), np.shape(call_std_devs), np.shape(put_std_devs), np.shape(delta_scales)
    )
    legs = strike_from_delta(
        deltas=np.stack([np.broadcast_to(deltas, shape), -np.broadcast_to(deltas, shape)]),
        forwards=1.0,
        std_devs=np.stack(
            [np.broadcast_to(call_std_devs, shape), np.broadcast_to(put_std_devs, shape)]
        ),
        foreign_discount_factors=np.broadcast_to(delta_scales, shape)[None],
        is_call=np.reshape([True, False], (2,) + (1,) * len(shape)),
        delta_type=conventions.scaled_delta_type,
    )
    solved = legs.solved[0] & legs.solved[1]
    k = np.log(np.where(solved, legs.strikes, 1.0))
    return k[0], k[1], solved


# --- quote validation -------------------------------------------------------------------


def _finite(value: float, path: str) -> float:
    if value is None or not math.isfinite(value):
        raise SmileError(path, f"must be a finite number, got {value!r}")
    return float(value)


def _validate(tenors: Sequence[TenorQuote]) -> None:
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


# --- the joint solve --------------------------------------------------------------------


def _smile_deltas(k: np.ndarray, w: np.ndarray, phi: float, scale: np.ndarray, pa: bool):
    root_w = np.sqrt(w)
    d2 = -k / root_w - 0.5 * root_w
    if pa:
        return phi * scale * np.exp(k) * ndtr(phi * d2)
    return phi * scale * ndtr(phi * (d2 + root_w))


def _prices(k: np.ndarray, w: np.ndarray, phi: float) -> np.ndarray:
    """Undiscounted Black price over the forward, ``φ(N(φd1) − e^k N(φd2))``."""
    root_w = np.sqrt(w)
    d1 = -k / root_w + 0.5 * root_w
    return phi * (ndtr(phi * d1) - np.exp(k) * ndtr(phi * (d1 - root_w)))


@dataclass(frozen=True)
class _FitData:
    """One group of tenors with the same number of wings; ``[g]`` and ``[g, nw]`` arrays."""

    expiries: np.ndarray
    scales: np.ndarray
    atm_vols: np.ndarray
    atm_k: np.ndarray
    deltas: np.ndarray
    rrs: np.ndarray
    bfs: np.ndarray
    broker_k_call: np.ndarray
    broker_k_put: np.ndarray
    broker_prices: np.ndarray
    broker_vegas: np.ndarray
    premium_adjusted: bool
    broker: bool

    @property
    def n_params(self) -> int:
        return 3 if self.deltas.shape[1] == 1 else 5


def _params_from_unknowns(x: np.ndarray, n_params: int) -> SviParams:
    theta, rho, phi = np.exp(x[:, 0]), np.tanh(x[:, 1]), np.exp(x[:, 2])
    if n_params == 3:
        return svi_from_natural(thetas=theta, rhos=rho, phis=phi)
    return svi_from_natural(thetas=theta, rhos=rho, phis=phi, levels=x[:, 3], centres=x[:, 4])


def _residuals(x: np.ndarray, data: _FitData) -> np.ndarray:
    """Quote, delta and strangle residuals ``[g, n_unknowns]`` (``inf`` rows: invalid ``x``)."""
    n_params = data.n_params
    inside = np.all(
        (x[:, :n_params] > _LOWER[:n_params]) & (x[:, :n_params] < _UPPER[:n_params]), 1
    )
    inside &= np.all(np.abs(x[:, n_params:]) < _K_BOUND, axis=1) & np.all(np.isfinite(x), axis=1)
    x = np.where(inside[:, None], x, 0.0)  # keep exp() finite where the row is rejected
    params = _params_from_unknowns(x, n_params)
    valid = inside & (params.min_variance > 0)
    params = params.map(lambda p: np.where(valid, p, 1.0)[:, None])  # a=b=s=1: w > 0
    t, scale = data.expiries[:, None], data.scales[:, None]
    n_wings = data.deltas.shape[1]
    k_call, k_put = x[:, n_params::2], x[:, n_params + 1 :: 2]
    # one SVI evaluation for every point: ATM, smile wings, broker strangle strikes
    ks = np.concatenate(
        [data.atm_k[:, None], k_call, k_put, data.broker_k_call, data.broker_k_put], 1
    )
    z = ks - params.m
    w = params.a + params.b * (params.rho * z + np.sqrt(z * z + params.sigma * params.sigma))
    w_atm, w_call, w_put, w_bc, w_bp = np.split(
        w, np.cumsum([1, n_wings, n_wings, n_wings]), axis=1
    )
    vol_call, vol_put = np.sqrt(w_call / t), np.sqrt(w_put / t)
    rows = [np.sqrt(w_atm / t) - data.atm_vols[:, None]]
    rows.append(_smile_deltas(k_call, w_call, 1.0, scale, data.premium_adjusted) - data.deltas)
    rows.append(_smile_deltas(k_put, w_put, -1.0, scale, data.premium_adjusted) + data.deltas)
    rows.append(vol_call - vol_put - data.rrs)
    if data.broker:
        strangles = _prices(data.broker_k_call, w_bc, 1.0) + _prices(data.broker_k_put, w_bp, -1.0)
        rows.append((strangles - data.broker_prices) / data.broker_vegas)
    else:
        rows.append(0.5 * (vol_call + vol_put) - data.atm_vols[:, None] - data.bfs)
    residuals = np.concatenate(rows, axis=1)
    return np.where(valid[:, None], residuals, np.inf)


def _newton(x: np.ndarray, data: _FitData, max_iter: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton with a forward-difference Jacobian; returns ``(x, converged)``.

    The Jacobian's columns are evaluated in one call on the tenors stacked ``n_x + 1`` times.
    """
    g, n_x = x.shape
    tiled = _FitData(
        **{
            name: np.tile(value, (n_x,) + (1,) * (value.ndim - 1))
            if isinstance(value, np.ndarray)
            else value
            for name, value in vars(data).items()
        }
    )
    r = _residuals(x, data)
    norm = np.linalg.norm(r, axis=1)
    stalled = ~np.isfinite(norm)
    for _ in range(max_iter):
        active = (np.max(np.abs(r), axis=1) > _TOLERANCE) & ~stalled
        if not active.any():
            break
        steps = 1e-7 * (1.0 + np.abs(x))
        shifted = np.repeat(x[None], n_x, axis=0)  # [n_x, g, n_x]
        shifted[np.arange(n_x), :, np.arange(n_x)] += steps.T
        columns = _residuals(shifted.reshape(n_x * g, n_x), tiled).reshape(n_x, g, n_x)
        jacobian = np.moveaxis((columns - r[None]) / steps.T[:, :, None], 0, 2)
        jacobian = np.where(np.isfinite(jacobian), jacobian, 0.0)
        rhs = -np.where(np.isfinite(r), r, 0.0)[:, :, None]
        try:
            step = np.linalg.solve(jacobian, rhs)[:, :, 0]
        except np.linalg.LinAlgError:
            step = (np.linalg.pinv(jacobian) @ rhs)[..., 0]
        alpha = np.ones(g)
        pending = active.copy()
        for _ in range(40):
            trial = x + alpha[:, None] * step
            r_trial = _residuals(trial, data)
            n_trial = np.linalg.norm(r_trial, axis=1)
            accept = pending & np.isfinite(n_trial) & (n_trial < (1.0 - 1e-4 * alpha) * norm)
            x = np.where(accept[:, None], trial, x)
            r = np.where(accept[:, None], r_trial, r)
            norm = np.where(accept, n_trial, norm)
            pending &= ~accept
            alpha = np.where(pending, 0.5 * alpha, alpha)
            if not pending.any():
                break
        stalled |= pending
    return x, np.max(np.abs(r), axis=1) <= np.where(stalled, _ACCEPT, _TOLERANCE * 10)


def _fit_data(
    rows: list[TenorQuote], n_wings: int, scales: np.ndarray, conventions: SmileConventions
) -> tuple[_FitData, np.ndarray]:
    """Fit data for ``rows`` using their first ``n_wings`` wings; also the broker solve mask."""
    expiries = np.array([r.expiry for r in rows])
    atm = np.array([r.atm for r in rows])
    deltas, rrs, bfs = (
        np.array([[getattr(r.wings[j], name) for j in range(n_wings)] for r in rows])
        for name in ("delta", "rr", "bf")
    )
    t = expiries[:, None]
    broker_std = (atm[:, None] + bfs) * np.sqrt(t)
    k_call, k_put, solved = _wing_log_strikes(
        deltas=deltas,
        call_std_devs=broker_std,
        put_std_devs=broker_std,
        delta_scales=scales[:, None],
        conventions=conventions,
    )
    w = broker_std * broker_std
    d1s = [-k / broker_std + 0.5 * broker_std for k in (k_call, k_put)]
    data = _FitData(
        expiries=expiries,
        scales=scales,
        atm_vols=atm,
        atm_k=conventions.atm_log_moneyness(total_vars=atm * atm * expiries),
        deltas=deltas,
        rrs=rrs,
        bfs=bfs,
        broker_k_call=k_call,
        broker_k_put=k_put,
        broker_prices=_prices(k_call, w, 1.0) + _prices(k_put, w, -1.0),
        broker_vegas=np.sqrt(t) * _INV_SQRT_2PI * sum(np.exp(-0.5 * d * d) for d in d1s),
        premium_adjusted=conventions.premium_adjusted,
        broker=conventions.butterfly is Butterfly.BROKER,
    )
    return data, solved


def _wing_guess(data: _FitData, j: int, conventions: SmileConventions) -> tuple[np.ndarray, ...]:
    """Log-moneyness of wing ``j``'s call and put at the vols ``σ_atm + BF ± RR/2``."""
    t = data.expiries
    vols = [
        np.maximum(data.atm_vols + data.bfs[:, j] + sign * 0.5 * data.rrs[:, j], 1e-4)
        for sign in (1.0, -1.0)
    ]
    k_call, k_put, solved = _wing_log_strikes(
        deltas=data.deltas[:, j],
        call_std_devs=vols[0] * np.sqrt(t),
        put_std_devs=vols[1] * np.sqrt(t),
        delta_scales=data.scales,
        conventions=conventions,
    )
    fallback = 0.674 * data.atm_vols * np.sqrt(t)
    return np.where(solved, k_call, fallback), np.where(solved, k_put, -fallback), vols[0], vols[1]


def _initial_guess(data: _FitData, conventions: SmileConventions) -> np.ndarray:
    """SSVI unknowns from a parabola in vol through the ATM and first-wing guesses."""
    k_call, k_put, vol_call, vol_put = _wing_guess(data, 0, conventions)
    ks = np.stack([data.atm_k, k_call, k_put], axis=1)
    vandermonde = np.stack([np.ones_like(ks), ks, ks * ks], axis=2)
    c0, c1, c2 = np.linalg.solve(
        vandermonde, np.stack([data.atm_vols, vol_call, vol_put], 1)[..., None]
    )[..., 0].T
    t = data.expiries
    theta = c0 * c0 * t
    slope = 2.0 * c0 * c1 * t
    curvature = 2.0 * t * (c1 * c1 + 2.0 * c0 * c2)
    a_term = 2.0 * slope / theta  # ρφ
    b_term = np.maximum(4.0 * curvature / theta, 1e-3 * a_term * a_term + 1e-6)  # φ²(1−ρ²)
    phi = np.sqrt(b_term + a_term * a_term)
    rho = np.clip(a_term / phi, -0.99, 0.99)
    return np.stack([np.log(theta), np.arctanh(rho), np.log(phi), k_call, k_put], axis=1)


def fit_smiles(
    *, tenors: Sequence[TenorQuote], conventions: SmileConventions | None = None
) -> SviSmiles:
    """SVI smiles matching each tenor's ATM, RR and BF quotes exactly (to ~1e-13 vol).

    Raises:
        SmileError: a quote is missing, out of range, unsorted, or no SVI smile matches it;
            ``field`` names it (``tenors[i].wings[j].bf`` when the solve finds no smile).
    """
    conventions = conventions or SmileConventions()
    _validate(tenors)
    n = len(tenors)
    expiries = np.array([t.expiry for t in tenors])
    dfs = np.array([t.foreign_discount_factor for t in tenors])
    scales = conventions.delta_scales(expiries=expiries, foreign_discount_factors=dfs)
    atm = np.array([t.atm for t in tenors])
    params = np.zeros((5, n))
    flat = np.array([all(w.rr == 0 and w.bf == 0 for w in t.wings) for t in tenors])
    params[:, flat] = np.stack(
        [
            atm[flat] ** 2 * expiries[flat],
            0 * atm[flat],
            0 * atm[flat],
            0 * atm[flat],
            1.0 + 0 * atm[flat],
        ]
    )
    for n_wings in (1, 2):
        index = np.flatnonzero(~flat & (np.array([len(t.wings) for t in tenors]) == n_wings))
        if index.size == 0:
            continue
        rows = [tenors[i] for i in index]
        x = None
        for stage in range(1, n_wings + 1):
            data, solved = _fit_data(rows, stage, scales[index], conventions)
            _raise_first(
                ~solved.all(axis=1),
                index,
                stage - 1,
                "gives no strike of that delta at the strangle vol atm + bf",
            )
            if x is None:
                x = _initial_guess(data, conventions)
            else:  # free the level and the centre, start the 10Δ strikes at their guesses
                k_call, k_put, _, _ = _wing_guess(data, 1, conventions)
                x = np.concatenate(
                    [
                        x[:, :3],
                        np.zeros((len(rows), 2)),
                        x[:, 3:],
                        np.stack([k_call, k_put], axis=1),
                    ],
                    axis=1,
                )
            x, converged = _newton(x, data)
            converged &= _wings_in_order(x, data)
            _raise_first(
                ~converged,
                index,
                stage - 1,
                "is too low for the atm and rr: no convex (SVI) smile matches the quotes"
                if stage == 1
                else "and the 10-delta rr cannot be matched by an SVI smile through the 25-delta"
                " quotes (SVI wings tend to straight lines in total variance; a call wing that"
                " flattens beyond 25 delta needs a larger 10-delta butterfly)",
            )
        raw = _params_from_unknowns(x, 3 if n_wings == 1 else 5)
        params[:, index] = np.stack([raw.a, raw.b, raw.rho, raw.m, raw.sigma])
    return SviSmiles(
        expiries=expiries,
        forwards=np.array([t.forward for t in tenors]),
        foreign_discount_factors=dfs,
        params=SviParams(*params),
        conventions=conventions,
    )


def _wings_in_order(x: np.ndarray, data: _FitData) -> np.ndarray:
    """The solved wing strikes straddle ATM and widen with falling delta (the desk's branch)."""
    k_call, k_put = x[:, data.n_params :: 2], x[:, data.n_params + 1 :: 2]
    ok = (k_call[:, 0] > data.atm_k) & (k_put[:, 0] < data.atm_k)
    if k_call.shape[1] > 1:
        ok &= (k_call[:, 1] > k_call[:, 0]) & (k_put[:, 1] < k_put[:, 0])
    return ok


def _raise_first(failed: np.ndarray, index: np.ndarray, wing: int, reason: str) -> None:
    if failed.any():
        i = int(index[np.argmax(failed)])
        raise SmileError(f"tenors[{i}].wings[{wing}].bf", reason)
