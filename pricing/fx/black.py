"""Black / Garman–Kohlhagen kernels on forwards, with the sensitivities the mixture needs.

Every payoff the foundation prices is a linear combination of three undiscounted pieces of
a lognormal forward ``F`` with total variance ``v = σ²·T`` struck at ``K``::

    C = α·F·N(ω·d1) + β·N(ω·d2) + γ·(F − K),   d1,2 = (ln(F/K) ± v/2) / √v

with per-payoff coefficients (ω = +1 call side, −1 put side):

============================  =====  =====  ===  ===
payoff                         α      β     γ    ω
============================  =====  =====  ===  ===
vanilla call / put             ω     −ω·K   0   ±1
cash-or-nothing, pays 1 JPY    0      1     0   ±1
cash-or-nothing, pays 1 USD    1      0     0   ±1
forward (long USD at K)        0      0     1    1
============================  =====  =====  ===  ===

(a digital paying 1 USD is worth ``S_T`` JPY when it pays, hence the asset-or-nothing row.)
The kernel returns ``C`` and its partial derivatives ``∂C/∂F``, ``∂²C/∂F²`` and ``∂C/∂v``
in closed form, which is all the Greeks need (see :mod:`pricing.mixture.european`). Using the
identity ``F·n(d1) = K·n(d2)``::

    ∂C/∂F   = α·N(ωd1) + ω·n(d2)·(αK + β)/(F√v) + γ
    ∂²C/∂F² = α·ω·K·n(d2)/(F²√v) − ω·(αK + β)·n(d2)·d1/(F²·v)
    ∂C/∂v   = −ω·n(d2)·(αK·d2 + β·d1)/(2v)

Units: F and K in JPY per USD; ``v`` in years × (annual vol)²; ``C`` in JPY per unit of
notional (per USD for vanillas, forwards and USD digitals; per JPY of payout for JPY
digitals, i.e. a probability). Discounting is the caller's.

References: Black (1976); Garman & Kohlhagen (1983); Haug, *The Complete Guide to Option
Pricing Formulas*, 2nd ed. (2007), §1.1 and §4.19 (cash/asset-or-nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from scipy.special import ndtr

_INV_SQRT_2PI = 0.3989422804014327


class Payoff(IntEnum):
    """Payoff codes for the kernel's coefficient table (stable integers for arrays)."""

    CALL = 0
    PUT = 1
    DIGITAL_CALL_JPY = 2
    DIGITAL_PUT_JPY = 3
    DIGITAL_CALL_USD = 4
    DIGITAL_PUT_USD = 5
    FORWARD = 6


# Each payoff is a weighted sum of four building blocks (vanilla, asset-or-nothing,
# cash-or-nothing, forward) on its side ω; columns: vanilla, asset, cash, forward, ω.
PAYOFF_TABLE = np.array(
    [
        [1.0, 0.0, 0.0, 0.0, 1.0],  # CALL
        [1.0, 0.0, 0.0, 0.0, -1.0],  # PUT
        [0.0, 0.0, 1.0, 0.0, 1.0],  # DIGITAL_CALL_JPY
        [0.0, 0.0, 1.0, 0.0, -1.0],  # DIGITAL_PUT_JPY
        [0.0, 1.0, 0.0, 0.0, 1.0],  # DIGITAL_CALL_USD
        [0.0, 1.0, 0.0, 0.0, -1.0],  # DIGITAL_PUT_USD
        [0.0, 0.0, 0.0, 1.0, 1.0],  # FORWARD
    ]
)


@dataclass(frozen=True)
class PayoffCoefficients:
    """Per-option building-block weights and side ω (arrays broadcastable to the elements).

    ``alpha``/``beta``/``gamma`` are the coefficients of the module docstring; ``vanilla``,
    ``asset`` and ``cash`` say which block carries the value.
    """

    vanilla: np.ndarray
    asset: np.ndarray
    cash: np.ndarray
    gamma: np.ndarray
    omega: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray

    def expanded(self) -> PayoffCoefficients:
        """The same coefficients as column vectors ``[n, 1]``, to broadcast over scenarios."""
        return PayoffCoefficients(**{k: v[:, None] for k, v in self.__dict__.items()})


def payoff_coefficients(*, payoffs: np.ndarray, strikes: np.ndarray) -> PayoffCoefficients:
    """Coefficients for payoff codes ``payoffs`` [n] (:class:`Payoff`) at ``strikes`` [n]."""
    rows = PAYOFF_TABLE[np.asarray(payoffs, dtype=np.intp)]
    strikes = np.asarray(strikes, dtype=float)
    vanilla, asset, cash, gamma, omega = (rows[..., j] for j in range(5))
    return PayoffCoefficients(
        vanilla=vanilla,
        asset=asset,
        cash=cash,
        gamma=gamma,
        omega=omega,
        alpha=vanilla * omega + asset,
        beta=cash - vanilla * omega * strikes,
    )


@dataclass(frozen=True)
class BlackTerms:
    """Undiscounted value and partial derivatives of the kernel, one per element.

    Attributes:
        value: ``C`` (JPY per unit of notional, undiscounted).
        d_forward: ``∂C/∂F``.
        d2_forward: ``∂²C/∂F²``.
        d_variance: ``∂C/∂v`` (per unit of total variance).
    """

    value: np.ndarray
    d_forward: np.ndarray
    d2_forward: np.ndarray
    d_variance: np.ndarray


def black_terms(
    *,
    log_moneyness: np.ndarray,
    forwards: np.ndarray,
    strikes: np.ndarray,
    total_vars: np.ndarray,
    coefficients: PayoffCoefficients,
    with_derivatives: bool = True,
) -> BlackTerms:
    """Kernel value and derivatives for broadcastable arrays.

    Args:
        log_moneyness: ``x = ln(F/K)``; passed in so that callers broadcasting a scenario
            jump can form it as ``ln(F/K)[:, None] + ln(J)[None, :]``.
        forwards: ``F`` (JPY per USD), consistent with ``log_moneyness``.
        strikes: ``K`` (JPY per USD), > 0.
        total_vars: ``v = σ²T`` > 0.
        coefficients: from :func:`payoff_coefficients`, broadcastable to the others.
        with_derivatives: if False, only ``value`` is filled (the others are 0-d zeros).

    Returns:
        :class:`BlackTerms`, every array of the broadcast shape.
    """
    c = coefficients
    sqrt_v = np.sqrt(total_vars)
    d1 = log_moneyness / sqrt_v + 0.5 * sqrt_v
    d2 = d1 - sqrt_v
    n_d1 = ndtr(c.omega * d1)
    n_d2 = ndtr(c.omega * d2)
    value = (
        c.vanilla * c.omega * (forwards * n_d1 - strikes * n_d2)
        + c.asset * forwards * n_d1
        + c.cash * n_d2
        + c.gamma * (forwards - strikes)
    )
    if not with_derivatives:
        zero = np.zeros(())
        return BlackTerms(value=value, d_forward=zero, d2_forward=zero, d_variance=zero)
    pdf_d2 = _INV_SQRT_2PI * np.exp(-0.5 * d2 * d2)
    a_k_plus_b = c.alpha * strikes + c.beta
    f_sqrt_v = forwards * sqrt_v
    d_forward = c.alpha * n_d1 + c.omega * pdf_d2 * a_k_plus_b / f_sqrt_v + c.gamma
    d2_forward = (
        c.omega * pdf_d2 * (c.alpha * strikes * sqrt_v - a_k_plus_b * d1) / (f_sqrt_v * f_sqrt_v)
    )
    d_variance = -c.omega * pdf_d2 * (c.alpha * strikes * d2 + c.beta * d1) / (2.0 * total_vars)
    return BlackTerms(
        value=value, d_forward=d_forward, d2_forward=d2_forward, d_variance=d_variance
    )


def black_price(
    *,
    forwards: np.ndarray,
    strikes: np.ndarray,
    total_vars: np.ndarray,
    discount_factors: np.ndarray,
    is_call: np.ndarray,
) -> np.ndarray:
    """Discounted Black price of vanilla calls/puts: ``DF · (ω F N(ωd1) − ω K N(ωd2))``.

    Arrays broadcast; ``forwards``, ``strikes`` in JPY per USD, ``total_vars = σ²T``,
    ``discount_factors`` JPY discount factors to delivery. Returns JPY per USD of notional.
    """
    forwards = np.asarray(forwards, dtype=float)
    strikes = np.asarray(strikes, dtype=float)
    payoffs = np.where(np.asarray(is_call, dtype=bool), Payoff.CALL, Payoff.PUT)
    coefficients = payoff_coefficients(payoffs=payoffs, strikes=strikes)
    terms = black_terms(
        log_moneyness=np.log(forwards / strikes),
        forwards=forwards,
        strikes=strikes,
        total_vars=np.asarray(total_vars, dtype=float),
        coefficients=coefficients,
        with_derivatives=False,
    )
    prices: np.ndarray = np.asarray(discount_factors, dtype=float) * terms.value
    return prices
