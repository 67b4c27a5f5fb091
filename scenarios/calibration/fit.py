"""The scenario probabilities today's option market implies, beside the analyst's.

Conventions: strikes and forwards JPY per USD; vols annualised decimals (residuals reported
in vol points, 1 = 0.01); times in years ACT/365F; jump ratios ``J_i = L_i/S0``; weights
``q`` risk-neutral, ``Σ q = 1`` and ``Σ q·J = 1`` (the mixture forward is the market's).

The quotes are market quotes after the event: ATM/RR/BF by tenor in the market's conventions
(by default, when no option vols are given, the market surface's own pillars after the
event) and/or option vols at strikes. Mixture prices are linear in ``q``, so the weights
solve a small constrained least squares in vol units (:mod:`scenarios.calibration.rows`
builds the rows, :func:`pricing.mixture.weight_fit.fit_weights` solves them). Risk-reversal rows are
linear only at fixed strikes, so the solve iterates (:mod:`scenarios.calibration.solve`):
quote the mixture at ``q_k``, linearise at its own ``±δ`` strikes, solve for ``q_{k+1}``,
until the weights stop moving (quotes the mixture can match are then matched exactly).
The pre-event diffusion and each scenario's post-event smile are the vol model's
(:mod:`scenarios.vol.model`); the levels and post-event vols are the scenarios' unless
refitted: an outer nonlinear least squares (``scipy.optimize.least_squares``) over log level
(±0.3) and log vol (±1) multipliers per scenario, each evaluation re-solving ``q`` with the
risk-reversal strikes held, and a prior term ``prior_weight·x`` (vol per unit of log change)
holding them near the analyst's; the exact solve follows at the refitted values.

What the quotes cannot tell apart is reported, not hidden (:func:`pricing.mixture.weight_fit.
identify`): moving probability ``probability_resolution`` along a direction that keeps both
constraints and moves the quotes by less than ``vol_tolerance`` (2-norm) makes the scenarios
it moves indistinguishable; their weights come back as ranges, with the group's total when
the quotes fix it, never as an arbitrary split.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from pricing.cancellation import check_cancelled
from pricing.fx.implied_vol import BLACK_FORMULA_ULPS, implied_vol
from pricing.mixture.measure import Measure, MeasureFit
from pricing.mixture.weight_fit import Identification, NoFeasibleWeights, identify
from pricing.vol.quotes import Butterfly
from scenarios import checks
from scenarios.calibration.rows import OptionQuote, component_prices, option_price_rows
from scenarios.calibration.solve import (
    CalibrationProblem,
    WeightSolution,
    build_problem,
    frozen_rows,
    mixture_quotes,
    solve_weights,
)
from scenarios.errors import DomainError, ErrorKind
from scenarios.fx.valuation import fit_measure
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.model import VolModel, build_vol_model
from scenarios.vol.smiles import SmileQuote


@dataclass(frozen=True)
class CalibrationSettings:
    """How far to trust the quotes, and what else to refit.

    Attributes:
        vol_tolerance: quote precision (vol, 2-norm over the quotes) below which two
            weightings count as the same fit.
        probability_resolution: the probability shift that must move the quotes by more
            than ``vol_tolerance`` for scenarios to count as told apart.
        refit_levels, refit_vols: refit each scenario's post-event level / vol multiplier.
        prior_weight: vol per unit of log change of a refitted level or vol.
        max_iterations: risk-reversal linearisation rounds.
    """

    vol_tolerance: float = 1e-6
    probability_resolution: float = 0.01
    refit_levels: bool = False
    refit_vols: bool = False
    prior_weight: float = 0.01
    max_iterations: int = 50

    @property
    def threshold(self) -> float:
        return self.vol_tolerance / self.probability_resolution


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


@dataclass(frozen=True)
class Calibration:
    """The implied weights beside the subjective and prior ones, with fit and identification.

    ``weights`` is a solution; where ``identification.unidentified`` it is one among many
    (report ``identification.ranges`` there instead).
    """

    scenario_names: tuple[str, ...]
    probabilities: np.ndarray
    prior: MeasureFit
    weights: np.ndarray
    jumps: np.ndarray
    levels: np.ndarray
    vol_scales: np.ndarray
    identification: Identification
    fits: tuple[QuoteFit, ...]
    iterations: int
    converged: bool
    settings: CalibrationSettings

    @property
    def forward_mismatch(self) -> float:
        return float(self.weights @ self.jumps - 1.0)


def calibrate(
    *,
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    quotes: tuple[SmileQuote, ...] | None = None,
    options: tuple[OptionQuote, ...] = (),
    option_dates: tuple[dt.date, ...] = (),
    measure: Measure = Measure.TILT,
    settings: CalibrationSettings | None = None,
) -> Calibration:
    """Implied scenario weights from ``quotes`` (default: the market surface's pillars after
    the event, unless ``options`` are given) and ``options`` (expiry dates in
    ``option_dates``).

    Raises:
        DomainError: quotes before the event (``quotes[i].tenor``), nothing to fit
            (``quotes``), jumps that do not straddle 1 (``scenario_set.scenarios``), a
            scenario smile no SVI slice matches.
    """
    settings = settings or CalibrationSettings()
    for i, option in enumerate(options):
        checks.near_spot(f"options[{i}].strike", option.strike, market.spot)
    prior = fit_measure(market, scenario_set, measure)
    model = build_vol_model(market, scenario_set)
    problem = build_problem(market, scenario_set, quotes, options, option_dates)
    levels = np.array([s.level for s in scenario_set.scenarios])
    scales = np.ones(levels.size)
    try:
        if settings.refit_levels or settings.refit_vols:
            levels, scales = _refit(problem, model, levels, prior.weights, settings)
        solution = solve_weights(
            problem, model.rescaled(scales), levels / market.spot, prior.weights,
            settings.max_iterations,
        )  # fmt: skip
    except NoFeasibleWeights as exc:
        raise DomainError.field(
            "scenario_set.scenarios",
            f"no weights make the mixture forward the market forward: {exc}; the levels must "
            f"lie on both sides of spot {market.spot:g}",
            ErrorKind.NO_MEASURE,
        ) from exc
    jumps = levels / market.spot
    found = identify(
        matrix=solution.matrix,
        jumps=jumps,
        weights=solution.weights,
        threshold=settings.threshold,
    )
    return Calibration(
        scenario_names=tuple(s.name for s in scenario_set.scenarios),
        probabilities=np.array([s.probability for s in scenario_set.scenarios]),
        prior=prior,
        weights=solution.weights,
        jumps=jumps,
        levels=levels,
        vol_scales=scales,
        identification=found,
        fits=_fits(problem, model.rescaled(scales), jumps, solution),
        iterations=solution.iterations,
        converged=solution.converged,
        settings=settings,
    )


def _refit(
    problem: CalibrationProblem,
    model: VolModel,
    levels: np.ndarray,
    initial: np.ndarray,
    settings: CalibrationSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Levels and vol multipliers minimising the fit plus the prior term (outer loop).

    Each evaluation re-solves the weights with the risk-reversal strikes held where the
    analyst's scenarios put them (a few milliseconds instead of a full re-quote); the exact
    solve at the refitted levels and vols follows in :func:`calibrate`.
    """
    m = levels.size
    use_levels, use_vols = settings.refit_levels, settings.refit_vols
    spot = problem.market.spot
    start = solve_weights(problem, model, levels / spot, initial, settings.max_iterations)
    frozen = start.model_quotes
    size = (
        len(problem.quotes) + len(problem.options) + 4 * len(problem.deltas) * len(problem.quotes)
    )
    state = {"weights": start.weights}

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_levels = x[:m] if use_levels else np.zeros(m)
        x_vols = x[-m:] if use_vols else np.zeros(m)
        return levels * np.exp(x_levels), np.exp(x_vols)

    def residuals(x: np.ndarray) -> np.ndarray:
        check_cancelled()  # each evaluation re-solves the weights: a refit can take seconds
        new_levels, scales = unpack(x)
        penalty = settings.prior_weight * x
        try:
            matrix, targets, q = frozen_rows(
                problem, model.rescaled(scales), new_levels / spot, frozen, state["weights"]
            )
        except NoFeasibleWeights:
            return np.concatenate([np.full(size, 1.0), penalty])
        state["weights"] = q
        return np.concatenate([_padded(matrix @ q - targets, size), penalty])

    bounds = (
        np.concatenate([np.full(m, -0.3)] * use_levels + [np.full(m, -1.0)] * use_vols),
        np.concatenate([np.full(m, 0.3)] * use_levels + [np.full(m, 1.0)] * use_vols),
    )
    result = least_squares(
        residuals, np.zeros(bounds[0].size), bounds=bounds, xtol=1e-10, max_nfev=100
    )
    return unpack(result.x)


def _padded(values: np.ndarray, size: int) -> np.ndarray:
    """Residuals to a fixed length (rows whose model strikes failed count as 0)."""
    out = np.zeros(size)
    out[: min(size, values.size)] = values[:size]
    return out


def _fits(
    problem: CalibrationProblem, model: VolModel, jumps: np.ndarray, solution: WeightSolution
) -> tuple[QuoteFit, ...]:
    """Each quote against the fitted mixture, quoted back exactly."""
    fits: list[QuoteFit] = []
    if problem.quotes:
        quoted = mixture_quotes(problem, model, solution.weights, jumps)
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
        )
        ivs = implied_vol(
            prices=components @ solution.weights,
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
