"""Closed forms for barrier and touch options on one lognormal spot (continuous monitoring).

Spot ``S`` (JPY per USD) is lognormal with vol ``σ`` over ``[0, T]``; the market enters as
the forward to expiry ``F`` and the JPY discount factor ``DF``, read as flat rates
``r = −ln(DF)/T`` (domestic, JPY) and cost of carry ``b = ln(F/S)/T = r_d − r_f``. These are
exact for flat rates and vol; with term structures they are the usual flat-equivalent
approximation (QuantLib's analytic engines make the same one). Payouts and premiums in JPY
per unit of notional (rebates in JPY; touch payouts in JPY, or in USD where asked).

Why numpy rather than QuantLib's engines: the formulas are a few vectorised lines, a book is
priced in one call without building QuantLib objects per option (≈10 µs each) or taking the
process-wide QuantLib lock, and QuantLib stays an independent witness in the tests.

Conventions (as QuantLib's ``AnalyticBarrierEngine``, ``AnalyticDigitalAmericanEngine`` and
``AnalyticDoubleBarrierBinaryEngine``): a knock-out's rebate is paid at the hit, a
knock-in's at expiry if never knocked in; a one-touch pays at the hit or at expiry; a
no-touch and a double no-touch pay at expiry. Where spot is already at or beyond the barrier
(QuantLib raises), the contract is taken as triggered now: a knock-out is worth its rebate, a
knock-in the vanilla, a one-touch its cash (discounted if paid at expiry; a USD cash amount
is worth spot now, or ``F·DF`` at expiry), a no-touch 0. Double-barrier options, double
one-touches and KIKOs are in :mod:`pricing.fx.double_barriers`.

Notation (Haug 2007): ``μ = (b − σ²/2)/σ²``, ``λ = √(μ² + 2r/σ²)``, ``s = σ√T``, η = +1 for a
down barrier and −1 for an up barrier, φ = +1 call and −1 put.

References: Reiner & Rubinstein (1991), "Breaking down the barriers"; Rubinstein & Reiner
(1991), "Unscrambling the binary code"; Hui (1996), "One-touch double barrier binary option
values"; Haug, *The Complete Guide to Option Pricing Formulas*, 2nd ed. (2007), §4.17.1,
§4.19.5, §4.19.6.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from scipy.special import log_ndtr, ndtr


class BarrierType(IntEnum):
    """Single-barrier types (stable integers for arrays)."""

    DOWN_IN = 0
    UP_IN = 1
    DOWN_OUT = 2
    UP_OUT = 3


@dataclass(frozen=True)
class ClosedFormPrices:
    """Prices (JPY per unit of notional) and a mask of elements the formula could price.

    ``valid`` is False where the formula does not apply (a knock-out rebate with
    ``μ² + 2r/σ² < 0``, or a double no-touch series that did not converge); prices are NaN
    there.
    """

    prices: np.ndarray
    valid: np.ndarray


# Coefficients of (A, B, C, D, E, F) indexed [type, is_call, strike >= barrier] (Haug, Table 4-21).
_TABLE = np.zeros((4, 2, 2, 6))
_TABLE[BarrierType.DOWN_IN, 1] = [[1, -1, 0, 1, 1, 0], [0, 0, 1, 0, 1, 0]]
_TABLE[BarrierType.UP_IN, 1] = [[0, 1, -1, 1, 1, 0], [1, 0, 0, 0, 1, 0]]
_TABLE[BarrierType.DOWN_IN, 0] = [[1, 0, 0, 0, 1, 0], [0, 1, -1, 1, 1, 0]]
_TABLE[BarrierType.UP_IN, 0] = [[0, 0, 1, 0, 1, 0], [1, -1, 0, 1, 1, 0]]
_TABLE[BarrierType.DOWN_OUT, 1] = [[0, 1, 0, -1, 0, 1], [1, 0, -1, 0, 0, 1]]
_TABLE[BarrierType.UP_OUT, 1] = [[1, -1, 1, -1, 0, 1], [0, 0, 0, 0, 0, 1]]
_TABLE[BarrierType.DOWN_OUT, 0] = [[0, 0, 0, 0, 0, 1], [1, -1, 1, -1, 0, 1]]
_TABLE[BarrierType.UP_OUT, 0] = [[1, 0, -1, 0, 0, 1], [0, 1, 0, -1, 0, 1]]


@dataclass(frozen=True)
class _Lognormal:
    """Broadcast market arrays and the derived constants of the formulas."""

    spots: np.ndarray
    forwards: np.ndarray
    discount_factors: np.ndarray
    deviations: np.ndarray  # s = σ√T
    mu: np.ndarray
    lam: np.ndarray
    lam_valid: np.ndarray

    @classmethod
    def build(
        cls,
        spots: float | np.ndarray,
        forwards: float | np.ndarray,
        discount_factors: float | np.ndarray,
        vols: float | np.ndarray,
        times: float | np.ndarray,
    ) -> _Lognormal:
        spots, forwards, discount_factors, vols, times = np.broadcast_arrays(
            *(np.asarray(a, dtype=float) for a in (spots, forwards, discount_factors, vols, times))
        )
        variance_rate = vols * vols
        rates = -np.log(discount_factors) / times
        carries = np.log(forwards / spots) / times
        mu = (carries - 0.5 * variance_rate) / variance_rate
        radicand = mu * mu + 2.0 * rates / variance_rate
        lam_valid = radicand >= 0.0
        lam = np.sqrt(np.where(lam_valid, radicand, 0.0))
        deviations = vols * np.sqrt(times)
        return cls(spots, forwards, discount_factors, deviations, mu, lam, lam_valid)

    def reflected(
        self, power: np.ndarray, log_ratio: np.ndarray, argument: np.ndarray
    ) -> np.ndarray:
        """``(H/S)^power · N(argument)`` in log space (no inf·0)."""
        weighted: np.ndarray = np.exp(power * log_ratio + log_ndtr(argument))
        return weighted

    def hit_value(self, log_hs: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Value of 1 JPY paid at the first hit of H (before T).

        ``(H/S)^{μ+λ}·N(ηz) + (H/S)^{μ−λ}·N(ηz − 2ηλs)``, ``z = ln(H/S)/s + λs``.
        """
        s, mu, lam = self.deviations, self.mu, self.lam
        z = log_hs / s + lam * s
        value: np.ndarray = self.reflected(mu + lam, log_hs, eta * z) + self.reflected(
            mu - lam, log_hs, eta * (z - 2.0 * lam * s)
        )
        return value

    def survival(self, log_hs: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Probability that S stays on its side of H until T (risk-neutral drift)."""
        s, mu = self.deviations, self.mu
        x2 = -log_hs / s + mu * s  # x2 − s of Haug
        y2 = log_hs / s + mu * s  # y2 − s of Haug
        no_touch = ndtr(eta * x2) - self.reflected(2.0 * mu, log_hs, eta * y2)
        probability: np.ndarray = np.clip(no_touch, 0.0, 1.0)
        return probability


def barrier_price(
    *,
    barrier_types: int | np.ndarray,
    is_call: np.ndarray,
    spots: float | np.ndarray,
    strikes: np.ndarray,
    barriers: np.ndarray,
    rebates: float | np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    vols: np.ndarray,
    times: np.ndarray,
) -> ClosedFormPrices:
    """Single-barrier calls and puts with rebate (Reiner–Rubinstein), arrays broadcast.

    Args:
        barrier_types: :class:`BarrierType` codes.
        is_call: True for calls, False for puts.
        spots, strikes, barriers: JPY per USD.
        rebates: JPY, paid at the hit (knock-out) or at expiry if never hit (knock-in).
        forwards, discount_factors: to expiry; ``vols`` annualised; ``times`` years (> 0).
    """
    m = _Lognormal.build(spots, forwards, discount_factors, vols, times)
    types = np.asarray(barrier_types, dtype=np.intp)
    calls = np.asarray(is_call, dtype=bool)
    strikes, barriers, rebates, types, calls = np.broadcast_arrays(
        np.asarray(strikes, dtype=float),
        np.asarray(barriers, dtype=float),
        np.asarray(rebates, dtype=float),
        types,
        calls,
    )
    down = (types == BarrierType.DOWN_IN) | (types == BarrierType.DOWN_OUT)
    eta = np.where(down, 1.0, -1.0)
    phi = np.where(calls, 1.0, -1.0)
    s, mu = m.deviations, m.mu
    log_hs = np.log(barriers / m.spots)
    log_sx = np.log(m.spots / strikes)
    forward_leg = m.forwards * m.discount_factors
    strike_leg = strikes * m.discount_factors
    x1 = log_sx / s + (1.0 + mu) * s
    x2 = -log_hs / s + (1.0 + mu) * s
    y1 = (2.0 * log_hs + log_sx) / s + (1.0 + mu) * s
    y2 = log_hs / s + (1.0 + mu) * s

    def straight(x: np.ndarray) -> np.ndarray:
        value: np.ndarray = phi * (forward_leg * ndtr(phi * x) - strike_leg * ndtr(phi * (x - s)))
        return value

    def image(y: np.ndarray) -> np.ndarray:
        value: np.ndarray = phi * (
            forward_leg * m.reflected(2.0 * (mu + 1.0), log_hs, eta * y)
            - strike_leg * m.reflected(2.0 * mu, log_hs, eta * (y - s))
        )
        return value

    terms = np.stack(
        [
            straight(x1),
            straight(x2),
            image(y1),
            image(y2),
            rebates * m.discount_factors * m.survival(log_hs, eta),
            rebates * m.hit_value(log_hs, eta),
        ],
        axis=-1,
    )
    coefficients = _TABLE[types, calls.astype(np.intp), (strikes >= barriers).astype(np.intp)]
    prices = (coefficients * terms).sum(axis=-1)
    knock_out = (types == BarrierType.DOWN_OUT) | (types == BarrierType.UP_OUT)
    triggered = np.where(down, m.spots <= barriers, m.spots >= barriers)
    prices = np.where(triggered, np.where(knock_out, rebates, straight(x1)), prices)
    valid = m.lam_valid | ~knock_out | (rebates == 0.0) | triggered
    return ClosedFormPrices(np.where(valid, prices, np.nan), valid)


def touch_price(
    *,
    is_up: bool | np.ndarray,
    one_touch: bool | np.ndarray,
    pay_at_hit: bool | np.ndarray,
    spots: float | np.ndarray,
    barriers: np.ndarray,
    cash: np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    vols: np.ndarray,
    times: np.ndarray,
    pays_usd: np.ndarray | bool = False,
) -> ClosedFormPrices:
    """One-touch (paid at hit or at expiry) and no-touch (at expiry) paying ``cash``.

    ``is_up``: barrier above spot (touch from below); ``one_touch``: False for a no-touch
    (``pay_at_hit`` is then ignored); ``pays_usd``: ``cash`` is USD rather than JPY — worth
    ``H`` JPY per USD paid at the hit (spot is on the barrier), ``S_T`` paid at expiry, so
    ``E[DF·S_T·1{·}] = S·DF_f·P^f(·)`` with ``P^f`` under the USD numeraire (carry
    ``b + σ²``; Haug 2007 §4.19.5, asset-or-nothing). Other arguments as
    :func:`barrier_price`; prices JPY per unit of notional.
    """
    m = _Lognormal.build(spots, forwards, discount_factors, vols, times)
    up, one, at_hit, usd, barriers, cash = np.broadcast_arrays(
        np.asarray(is_up, dtype=bool),
        np.asarray(one_touch, dtype=bool),
        np.asarray(pay_at_hit, dtype=bool),
        np.asarray(pays_usd, dtype=bool),
        np.asarray(barriers, dtype=float),
        np.asarray(cash, dtype=float),
    )
    eta = np.where(up, -1.0, 1.0)
    log_hs = np.log(barriers / m.spots)
    survival = m.survival(log_hs, eta)
    at_expiry = m.discount_factors * np.where(one, 1.0 - survival, survival)
    hit_value = m.hit_value(log_hs, eta)
    forward_value = m.forwards * m.discount_factors  # 1 USD paid at expiry, in JPY today
    if usd.any():
        with np.errstate(over="ignore", invalid="ignore"):  # σ²T past ~700: flagged below
            dollar = _Lognormal.build(
                m.spots,
                m.forwards * np.exp(m.deviations**2),
                m.discount_factors * m.forwards / m.spots,
                vols,
                times,
            )
            dollar_survival = dollar.survival(log_hs, eta)
        dollar_expiry = forward_value * np.where(one, 1.0 - dollar_survival, dollar_survival)
        at_expiry = np.where(usd, dollar_expiry, at_expiry)
        hit_value = np.where(usd, barriers * hit_value, hit_value)
    prices = cash * np.where(one & at_hit, hit_value, at_expiry)
    triggered = np.where(up, m.spots >= barriers, m.spots <= barriers)
    now = np.where(usd, m.spots, 1.0)
    paid_now = cash * np.where(at_hit, now, np.where(usd, forward_value, m.discount_factors))
    prices = np.where(triggered, np.where(one, paid_now, 0.0), prices)
    valid = (m.lam_valid | ~(one & at_hit) | triggered) & np.isfinite(prices)
    return ClosedFormPrices(np.where(valid, prices, np.nan), valid)


_MAX_TERMS = 20000


def double_no_touch_price(
    *,
    spots: np.ndarray,
    lower_barriers: np.ndarray,
    upper_barriers: np.ndarray,
    cash: float | np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    vols: np.ndarray,
    times: np.ndarray,
) -> ClosedFormPrices:
    """Double no-touch paying ``cash`` JPY at expiry if spot never leaves (L, U) (Hui 1996).

    The sine series converges like ``exp(−i²π²s²/(2Z²))``, ``Z = ln(U/L)``; it is summed to
    ``exp(−…) < 1e-18``, i.e. about ``2.9·Z/(π s)`` terms (≥ 3). A double one-touch is
    ``cash·DF`` minus this.
    """
    m = _Lognormal.build(spots, forwards, discount_factors, vols, times)
    lower, upper, cash = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lower_barriers, upper_barriers, cash))
    )
    inside = (m.spots > lower) & (m.spots < upper)
    width = np.log(upper / lower)
    # Hui's α = −½(2b/σ² − 1) = −μ and β = −μ² − 2r/σ², so ½βσ²T = −½μ²s² + ln DF.
    sigma2_t = m.deviations**2
    alpha = -m.mu
    decay = -0.5 * m.mu**2 * sigma2_t + np.log(m.discount_factors)
    log_sl = np.log(m.spots / lower)
    log_su = np.log(m.spots / upper)
    ratio = np.pi / np.where(inside, width, 1.0)
    needed = np.ceil(np.sqrt(83.0) / (ratio * m.deviations)) + 2.0
    terms = int(min(np.max(np.where(inside, needed, 1.0), initial=1.0), _MAX_TERMS))
    total = np.zeros(np.broadcast(m.spots, lower).shape)
    left = np.exp(alpha * log_sl + decay)
    right = np.exp(alpha * log_su + decay)
    for i in range(1, terms + 1):
        freq = i * ratio
        sign = -1.0 if i % 2 else 1.0
        total += (
            freq
            * (left - sign * right)
            / (alpha**2 + freq**2)
            * np.sin(freq * log_sl)
            * np.exp(-0.5 * freq**2 * sigma2_t)
        )
    prices = np.where(inside, 2.0 * cash * total / np.where(inside, width, 1.0), 0.0)
    prices = np.clip(prices, 0.0, cash * m.discount_factors)
    valid = ~inside | (needed <= _MAX_TERMS)
    return ClosedFormPrices(np.where(valid, prices, np.nan), valid)
