"""The smile a scenario mixture implies, as a total variance function the quoting code reads.

Conventions: strikes and forwards JPY per USD; expiries in years ACT/365F; ``k = ln(K/F(T))``
with ``F(T)`` the market forward to delivery; ``w = σ²T`` the Black total variance of the
mixture price.

At each point the mixture prices the out-of-the-money vanilla and the cash digital on the
same side (:func:`scenarios.fx.valuation.price_options`, so with every component's smile and the
digitals' smile slope); :func:`pricing.vol.implied_smile.implied_variance` turns the pair into
``(w, ∂w/∂k)``. :func:`pricing.vol.quoting.quote_total_variance` then quotes the mixture as it
quotes any smile: ATM, RR and BF by tenor in the market's conventions. Expiries on or before
the event give back the market's own smile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricing.fx.black import Payoff
from pricing.mixture.measure import MeasureFit
from pricing.vol.implied_smile import implied_variance
from pricing.vol.surface import VarianceFunction
from scenarios.fx.valuation import price_options
from scenarios.market import MarketSnapshot
from scenarios.vol.model import VolModel


@dataclass(frozen=True)
class Expiries:
    """Expiries ``[n]`` with their delivery times, market forwards and discount factors."""

    times: np.ndarray
    delivery_times: np.ndarray
    forwards: np.ndarray
    discount_factors: np.ndarray
    usd_discount_factors: np.ndarray

    @classmethod
    def on(cls, market: MarketSnapshot, times: np.ndarray, delivery_times: np.ndarray) -> Expiries:
        t_del = np.asarray(delivery_times, dtype=float)
        r_d = market.jpy_curve.zero_rates_at(t_del)
        return cls(
            times=np.asarray(times, dtype=float),
            delivery_times=t_del,
            forwards=market.forwards(t_del),
            discount_factors=np.exp(-r_d * t_del),
            usd_discount_factors=market.usd_discount_factors(t_del),
        )


def mixture_prices(
    *,
    market: MarketSnapshot,
    model: VolModel,
    fit: MeasureFit,
    expiries: Expiries,
    log_moneyness: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-the-money vanilla and same-side cash digital prices at ``k [n, p]``.

    Returns ``(otm_prices, digital_prices, valid)``, each ``[n, p]`` (``valid``: the vol
    surfaces give a positive variance there).
    """
    k = np.asarray(log_moneyness, dtype=float)
    shape = k.shape
    rows = np.broadcast_to(np.arange(shape[0])[:, None], shape).reshape(-1)
    flat_k = k.reshape(-1)
    call_side = flat_k >= 0.0
    vanilla = np.where(call_side, Payoff.CALL, Payoff.PUT)
    digital = np.where(call_side, Payoff.DIGITAL_CALL_JPY, Payoff.DIGITAL_PUT_JPY)
    strikes = expiries.forwards[rows] * np.exp(flat_k)
    priced = price_options(
        market=market,
        model=model,
        fit=fit,
        expiries=np.tile(expiries.times[rows], 2),
        deliveries=np.tile(expiries.delivery_times[rows], 2),
        strikes=np.tile(strikes, 2),
        payoffs=np.concatenate([vanilla, digital]),
    )
    prices = priced.greeks.price.reshape((2, *shape))
    valid = (priced.valid[: flat_k.size] & priced.valid[flat_k.size :]).reshape(shape)
    return prices[0], prices[1], valid


def mixture_variance(
    *, market: MarketSnapshot, model: VolModel, fit: MeasureFit, expiries: Expiries
) -> VarianceFunction:
    """The mixture's implied ``k [n, p] ↦ (w, ∂w/∂k)`` at ``expiries`` (0 where no vol)."""

    def variance(log_moneyness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = np.asarray(log_moneyness, dtype=float)
        otm, digital, valid = mixture_prices(
            market=market, model=model, fit=fit, expiries=expiries, log_moneyness=k
        )
        column = (slice(None),) + (None,) * (k.ndim - 1)
        implied = implied_variance(
            otm_prices=otm,
            digital_prices=digital,
            log_moneyness=k,
            forwards=expiries.forwards[column],
            expiries=expiries.times[column],
            discount_factors=expiries.discount_factors[column],
        )
        ok = implied.converged & valid
        return np.where(ok, implied.total_vars, 0.0), np.where(ok, implied.slopes, 0.0)

    return variance
