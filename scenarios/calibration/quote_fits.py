"""Each calibration quote against a mixture, quoted back exactly.

Conventions: vols annualised decimals (``QuoteFit.residual`` in decimals, 0.01 = one vol
point); strikes JPY per USD; jump ratios ``J_i = L_i/S0``, weights ``q`` ``[m]``.

Tenor quotes are read off the mixture's own smile in the market's conventions (ATM at its
delta-neutral strike, risk reversals at its own ``±δ`` strikes, the butterfly the market
quotes: broker or smile); option quotes are the Black vol of the mixture's price at the
quoted strike. These are the residuals a calibration reports, judges against its
tolerances (:mod:`scenarios.calibration.verdict`) and, for the common scales, minimises
(:mod:`scenarios.calibration.scales`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pricing.fx.implied_vol import BLACK_FORMULA_ULPS, implied_vol
from pricing.mixture.measure import MeasureFit
from pricing.vol.quotes import Butterfly
from scenarios.calibration.rows import component_prices, option_price_rows
from scenarios.calibration.solve import CalibrationProblem, mixture_quotes
from scenarios.vol.model import VolModel


@dataclass(frozen=True)
class QuoteFit:
    """One quote fitted: ``kind`` atm/rr25/bf25/rr10/bf10 for a tenor, vol for an option."""

    label: str
    expiry: dt.date
    kind: str
    strike: float | None
    market: float
    model: float | None

    @property
    def residual(self) -> float | None:
        return None if self.model is None else self.model - self.market


def quote_fits(
    problem: CalibrationProblem,
    model: VolModel,
    weights: np.ndarray,
    jumps: np.ndarray,
    tree: MeasureFit | None = None,
) -> tuple[QuoteFit, ...]:
    """Each quote of ``problem`` against the mixture ``(weights, jumps)`` on ``model`` (a
    decision tree's leaves with ``tree``, its fit: ``weights`` the leaf weights); a quote the
    mixture cannot be read at (a strike solve that failed) has ``model`` None."""
    fits: list[QuoteFit] = []
    if problem.quotes:
        quoted = mixture_quotes(problem, model, weights, jumps, tree)
        broker = problem.conventions.butterfly is Butterfly.BROKER
        flies = quoted.broker_butterflies if broker else quoted.smile_butterflies
        for i, quote in enumerate(problem.quotes):
            label = quote.tenor or quote.expiry.isoformat()

            def row(kind: str, market: float, model_value: float, strike: float | None,
                    label: str = label, expiry: dt.date = quote.expiry) -> QuoteFit:  # fmt: skip
                value = float(model_value) if np.isfinite(model_value) else None
                return QuoteFit(label, expiry, kind, strike, market, value)

            fits.append(row("atm", quote.atm, quoted.atm_vols[i], float(quoted.atm_strikes[i])))
            for j, wing in enumerate(quote.wings()):
                suffix = "25" if j == 0 else "10"
                fits.append(row(f"rr{suffix}", wing.rr, quoted.risk_reversals[i, j], None))
                fits.append(row(f"bf{suffix}", wing.bf, flies[i, j], None))
    if problem.options:
        e = problem.option_expiries
        option_rows = option_price_rows(options=problem.options, expiries=e)
        components = component_prices(
            market=problem.market,
            model=model,
            jumps=jumps,
            expiries=e,
            rows=option_rows.tenor_rows,
            strikes=option_rows.strikes,
            calls=option_rows.calls,
            tree=tree,
        )
        ivs = implied_vol(
            prices=components @ weights,
            forwards=e.forwards,
            strikes=option_rows.strikes,
            expiries=e.times,
            discount_factors=e.discount_factors,
            is_call=option_rows.calls,
            intrinsic_ulps=BLACK_FORMULA_ULPS,  # mixture prices: Black differences
        )
        for k, option in enumerate(problem.options):
            model_vol = float(ivs.vols[k]) if ivs.converged[k] else None
            fits.append(QuoteFit(option.label, problem.option_dates[k], "vol", option.strike,
                                 option.vol, model_vol))  # fmt: skip
    return tuple(fits)


def residual_vector(fits: tuple[QuoteFit, ...], missing: float = 1.0) -> np.ndarray:
    """``model − market`` per quote (decimal vols), ``missing`` where the mixture could not
    be quoted (a large residual: the optimiser steers away from it)."""
    return np.array([missing if f.residual is None else f.residual for f in fits])
