"""Small builders of kernel inputs for the pricing tests (flat rates, one expiry per option)."""

from __future__ import annotations

import numpy as np

from pricing.mixture.european import OptionBook, ScenarioMix


def flat_book(
    *,
    payoffs: np.ndarray,
    strikes: np.ndarray,
    expiries: np.ndarray,
    spot: float,
    r_jpy: float,
    r_usd: float,
    pre_vol: float,
    event_time: float = np.inf,
) -> OptionBook:
    """Options on flat continuously compounded rates, delivery = expiry."""
    payoffs, strikes, expiries = np.broadcast_arrays(
        np.asarray(payoffs), np.asarray(strikes, dtype=float), np.asarray(expiries, dtype=float)
    )
    n = strikes.shape[0]
    return OptionBook(
        payoffs=payoffs.copy(),
        strikes=strikes.copy(),
        forwards=spot * np.exp((r_jpy - r_usd) * expiries),
        discount_factors=np.exp(-r_jpy * expiries),
        delivery_times=expiries.copy(),
        rates_jpy=np.full(n, r_jpy),
        rates_usd=np.full(n, r_usd),
        pre_vols=np.full(n, pre_vol),
        pre_times=np.minimum(expiries, event_time),
        post_times=np.maximum(expiries - event_time, 0.0),
    )


def one_scenario(vol: float = 0.1) -> ScenarioMix:
    return ScenarioMix(weights=np.array([1.0]), jumps=np.array([1.0]), vols=np.array([vol]))
