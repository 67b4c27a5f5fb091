"""Closed forms for double-barrier options, double touches and KIKOs on one lognormal spot.

Market as in :mod:`pricing.fx.barriers`: spot ``S`` (JPY per USD) lognormal with vol ``σ``
over ``[0, T]`` (years ACT/365F), the forward to expiry ``F`` and the JPY discount factor
``DF``, read as flat continuous rates ``r = −ln(DF)/T`` and carry ``b = ln(F/S)/T``; the USD
discount factor is ``DF_f = DF·F/S``. Barriers ``L < U`` in JPY per USD, watched
continuously; ``Z = ln(U/L)`` is the corridor's log width. Prices in JPY per unit of notional.

Contracts and payment conventions:

* double knock-out call/put: the vanilla payoff at expiry if spot never leaves ``(L, U)``;
  double knock-in = vanilla − double knock-out (no rebates);
* double no-touch (paid at expiry) and double one-touch (paid at the first touch of either
  barrier, or at expiry), paying ``cash`` JPY or ``cash`` USD. A USD amount is worth its
  spot in JPY when paid: the touched barrier ``L`` or ``U`` at the hit, ``S_T`` at expiry;
* KIKO: a call/put that knocks in at one barrier and out at the other, the knock-out alive
  the whole life; KIKO = knock-out at the knock-out barrier − double knock-out (a path that
  touched neither barrier is in the first and not wanted; every other path surviving the
  knock-out has touched the knock-in barrier).

Where spot is already on or outside the corridor the contract is taken as triggered now (as
:mod:`pricing.fx.barriers`): a double knock-out is worth 0, a double knock-in the vanilla, a
double no-touch 0, a double one-touch its cash now (at hit) or discounted (at expiry), in USD
``S`` now or ``F·DF``.

Methods. The double knock-out is the Ikeda–Kunitomo image series (flat barriers), as
QuantLib's ``AnalyticDoubleBarrierEngine``, written as the killed lognormal mass over a
strike range ``(A, B) ⊂ (L, U)`` so a strike outside the corridor is right too (QuantLib
integrates from the strike, exact only for ``L ≤ K ≤ U``); terms ``n = −N…N`` with ``N``
such that the dropped ones are below ``e^{−45}`` of the notional. Double no-touches are
Hui's sine series (:func:`pricing.fx.barriers.double_no_touch_price`); in USD by the change
of numeraire ``E[DF·S_T·1{no exit}] = S·DF_f·P^f(no exit)``, the same series with carry
``b + σ²`` and discount rate ``r_f``. A one-touch paid at the hit is the sum of the values of
1 paid at the first exit through each barrier: Hui's series for a one-touch double barrier
binary (QuantLib's ``KIKO``/``KOKI`` binaries), with its perpetual part summed in closed form
(Notes of :func:`corridor_exit_values`).

References: Ikeda & Kunitomo (1992), "Pricing options with curved boundaries"; Hui (1996),
"One-touch double barrier binary option values"; Haug, *The Complete Guide to Option
Pricing Formulas*, 2nd ed. (2007), §4.17.3, §4.19.7.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from pricing.fx.barriers import BarrierType, ClosedFormPrices, _Lognormal, barrier_price
from pricing.fx.barriers import double_no_touch_price as _cash_no_touch
from pricing.fx.black import black_price

_MAX_TERMS = 20000
_TAIL = 45.0  # dropped image terms below e^{−45} of the notional
# A series whose terms reach this size (its sum is at most ~1) has lost more than ~1e-12 to
# cancellation: its elements are flagged rather than returned (extreme carry against vol).
_LARGEST_TERM = 1e4


def _arrays(*values: object) -> list[np.ndarray]:
    return list(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values)))


def _band(exponent: np.ndarray, high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """``exp(exponent)·(N(high) − N(low))`` for ``high ≥ low``, in log space: the upper
    tails when both arguments are positive, so neither an overflow nor a lost difference."""
    tails = low > 0.0
    upper = np.where(tails, -low, high)
    lower = np.where(tails, -high, low)
    band: np.ndarray = np.exp(exponent + log_ndtr(upper)) - np.exp(exponent + log_ndtr(lower))
    return band


def _killed_mass(
    m: _Lognormal,
    log_lower: np.ndarray,
    width: np.ndarray,
    log_from: np.ndarray,
    log_to: np.ndarray,
    asset: bool,
) -> np.ndarray:
    """Ikeda–Kunitomo mass of ``S_T ∈ (A, B)`` with no exit from ``(L, U)`` before ``T``.

    ``asset`` False: the probability ``P(·)``; True: ``E[S_T·1{·}]/F`` (the share measure).
    Logs are of ``X/S`` (``log_lower = ln(L/S) < 0`` …), with ``L ≤ A ≤ B ≤ U``.
    """
    s = m.deviations
    power = 2.0 * (m.mu + 1.0) if asset else 2.0 * m.mu  # μ1 and μ1 − 2 of Haug
    shift = (m.mu + 1.0) * s if asset else m.mu * s
    spread = np.abs(m.mu + (1.0 if asset else 0.0)) * s * s  # |(b ± σ²/2)T|
    inside = width > 0.0
    z = np.where(inside, width, 1.0)
    # |n| beyond which a term is below e^{−45}: (2Z(|n|−1) − G)²/(2s²) − 2|μ1|Z(|n|+1)/2 ≥ 45
    root = 2.0 * spread + np.sqrt(8.0 * z * spread + 3.0 * spread**2 + 2.0 * _TAIL * s * s)
    needed = np.ceil(1.0 + root / (2.0 * z)) + 1.0
    summed = inside & (needed <= _MAX_TERMS)  # the others are flagged, not summed
    terms = int(np.max(np.where(summed, needed, 0.0), initial=0.0))
    total = np.zeros(np.broadcast(m.spots, log_from).shape)
    largest = np.zeros(total.shape)
    with np.errstate(over="ignore", invalid="ignore"):  # flagged below
        for n in range(-terms, terms + 1):
            ahead = 2.0 * n * width
            direct = _band(
                power * n * width,
                (ahead - log_from) / s + shift,
                (ahead - log_to) / s + shift,
            )
            image = _band(
                power * (log_lower - n * width),
                (2.0 * log_lower - log_from - ahead) / s + shift,
                (2.0 * log_lower - log_to - ahead) / s + shift,
            )
            total += direct - image
            largest = np.fmax(largest, np.fmax(np.abs(direct), np.abs(image)))
    ok = (needed <= _MAX_TERMS) & np.isfinite(total) & (largest <= _LARGEST_TERM)
    return np.where(ok | ~inside, total, np.nan)


def double_barrier_price(
    *,
    knock_in: bool | np.ndarray,
    is_call: np.ndarray,
    spots: float | np.ndarray,
    strikes: np.ndarray,
    lower_barriers: np.ndarray,
    upper_barriers: np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    vols: np.ndarray,
    times: np.ndarray,
) -> ClosedFormPrices:
    """Double knock-out and knock-in calls/puts (Ikeda–Kunitomo), arrays broadcast.

    Args:
        knock_in: False for a double knock-out, True for a double knock-in (vanilla − it).
        is_call: True for calls, False for puts.
        spots, strikes, lower_barriers, upper_barriers: JPY per USD.
        forwards, discount_factors: to expiry; ``vols`` annualised; ``times`` years (> 0).

    Returns:
        JPY per USD of notional; ``valid`` False (NaN) where the series would need more
        than 20,000 terms (a corridor narrow against ``σ√T``).
    """
    m = _Lognormal.build(spots, forwards, discount_factors, vols, times)
    strikes, lower, upper = _arrays(strikes, lower_barriers, upper_barriers)
    kin, calls = np.broadcast_arrays(
        np.asarray(knock_in, dtype=bool), np.asarray(is_call, dtype=bool)
    )
    inside = (m.spots > lower) & (m.spots < upper)
    log_lower = np.log(lower / m.spots)
    log_upper = np.log(upper / m.spots)
    width = np.where(inside, log_upper - log_lower, 0.0)
    log_strike = np.clip(np.log(strikes / m.spots), log_lower, log_upper)
    # a call is paid on (max(K, L), U), a put on (L, min(K, U))
    log_from = np.where(calls, log_strike, log_lower)
    log_to = np.where(calls, log_upper, log_strike)
    asset = _killed_mass(m, log_lower, width, log_from, log_to, asset=True)
    cash = _killed_mass(m, log_lower, width, log_from, log_to, asset=False)
    forward_leg = m.forwards * m.discount_factors
    strike_leg = strikes * m.discount_factors
    knock_out = np.where(
        calls, forward_leg * asset - strike_leg * cash, strike_leg * cash - forward_leg * asset
    )
    knock_out = np.where(inside, np.maximum(knock_out, 0.0), 0.0)
    vanilla = black_price(
        forwards=m.forwards,
        strikes=strikes,
        total_vars=m.deviations**2,
        discount_factors=m.discount_factors,
        is_call=calls,
    )
    prices = np.where(kin, np.maximum(vanilla - knock_out, 0.0), knock_out)
    valid = np.isfinite(prices)
    return ClosedFormPrices(np.where(valid, prices, np.nan), valid)


def corridor_exit_values(
    *,
    spots: float | np.ndarray,
    lower_barriers: np.ndarray,
    upper_barriers: np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    vols: np.ndarray,
    times: np.ndarray,
) -> tuple[ClosedFormPrices, ClosedFormPrices]:
    """Values of 1 JPY paid at the first exit from ``(L, U)`` before ``T``, by the barrier
    of the exit: ``(through L, through U)``.

    Their sum is a double one-touch paid at the hit; each alone is QuantLib's ``KIKO``
    (lower) and ``KOKI`` (upper) double-barrier binary. Spot on or beyond a barrier: 1
    through that barrier, 0 through the other. Each side carries its own ``valid``: a series
    whose terms grow past 10⁴ (a far barrier against a strong drift towards it, whose value
    is then ~0 but lost to cancellation) is flagged, not returned.

    Notes:
        Hui (1996), for ``x = ln(S/L)``, ``k_i = iπ/Z``, ``λ² = μ² + 2r/σ²``, carries the
        perpetual value ``e^{−μx}·sinh(λ(Z − x))/sinh(λZ)`` as a slowly converging sine
        series (terms ~ ``i⁻³``). Here it is summed in closed form, leaving::

            e^{−μx}·[sinh(λ(Z−x))/sinh(λZ)
                     − Σ_i 2/(iπ)·k_i²/(k_i²+λ²)·e^{−(k_i²+λ²)σ²T/2}·sin(k_i x)]

        which converges like the double no-touch's; through ``U``, the same with ``x`` the
        distance to ``U`` and ``−μ``. For ``λ² < 0`` (negative rates) ``sinh`` turns into
        ``sin``, valid while ``|λ|Z < π``; beyond (or past 20,000 terms) ``valid`` is False.
    """
    m = _Lognormal.build(spots, forwards, discount_factors, vols, times)
    lower, upper = _arrays(lower_barriers, upper_barriers)
    inside = (m.spots > lower) & (m.spots < upper)
    s = m.deviations
    width = np.where(inside, np.log(upper / lower), 1.0)
    lam2 = m.mu**2 + (-2.0 * np.log(m.discount_factors)) / (s * s)
    kappa = np.sqrt(np.maximum(-lam2, 0.0))
    valid = inside & ((lam2 >= 0.0) | (kappa * width < np.pi))
    lam = np.sqrt(np.maximum(lam2, 0.0))

    def through(distance: np.ndarray, drift: np.ndarray) -> np.ndarray:
        x = np.where(inside, distance, 0.5 * width)
        far = width - x
        # the branches not taken may overflow or divide by 0; what is taken is checked below
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            hyperbolic = (
                np.exp(-(drift + lam) * x)
                * np.expm1(-2.0 * lam * far)
                / np.expm1(-2.0 * lam * width)
            )
            linear = np.exp(-drift * x) * far / width
            trigonometric = np.exp(-drift * x) * np.sin(kappa * far) / np.sin(kappa * width)
            perpetual = np.where(
                lam2 < 0.0, trigonometric, np.where(lam * width > 1e-9, hyperbolic, linear)
            )
            scale = -drift * x + np.log(m.discount_factors) - 0.5 * drift**2 * s * s
            ratio = np.pi / width
            needed = np.ceil(np.sqrt(2.0 * np.maximum(scale, 0.0) + 83.0) / (ratio * s)) + 2.0
            summed = valid & (needed <= _MAX_TERMS)  # the others are flagged, not summed
            count = int(np.max(np.where(summed, needed, 1.0), initial=1.0))
            series = np.zeros(x.shape)
            largest = np.zeros(x.shape)
            for i in range(1, count + 1):
                k = i * ratio
                term = (
                    2.0
                    / (i * np.pi)
                    * (k * k / (k * k + lam2))
                    * np.exp(scale - 0.5 * k * k * s * s)
                    * np.sin(k * x)
                )
                series += term
                largest = np.fmax(largest, np.abs(term))
            value = perpetual - series
        ok = summed & np.isfinite(value) & (largest <= _LARGEST_TERM)
        return np.clip(np.where(ok, value, np.nan), 0.0, np.maximum(1.0, m.discount_factors))

    # the log-distance to each barrier, and the drift seen from it (towards U is +μ)
    below, above = m.spots <= lower, m.spots >= upper
    low = np.where(below, 1.0, np.where(above, 0.0, through(np.log(m.spots / lower), m.mu)))
    high = np.where(above, 1.0, np.where(below, 0.0, through(np.log(upper / m.spots), -m.mu)))
    return ClosedFormPrices(low, np.isfinite(low)), ClosedFormPrices(high, np.isfinite(high))


def double_touch_price(
    *,
    one_touch: np.ndarray,
    pay_at_hit: np.ndarray,
    pays_usd: np.ndarray,
    spots: float | np.ndarray,
    lower_barriers: np.ndarray,
    upper_barriers: np.ndarray,
    cash: np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    vols: np.ndarray,
    times: np.ndarray,
) -> ClosedFormPrices:
    """Double one-touches and double no-touches paying ``cash`` JPY or ``cash`` USD.

    Args:
        one_touch: True: pays if spot touches either barrier (at the hit if ``pay_at_hit``,
            else at expiry); False: a double no-touch, paid at expiry if it touches neither
            (``pay_at_hit`` ignored).
        pays_usd: ``cash`` is USD (worth the touched barrier in JPY at the hit, ``S_T`` at
            expiry) rather than JPY.
        Other arguments as :func:`double_barrier_price`.

    Returns:
        JPY per unit of notional. At expiry, one-touch + no-touch = ``cash·DF`` (JPY) or
        ``cash·F·DF`` (USD, the USD's forward value).
    """
    columns = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (spots, forwards, discount_factors, vols, times)),
        *(np.asarray(a, dtype=float) for a in (lower_barriers, upper_barriers, cash)),
        *(np.asarray(a, dtype=bool) for a in (one_touch, pay_at_hit, pays_usd)),
    )
    spots_, forwards_, dfs, vols_, times_, lower, upper, cash = columns[:8]
    one, at_hit, usd = columns[8:]
    with np.errstate(over="ignore", invalid="ignore"):  # extreme carry: flagged below
        return _double_touch(spots_, forwards_, dfs, vols_, times_, lower, upper, cash, one,
                             at_hit, usd)  # fmt: skip


def _double_touch(
    spots_: np.ndarray,
    forwards_: np.ndarray,
    dfs: np.ndarray,
    vols_: np.ndarray,
    times_: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    cash: np.ndarray,
    one: np.ndarray,
    at_hit: np.ndarray,
    usd: np.ndarray,
) -> ClosedFormPrices:
    jpy = _cash_no_touch(
        spots=spots_,
        lower_barriers=lower,
        upper_barriers=upper,
        cash=1.0,
        forwards=forwards_,
        discount_factors=dfs,
        vols=vols_,
        times=times_,
    )
    # the USD numeraire: carry b + σ², discount DF_f = DF·F/S
    dollar = _cash_no_touch(
        spots=spots_,
        lower_barriers=lower,
        upper_barriers=upper,
        cash=1.0,
        forwards=forwards_ * np.exp(vols_**2 * times_),
        discount_factors=dfs * forwards_ / spots_,
        vols=vols_,
        times=times_,
    )
    forward_value = np.where(usd, forwards_ * dfs, dfs)  # 1 unit of cash paid at expiry
    no_touch = np.where(usd, spots_ * dollar.prices, jpy.prices)
    no_touch_ok = np.where(usd, dollar.valid, jpy.valid)
    prices = np.where(one, forward_value - no_touch, no_touch)
    valid = no_touch_ok.copy()
    hit_rows = one & at_hit
    if hit_rows.any():
        through_lower, through_upper = corridor_exit_values(
            spots=spots_,
            lower_barriers=lower,
            upper_barriers=upper,
            forwards=forwards_,
            discount_factors=dfs,
            vols=vols_,
            times=times_,
        )
        # USD paid at the hit is worth the barrier touched: a jump-free path exits at it
        at_hit_value = np.where(
            usd,
            lower * through_lower.prices + upper * through_upper.prices,
            through_lower.prices + through_upper.prices,
        )
        prices = np.where(hit_rows, at_hit_value, prices)
        valid = np.where(hit_rows, through_lower.valid & through_upper.valid, valid)
    prices = cash * prices
    inside = (spots_ > lower) & (spots_ < upper)
    paid_now = cash * np.where(at_hit, np.where(usd, spots_, 1.0), forward_value)
    prices = np.where(inside, prices, np.where(one, paid_now, 0.0))
    valid = (valid & np.isfinite(prices)) | ~inside
    return ClosedFormPrices(np.where(valid, prices, np.nan), valid)


def kiko_price(
    *,
    is_call: np.ndarray,
    knock_in_below: np.ndarray,
    spots: float | np.ndarray,
    strikes: np.ndarray,
    lower_barriers: np.ndarray,
    upper_barriers: np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    vols: np.ndarray,
    times: np.ndarray,
) -> ClosedFormPrices:
    """KIKO calls/puts: knock-in at one barrier, knock-out at the other for the whole life.

    ``knock_in_below``: the knock-in barrier is ``L`` (knock-out ``U``), else the other way
    round. KIKO = single knock-out at the knock-out barrier − double knock-out
    (:func:`pricing.fx.barriers.barrier_price`, :func:`double_barrier_price`); JPY per USD.
    """
    below = np.asarray(knock_in_below, dtype=bool)
    lower, upper = _arrays(lower_barriers, upper_barriers)
    single = barrier_price(
        barrier_types=np.where(below, BarrierType.UP_OUT, BarrierType.DOWN_OUT),
        is_call=is_call,
        spots=spots,
        strikes=strikes,
        barriers=np.where(below, upper, lower),
        rebates=0.0,
        forwards=forwards,
        discount_factors=discount_factors,
        vols=vols,
        times=times,
    )
    double = double_barrier_price(
        knock_in=False,
        is_call=is_call,
        spots=spots,
        strikes=strikes,
        lower_barriers=lower,
        upper_barriers=upper,
        forwards=forwards,
        discount_factors=discount_factors,
        vols=vols,
        times=times,
    )
    valid = single.valid & double.valid
    prices = np.maximum(single.prices - double.prices, 0.0)
    return ClosedFormPrices(np.where(valid, prices, np.nan), valid)
