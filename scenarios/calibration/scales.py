"""The common scales of a fit to market: one jump scale ``κ``, one post-event vol factor ``s``.

Conventions: jump ratios ``J_i = L_i/S0``; ``ln J_i → κ·ln J_i`` (the levels ``S0·J_i^κ``);
post-event vols ``σ_i → s·σ_i`` (:meth:`scenarios.vol.model.VolModel.rescaled`); residuals in
decimal vols (:mod:`scenarios.calibration.quote_fits`).

``scipy.optimize.least_squares`` (trust-region reflective, bounded) minimises the quote
residuals over ``ln κ`` and/or ``ln s`` (:class:`scenarios.calibration.modes.FitMode`). At
each evaluation the weights are either re-solved on the quotes (the modes that fit
probabilities: :func:`scenarios.calibration.solve.solve_weights`) or the request's measure of
the analyst's ``p`` on the scaled jumps (:func:`pricing.mixture.measure.risk_neutral`): the
tilt keeps ``p`` and the story's order and only re-solves ``λ``. ``κ`` starts where the jumps'
variance matches the market's event variance (``√(v_e / Var_q(ln J))``, a lognormal jump's
exact answer); ``s`` starts at 1. Bounds: ``κ`` in [1e-3, 10], ``s`` in [0.1, 10], both
narrowed so every level stays within 1,000× spot and every vol in [1e-4, 5].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from pricing.cancellation import check_cancelled
from pricing.mixture.measure import Measure, NoRiskNeutralMeasure, risk_neutral
from scenarios.calibration.modes import FitMode
from scenarios.calibration.quote_fits import quote_fits, residual_vector
from scenarios.calibration.solve import CalibrationProblem, solve_weights
from scenarios.calibration.verdict import jump_variance
from scenarios.checks import SPOT_FACTOR
from scenarios.vol.model import VolModel

JUMP_SCALE_BOUNDS = (1e-3, 10.0)
VOL_FACTOR_BOUNDS = (0.1, 10.0)
MAX_EVALUATIONS = 200


@dataclass(frozen=True)
class ScaleFit:
    """The fitted ``jump_scale`` (κ) and ``vol_factor`` (s), 1 where not fitted.

    ``evaluations`` counts residual evaluations; ``converged`` is scipy's flag (a step,
    gradient or cost test met before the evaluation limit), not a statement of fit.
    """

    jump_scale: float
    vol_factor: float
    evaluations: int
    converged: bool


def scaled_jumps(jumps: np.ndarray, jump_scale: float) -> np.ndarray:
    """``J^κ``; the jumps themselves at ``κ = 1``."""
    return jumps if jump_scale == 1.0 else np.exp(jump_scale * np.log(jumps))


def priced_weights(
    *,
    problem: CalibrationProblem,
    model: VolModel,
    probabilities: np.ndarray,
    jumps: np.ndarray,
    measure: Measure,
    fit_probabilities: bool,
    max_iterations: int,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(weights, jumps priced with, converged)``: solved on the quotes, or the measure's."""
    if fit_probabilities:
        start = _start(probabilities, jumps)
        solution = solve_weights(problem, model, jumps, start, max_iterations)
        return solution.weights, jumps, solution.converged
    fit = risk_neutral(probabilities=probabilities, jumps=jumps, measure=measure)
    return fit.weights, fit.jumps, True


def _start(probabilities: np.ndarray, jumps: np.ndarray) -> np.ndarray | None:
    try:
        return risk_neutral(probabilities=probabilities, jumps=jumps, measure=Measure.TILT).weights
    except NoRiskNeutralMeasure:
        return None  # the solve starts from the two extreme scenarios


def fit_scales(
    *,
    problem: CalibrationProblem,
    model: VolModel,
    probabilities: np.ndarray,
    jumps: np.ndarray,
    vols: np.ndarray,
    measure: Measure,
    mode: FitMode,
    event_variance: float,
    max_iterations: int,
) -> ScaleFit:
    """``κ`` and/or ``s`` minimising the quote residuals (module docstring).

    Args:
        jumps: the analyst's ``J`` ``[m]``; ``vols``: the post-event flat vols ``[m]``.
        event_variance: ``v_e`` of the market (the start of ``κ``).
    """
    use_jumps, use_vols = mode.fits_jump_scale, mode.fits_post_vols
    log_jumps = np.log(jumps)
    lows, highs, start = [], [], []
    if use_jumps:
        widest = float(np.max(np.abs(log_jumps)))
        top = JUMP_SCALE_BOUNDS[1]
        if widest > 0.0:  # every level stays within 1,000× spot
            top = min(top, 0.99 * math.log(SPOT_FACTOR) / widest)
        prior = risk_neutral(probabilities=probabilities, jumps=jumps, measure=measure)
        variance = jump_variance(prior.weights, prior.jumps)
        guess = math.sqrt(event_variance / variance) if event_variance > 0 < variance else 1.0
        lows.append(math.log(JUMP_SCALE_BOUNDS[0]))
        highs.append(math.log(top))
        start.append(min(max(math.log(guess), lows[-1]), highs[-1]))
    if use_vols:
        lows.append(math.log(max(VOL_FACTOR_BOUNDS[0], 1e-4 / float(vols.min()))))
        highs.append(math.log(min(VOL_FACTOR_BOUNDS[1], 5.0 / float(vols.max()))))
        start.append(min(max(0.0, lows[-1]), highs[-1]))
    m = jumps.size

    def unpack(x: np.ndarray) -> tuple[float, float]:
        kappa = math.exp(x[0]) if use_jumps else 1.0
        factor = math.exp(x[-1]) if use_vols else 1.0
        return kappa, factor

    def residuals(x: np.ndarray) -> np.ndarray:
        check_cancelled()  # each evaluation quotes the mixture (and may re-solve weights)
        kappa, factor = unpack(x)
        scaled_model = model.rescaled(np.full(m, factor))
        weights, priced, _ = priced_weights(
            problem=problem,
            model=scaled_model,
            probabilities=probabilities,
            jumps=scaled_jumps(jumps, kappa),
            measure=measure,
            fit_probabilities=mode.fits_probabilities,
            max_iterations=max_iterations,
        )
        return residual_vector(quote_fits(problem, scaled_model, weights, priced))

    result = least_squares(
        residuals,
        np.array(start),
        bounds=(np.array(lows), np.array(highs)),
        xtol=1e-12,
        ftol=1e-12,
        gtol=1e-12,
        max_nfev=MAX_EVALUATIONS,
    )
    kappa, factor = unpack(result.x)
    return ScaleFit(kappa, factor, int(result.nfev), bool(result.status > 0))
