"""FX smiles from desk quotes: ATM, risk reversals and butterflies per tenor → SVI smiles.

Conventions: forwards and strikes in JPY per USD (JPY domestic, USD foreign); vols annualised
decimals (1 vol point = 0.01); expiries in years ACT/365F; ``k = ln(K/F)`` log forward
moneyness; total variance ``w(k) = σ(K)²·T``. The quotes and their USD/JPY conventions
(premium-adjusted delta, spot delta to 1Y, delta-neutral ATM, broker butterfly) are those of
:mod:`pricing.vol.quotes`; the SVI formulas live in :mod:`pricing.vol.svi`.

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
:func:`pricing.vol.quoting.quote_total_variance` reads quotes back off any smile by separate
one-dimensional solves (the tests' independent check of the fit).

References: Clark, *Foreign Exchange Option Pricing* (2011), ch. 3; Reiswich & Wystup, "FX
volatility smile construction", CPQF WP 20 (2010); Gatheral, *The Volatility Surface* (2006),
ch. 3; Gatheral & Jacquier, "Arbitrage-free SVI volatility surfaces", Quant. Finance (2014).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from pricing.fx.delta import strike_from_delta
from pricing.vol.quotes import (
    Butterfly,
    SmileConventions,
    SmileError,
    TenorQuote,
    validate_quotes,
)
from pricing.vol.svi import SviParams, SviSmiles, svi_from_natural

_INV_SQRT_2PI = 0.3989422804014327
_TOLERANCE = 1e-13  # Newton stops when every residual (vol or delta units) is below this
_ACCEPT = 1e-11  # a stalled solve still counts as converged below this
# bounds of the unknowns ln θ, atanh ρ, ln φ, level, centre, and of the wing log-moneyness
_LOWER = np.array([-25.0, -7.0, -15.0, -5.0, -5.0])
_UPPER = np.array([3.0, 7.0, 15.0, 5.0, 5.0])
_K_BOUND = 10.0


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


# --- the joint solve --------------------------------------------------------------------


def _smile_deltas(
    k: np.ndarray, w: np.ndarray, phi: float, scale: np.ndarray, pa: bool
) -> np.ndarray:
    root_w = np.sqrt(w)
    d2 = -k / root_w - 0.5 * root_w
    if pa:
        adjusted: np.ndarray = phi * scale * np.exp(k) * ndtr(phi * d2)
        return adjusted
    deltas: np.ndarray = phi * scale * ndtr(phi * (d2 + root_w))
    return deltas


def _prices(k: np.ndarray, w: np.ndarray, phi: float) -> np.ndarray:
    """Undiscounted Black price over the forward, ``φ(N(φd1) − e^k N(φd2))``."""
    root_w = np.sqrt(w)
    d1 = -k / root_w + 0.5 * root_w
    prices: np.ndarray = phi * (ndtr(phi * d1) - np.exp(k) * ndtr(phi * (d1 - root_w)))
    return prices


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
    fields: dict[str, Any] = {  # the arrays tiled, the flags as they are
        name: np.tile(value, (n_x,) + (1,) * (value.ndim - 1))
        if isinstance(value, np.ndarray)
        else value
        for name, value in vars(data).items()
    }
    tiled = _FitData(**fields)
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
    validate_quotes(tenors)
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
        rows = [tenors[i] for i in index.tolist()]
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
        assert x is not None  # set by the first stage
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


def _raise_first(
    failed: npt.NDArray[np.bool_] | np.bool_, index: np.ndarray, wing: int, reason: str
) -> None:
    if failed.any():
        i = int(index[np.argmax(failed)])
        raise SmileError(f"tenors[{i}].wings[{wing}].bf", reason)
