"""The event mixture when each component reads its own pre-event vol: the numpy reference.

The service prices this case with the compiled kernel of :mod:`pricing.mixture.european` (pre-event
vols ``[n, m]``); this module is its readable twin, written with numpy arrays, which the
tests hold the kernel to (as :func:`pricing.fx.black.black_terms` is for the Black terms).

Conventions: forwards and strikes in JPY per USD; vols annualised decimals; times in years
ACT/365F; premiums in JPY per unit of notional; Greeks as in :mod:`pricing.mixture.european`.

With a smile the pre-event diffusion is read at each component's own moneyness
``ln(K/(F·J_i))`` — the strike
the pre-event move must reach for the option to pay once the jump ``J_i`` has been applied —
so the pre-event vol is ``[n, m]`` too, and scenario ``i``'s total variance is::

    v_i(K) = σ_pre,i(K)²·T_pre + σ_i(K)²·T_post.

:func:`smile_mixture_greeks` prices that with the numpy kernel of :mod:`pricing.fx.black`
(:func:`~pricing.fx.black.black_terms`, the compiled kernel's readable twin) and assembles the
same Greeks as the compiled kernel, component by component: ``theta`` runs each component's
pre-event variance off at its own ``σ_pre,i²``, ``vega`` shifts every vol in parallel. Vols
are held fixed at each strike (sticky strike). Digitals add the smile's slope
(:mod:`pricing.mixture.digital_slope`). An option expiring on or before the event has one component
(no jump, weight 1) and the same value in every scenario, as in the compiled kernel.

References: DESIGN.md (the model); Garman & Kohlhagen (1983); Breeden & Litzenberger (1978).
"""

from __future__ import annotations

import numpy as np

from pricing.fx.black import black_terms, payoff_coefficients
from pricing.mixture.digital_slope import add_results, digital_slope_terms
from pricing.mixture.european import MixtureResult, OptionBook, ScenarioMix


def _grid(values: np.ndarray, n: int, m: int) -> np.ndarray:
    """Scenario ``[m]`` or ``[n, m]`` values as ``[n, m]``."""
    return np.broadcast_to(np.atleast_2d(np.asarray(values, dtype=float)), (n, m))


def smile_mixture_greeks(
    *,
    book: OptionBook,
    mix: ScenarioMix,
    pre_vols: np.ndarray,
    pre_vol_slopes: np.ndarray | None,
    vol_slopes: np.ndarray | None,
    spot: float,
) -> MixtureResult:
    """Mixture price and Greeks with per-component pre-event vols.

    Args:
        book: options ``[n]``; ``book.pre_vols`` is not read.
        mix: weights and jumps ``[m]``; ``vols`` ``[m]`` or ``[n, m]``.
        pre_vols: ``σ_pre,i(K)`` ``[n, m]`` (columns equal for options before the event).
        pre_vol_slopes, vol_slopes: ``dσ/dK`` of the pre- and post-event smiles, ``[n, m]``
            (None: flat); digitals use them for the slope term.
        spot: S0, JPY per USD.
    """
    n, m = book.strikes.shape[0], mix.weights.shape[0]
    c = payoff_coefficients(payoffs=book.payoffs, strikes=book.strikes).expanded()
    after = (book.post_times > 0)[:, None]
    first = np.arange(m)[None, :] == 0
    jumps = np.where(after, mix.jumps[None, :], 1.0)
    weights = np.where(after, mix.weights[None, :], np.where(first, 1.0, 0.0))
    pre = _grid(pre_vols, n, m)
    pre = np.where(after, pre, pre[:, :1])
    post = np.where(after, _grid(mix.vols, n, m), 0.0)
    t_pre, t_post = book.pre_times[:, None], book.post_times[:, None]
    v = pre * pre * t_pre + post * post * t_post
    forwards = book.forwards[:, None] * jumps
    terms = black_terms(
        log_moneyness=np.log(book.forwards / book.strikes)[:, None] + np.log(jumps),
        forwards=forwards,
        strikes=book.strikes[:, None],
        total_vars=v,
        coefficients=c,
    )
    df = book.discount_factors
    value = df * np.sum(weights * terms.value, axis=1)
    fc_f = df * np.sum(weights * terms.d_forward * forwards, axis=1)
    dv_dsigma = 2.0 * (pre * t_pre + post * t_post)
    r_d, r_f = book.rates_jpy, book.rates_usd
    delta = fc_f / spot
    result = MixtureResult(
        price=value,
        delta=delta,
        delta_premium_adjusted=delta - value / spot,
        gamma=df * np.sum(weights * terms.d2_forward * forwards * forwards, axis=1) / spot**2,
        vega=df * np.sum(weights * terms.d_variance * dv_dsigma, axis=1),
        theta=r_d * value
        - (r_d - r_f) * fc_f
        - df * np.sum(weights * pre * pre * terms.d_variance, axis=1),
        rho_jpy=book.delivery_times * (fc_f - value),
        rho_usd=-book.delivery_times * fc_f,
        scenario_values=np.where(after, df[:, None] * terms.value, value[:, None]),
        d_jumps=np.where(
            after, df[:, None] * weights * terms.d_forward * book.forwards[:, None], 0.0
        ),
    )
    if pre_vol_slopes is None and vol_slopes is None:
        return result
    slope_terms = digital_slope_terms(
        book=book,
        mix=mix,
        pre_vols=pre,
        pre_vol_slopes=np.zeros((n, m)) if pre_vol_slopes is None else pre_vol_slopes,
        vol_slopes=vol_slopes,
        spot=spot,
    )
    return add_results(result, slope_terms)
