"""FX option positions in desk units, and the compensated sums of a book of them, compiled.

One pass over the lines turns per-unit figures (price and Greeks per unit of notional, JPY,
per 1.00 — :class:`pricing.mixture.european.MixtureResult`) into the position's figures,
``n = sign × notional``:

    delta_usd = n·Δ, delta_jpy = −n·Δ·S0, delta_premium_adjusted_usd = n·Δ_pa,
    gamma_usd_per_big_figure = n·Γ (per 1.00 JPY), vega_jpy_per_vol_point = n·ν/100,
    theta_jpy_per_day = n·Θ/365, rho_*_per_bp = n·ρ·10⁻⁴,
    delta_pct = 100·n·Δ/N_usd, delta_premium_adjusted_pct = 100·n·Δ_pa/N_usd,

and adds up, with Neumaier's compensated summation (:mod:`pricing.sums`), the columns a
book's totals need: value, value per scenario, ∂value/∂L_i per scenario and the eight desk
Greeks that add. Written as one compiled loop because a book is often one line: numpy's
per-call overhead (~1 µs an operation, ~30 operations) would cost more than the arithmetic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit
from pricing.sums import add_compensated

RISK_COLUMNS = 10  # the desk Greeks of scenarios.book_totals.DESK_GREEKS, in that order

_Floats = npt.NDArray[np.float64]  # [n] per line, or [n, m] per line and scenario


@njit(cache=True, error_model="numpy")
def _positions(
    price: _Floats,
    delta: _Floats,
    delta_pa: _Floats,
    gamma: _Floats,
    vega: _Floats,
    theta: _Floats,
    rho_jpy: _Floats,
    rho_usd: _Floats,
    scenario_values: _Floats,
    d_levels: _Floats,
    signed: _Floats,
    usd_notionals: _Floats,
    spot: float,
) -> tuple[_Floats, _Floats]:
    n, m = scenario_values.shape
    b = d_levels.shape[1]  # m, or a tree's branches
    risk = np.empty((n, RISK_COLUMNS))
    k = 1 + m + b + 8
    s = np.zeros((1, k))
    c = np.zeros((1, k))
    row = np.empty(k)
    for i in range(n):
        a = signed[i]
        risk[i, 0] = a * delta[i]
        risk[i, 1] = a * delta[i] * -spot
        risk[i, 2] = a * delta_pa[i]
        risk[i, 3] = a * gamma[i]
        risk[i, 4] = a * vega[i] * 0.01
        risk[i, 5] = a * theta[i] / 365.0
        risk[i, 6] = a * rho_jpy[i] * 1e-4
        risk[i, 7] = a * rho_usd[i] * 1e-4
        risk[i, 8] = 100.0 * risk[i, 0] / usd_notionals[i]
        risk[i, 9] = 100.0 * risk[i, 2] / usd_notionals[i]
        row[0] = price[i] * a
        for j in range(m):
            row[1 + j] = scenario_values[i, j] * a
        for j in range(b):
            row[1 + m + j] = d_levels[i, j] * a
        for j in range(8):
            row[1 + m + b + j] = risk[i, j]
        for j in range(k):
            add_compensated(s, c, 0, j, row[j])
    return risk, (s + c)[0]


def fx_positions(
    *,
    price: np.ndarray,
    delta: np.ndarray,
    delta_premium_adjusted: np.ndarray,
    gamma: np.ndarray,
    vega: np.ndarray,
    theta: np.ndarray,
    rho_jpy: np.ndarray,
    rho_usd: np.ndarray,
    scenario_values: np.ndarray,
    d_levels: np.ndarray,
    signed_notionals: np.ndarray,
    usd_notionals: np.ndarray,
    spot: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Desk Greeks ``[n, 10]`` of each position and the compensated column sums
    ``[1 + 2m + 8]`` of (value, scenario values [m], ∂value/∂L [m], summed desk Greeks [8]).

    Per-unit inputs ``[n]`` (``scenario_values``, ``d_levels`` ``[n, m]``) in JPY per unit
    of notional; ``signed_notionals`` = sign × notional; ``usd_notionals`` each line's
    notional in USD (> 0); ``spot`` JPY per USD.
    """
    risk, sums = _positions(
        price, delta, delta_premium_adjusted, gamma, vega, theta, rho_jpy, rho_usd,
        np.ascontiguousarray(scenario_values), np.ascontiguousarray(d_levels),
        signed_notionals, usd_notionals, float(spot),
    )  # fmt: skip
    return risk, sums
