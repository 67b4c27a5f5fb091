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
the quotes fix it, never as an arbitrary split. A scenario the fit leaves at zero weight
carries none: the response counts it apart from the identified ones.

**Fit to market** (:mod:`scenarios.calibration.modes`): besides the probabilities, a fit may
solve for one common jump scale ``κ`` (``ln J_i → κ·ln J_i``) and/or one common post-event vol
factor ``s`` (:mod:`scenarios.calibration.scales`), the weights then re-solved on the quotes
or taken from the measure of the analyst's ``p``. Every calibration says whether it *fits*
(each quote within its tolerance) and why not (:mod:`scenarios.calibration.verdict`: the
worst misses, the jumps' variance against the market's event variance), and returns the
fitted scenario set (:mod:`scenarios.calibration.fitted_set`). ``converged`` is only the
optimisers' flag. :func:`fit_to_market` is the cached fit the pricing routes use.

**Decision trees** (fit ``probabilities``, :mod:`scenarios.calibration.tree_fit`): a set
carrying a tree is fitted node by node — each node's branch weights ``q_b`` with ``q ≥ 0``,
``Σ q = 1`` and ``Σ q·J = 1`` at that node (the martingale per node), the leaves (the set's
scenarios) weighing ``Π q`` along their paths — on the same rows in vol units, the quotes
between the decisions and after them (by default the surface's pillars after the root).
``Calibration.tree`` holds each node's fit beside the analyst's ``p``; ``weights`` and
``identification`` are the leaves'; the fitted set is the tree with each branch's
probability its fitted ``q``. The other modes, and per-scenario refits, fit one decision
and refuse a tree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.optimize import least_squares

from pricing.cancellation import check_cancelled
from pricing.mixture.measure import Measure, MeasureFit
from pricing.mixture.weight_fit import Identification, NoFeasibleWeights, identify
from scenarios import checks
from scenarios.calibration.fitted_set import fitted_scenario_set, fitted_tree_set
from scenarios.calibration.modes import FitMode, FitTolerances
from scenarios.calibration.quote_fits import QuoteFit, quote_fits
from scenarios.calibration.rows import OptionQuote
from scenarios.calibration.scales import fit_scales, priced_weights, scaled_jumps
from scenarios.calibration.solve import (
    CalibrationProblem,
    build_problem,
    frozen_rows,
    solve_weights,
)
from scenarios.calibration.tree_fit import (
    TreeCalibration,
    TreeLayout,
    check_nodes,
    extra_starts,
    free_dimensions,
    identify_tree,
    solve_tree,
    tree_calibration,
)
from scenarios.calibration.verdict import (
    EventVarianceCheck,
    FitVerdict,
    judge,
    jump_variance,
    least_jump_variance,
)
from scenarios.errors import DomainError, ErrorKind
from scenarios.fx.valuation import fit_measure
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.model import VolModel, build_vol_model
from scenarios.vol.smiles import SmileQuote

WEIGHT_FLOOR = 1e-12  # a weight at or below this carries nothing (the solve's zeros are exact)


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
        mode: what the fit solves for (:class:`scenarios.calibration.modes.FitMode`);
            ``refit_levels``/``refit_vols`` apply to ``probabilities`` only.
        tolerances: per quote kind, the residual (decimal vol) that still fits.
    """

    vol_tolerance: float = 1e-6
    probability_resolution: float = 0.01
    refit_levels: bool = False
    refit_vols: bool = False
    prior_weight: float = 0.01
    max_iterations: int = 50
    mode: FitMode = FitMode.PROBABILITIES
    tolerances: FitTolerances = field(default_factory=FitTolerances)

    @property
    def threshold(self) -> float:
        return self.vol_tolerance / self.probability_resolution


@dataclass(frozen=True)
class Calibration:
    """The implied weights beside the subjective and prior ones, with fit and identification.

    ``weights`` is a solution; where ``identification.unidentified`` it is one among many
    (report ``identification.ranges`` there instead). Under a mode that does not fit the
    probabilities, ``weights`` are the measure's of the analyst's ``p`` on the fitted jumps,
    and ``identification`` is empty. ``jumps`` are the jumps priced with (the measure's
    effective ones), ``levels`` the fitted set's. ``converged`` is the optimisers' flag;
    whether the mixture fits the quotes is ``verdict``. For a decision tree the arrays are
    over its leaves (``weights`` ``Π q``, ``jumps`` and ``levels`` cumulative along each
    path) and ``tree`` holds each node's fitted ``q`` with its identification.
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
    mode: FitMode = FitMode.PROBABILITIES
    jump_scale: float = 1.0
    vol_factor: float = 1.0
    outer_evaluations: int = 0
    verdict: FitVerdict | None = None
    event: EventVarianceCheck | None = None
    fitted_set: ScenarioSet | None = None
    fitted_set_note: str | None = None
    tree: TreeCalibration | None = None

    @property
    def forward_mismatch(self) -> float:
        return float(self.weights @ self.jumps - 1.0)

    @property
    def carries_weight(self) -> np.ndarray:
        """``[m]`` True where the fitted mixture puts weight on the scenario (``q > 0``)."""
        return np.asarray(self.weights > WEIGHT_FLOOR)


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
        DomainError: quotes before the event (``quotes[i].tenor``), no quotes
            (``quotes``), jumps that do not straddle 1 (``scenario_set.scenarios``), a
            scenario smile no SVI slice matches, a refit outside ``probabilities``
            (``refit_levels``/``refit_vols``), a mode with nothing to fit or a vol factor
            on a scenario smile (``fit``); for a tree, a refit or a mode other than
            ``probabilities`` (``refit_levels``/``refit_vols``, ``fit``), every node fixed by
            its constraints (``fit``), a node whose jumps all lie on one side of 1
            (``scenario_set.tree.nodes[i].branches``, kind ``no_measure``).
    """
    settings = settings or CalibrationSettings()
    mode = settings.mode
    for name in ("refit_levels", "refit_vols"):
        if getattr(settings, name) and mode is not FitMode.PROBABILITIES:
            raise DomainError.field(
                name,
                f"applies to fit 'probabilities' only, got fit '{mode}': its common scales "
                f"replace the per-scenario refit",
            )
    for i, option in enumerate(options):
        checks.near_spot(f"options[{i}].strike", option.strike, market.spot)
    prior = fit_measure(market, scenario_set, measure)
    model = build_vol_model(market, scenario_set)
    problem = build_problem(market, scenario_set, quotes, options, option_dates)
    if scenario_set.tree is not None and mode is FitMode.PROBABILITIES:
        return _calibrate_tree(market, scenario_set, problem, model, prior, settings)
    spot = market.spot
    given = np.array([s.level for s in scenario_set.scenarios])
    probabilities = np.array([s.probability for s in scenario_set.scenarios])
    if mode.fits_probabilities and not (np.any(given == spot) or given.min() < spot < given.max()):
        raise _no_weights(f"levels span [{given.min():g}, {given.max():g}]", spot)
    _check_something_to_fit(mode, settings, scenario_set, given / spot)
    decisions = scenario_set.event_times(market.valuation_date)
    strip = market.event_strip(decisions)
    event_variance = float(strip.event_variances.sum())
    levels, scales = given, np.ones(given.size)
    outer = None
    try:
        if settings.refit_levels or settings.refit_vols:
            levels, scales = _refit(problem, model, levels, prior.weights, settings)
        elif mode.fits_jump_scale or mode.fits_post_vols:
            outer = fit_scales(
                problem=problem,
                model=model,
                probabilities=probabilities,
                jumps=given / spot,
                vols=np.array([s.vol for s in scenario_set.scenarios]),
                measure=measure,
                mode=mode,
                event_variance=event_variance,
                max_iterations=settings.max_iterations,
            )
            if outer.jump_scale != 1.0:
                levels = spot * scaled_jumps(given / spot, outer.jump_scale)
            scales = np.full(given.size, outer.vol_factor)
        scaled = model.rescaled(scales)
        if mode.fits_probabilities:
            solution = solve_weights(
                problem, scaled, levels / spot, prior.weights, settings.max_iterations
            )
            weights, jumps = solution.weights, levels / spot
            found = identify(
                matrix=solution.matrix, jumps=jumps, weights=weights, threshold=settings.threshold
            )
            iterations, converged = solution.iterations, solution.converged
        else:
            weights, jumps, converged = priced_weights(
                problem=problem,
                model=scaled,
                probabilities=probabilities,
                jumps=levels / spot,
                measure=measure,
                fit_probabilities=False,
                max_iterations=settings.max_iterations,
            )
            found, iterations = _not_fitted(weights), 0
    except NoFeasibleWeights as exc:
        raise _no_weights(str(exc), spot) from exc
    if outer is not None:
        converged = converged and outer.converged
    fits = quote_fits(problem, scaled, weights, jumps)
    event = EventVarianceCheck(
        event_date=scenario_set.event_date,
        market=event_variance,
        jumps=jump_variance(weights, jumps),
        least_possible=least_jump_variance(levels / spot),
        sizing=strip.sizing.value,
    )
    kappa = outer.jump_scale if outer is not None else 1.0
    factor = outer.vol_factor if outer is not None else 1.0
    fitted_set, why_not = fitted_scenario_set(
        scenario_set=scenario_set,
        levels=levels,
        probabilities=weights if mode.fits_probabilities else probabilities,
        vol_scales=scales,
        note=_note(mode, measure, kappa, factor, settings),
    )
    return Calibration(
        scenario_names=tuple(s.name for s in scenario_set.scenarios),
        probabilities=probabilities,
        prior=prior,
        weights=weights,
        jumps=jumps,
        levels=levels,
        vol_scales=scales,
        identification=found,
        fits=fits,
        iterations=iterations,
        converged=converged,
        settings=settings,
        mode=mode,
        jump_scale=kappa,
        vol_factor=factor,
        outer_evaluations=outer.evaluations if outer is not None else 0,
        verdict=judge(fits=fits, tolerances=settings.tolerances, event=event, mode=mode),
        event=event,
        fitted_set=fitted_set,
        fitted_set_note=why_not,
    )


def _calibrate_tree(
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    problem: CalibrationProblem,
    model: VolModel,
    prior: MeasureFit,
    settings: CalibrationSettings,
) -> Calibration:
    """A decision tree's node weights fitted to the quotes (:mod:`scenarios.calibration.
    tree_fit`): the leaf figures of :class:`Calibration` (``weights`` ``Π q``, their
    identification) and each node's in ``tree``, the fitted tree in ``fitted_set``."""
    tree = scenario_set.tree
    assert tree is not None
    for name in ("refit_levels", "refit_vols"):
        if getattr(settings, name):
            raise DomainError.field(
                name,
                "applies to a flat set only: a decision tree's levels and vols are its "
                "branches', and its fit solves each node's probabilities",
            )
    layout = TreeLayout.of(tree, valuation_date=market.valuation_date, spot=market.spot)
    check_nodes(tree, layout)
    if free_dimensions(layout) == 0:
        raise DomainError.field(
            "fit",
            "'probabilities' has nothing to fit: at every node of the tree Σ q = 1 and "
            "Σ q·J = 1 fix the weights (no node has three branches with distinct jumps); add "
            "branches to a node",
        )
    leaves = fit_measure(market, scenario_set, Measure.NONE)  # the leaves' jumps, q = p
    leaf_jumps = np.asarray(leaves.jumps, dtype=float)
    assert prior.nodes is not None  # a tree's measure, node by node
    initial = np.zeros(layout.jumps.size)
    for node in prior.nodes:
        initial[node.branches] = np.maximum(node.weights, 0.0)
    p = np.array([b.probability for node in tree.nodes for b in node.branches])
    solution = solve_tree(
        problem=problem,
        model=model,
        layout=layout,
        tree_fit=leaves,
        leaf_jumps=leaf_jumps,
        starts=(initial, *extra_starts(layout, p)),
        max_iterations=settings.max_iterations,
        good_enough=settings.vol_tolerance**2,
    )
    found = identify_tree(
        matrix=solution.matrix,
        layout=layout,
        weights=solution.weights,
        threshold=settings.threshold,
    )
    report = tree_calibration(
        tree=tree, layout=layout, prior=prior, weights=solution.weights, found=found
    )
    weights = solution.leaf_weights
    fits = quote_fits(problem, model, weights, leaf_jumps, leaves)
    decisions = scenario_set.event_times(market.valuation_date)
    strip = market.event_strip(decisions)
    event = EventVarianceCheck(
        event_date=scenario_set.event_date,
        market=float(strip.event_variances.sum()),
        jumps=jump_variance(weights, leaf_jumps),
        least_possible=least_jump_variance(leaf_jumps),
        sizing=strip.sizing.value,
    )
    unfixed = [node.id for node in report.nodes if not node.identified]
    note = (
        "Fitted to market (fit 'probabilities'), node by node: each branch's probability is "
        "its node's fitted risk-neutral weight (Σ q = 1 and Σ q·J = 1 at every node)"
    )
    if unfixed:
        note += (
            f"; the quotes do not identify the split at node{'s' if len(unfixed) > 1 else ''} "
            f"{', '.join(unfixed)}: the probabilities there are one solution among the range "
            f"the calibration reports"
        )
    fitted_set, why_not = fitted_tree_set(
        scenario_set=scenario_set, node_weights=report.weights, spot=market.spot, note=note + "."
    )
    return Calibration(
        scenario_names=tuple(s.name for s in scenario_set.scenarios),
        probabilities=np.array([s.probability for s in scenario_set.scenarios]),
        prior=prior,
        weights=weights,
        jumps=leaf_jumps,
        levels=market.spot * leaf_jumps,
        vol_scales=np.ones(weights.size),
        identification=found.leaves,
        fits=fits,
        iterations=solution.iterations,
        converged=solution.converged,
        settings=settings,
        mode=FitMode.PROBABILITIES,
        verdict=judge(
            fits=fits, tolerances=settings.tolerances, event=event, mode=FitMode.PROBABILITIES
        ),
        event=event,
        fitted_set=fitted_set,
        fitted_set_note=why_not,
        tree=report,
    )


@lru_cache(maxsize=64)
def fit_to_market(
    market: MarketSnapshot, scenario_set: ScenarioSet, measure: Measure, mode: FitMode
) -> Calibration:
    """``scenario_set`` fitted by ``mode`` to the market's own pillars after the event (the
    surface's ATM/RR/BF, default tolerances) under ``measure``: the fit the pricing routes
    price under. Cached per (market, set, measure, mode); the result is read only."""
    return calibrate(
        market=market,
        scenario_set=scenario_set,
        measure=measure,
        settings=CalibrationSettings(mode=mode),
    )


def _no_weights(detail: str, spot: float) -> DomainError:
    return DomainError.field(
        "scenario_set.scenarios",
        f"no weights make the mixture forward the market forward: {detail}; the levels must "
        f"lie on both sides of spot {spot:g}",
        ErrorKind.NO_MEASURE,
    )


def _check_something_to_fit(
    mode: FitMode, settings: CalibrationSettings, scenario_set: ScenarioSet, jumps: np.ndarray
) -> None:
    """A vol factor needs flat post-event vols to be written back into; a mode whose free
    parameters move nothing (weights fixed by the two constraints, no jump to scale) has
    nothing to fit."""
    scenarios = scenario_set.scenarios
    if mode is not FitMode.PROBABILITIES and getattr(scenario_set, "tree", None) is not None:
        raise DomainError.field(
            "fit",
            f"'{mode}' fits a set of one decision; this set is a decision tree, whose levels "
            f"and vols are its branches': fit 'probabilities', or give the scenarios flat",
        )
    if mode.fits_post_vols:
        for i, scenario in enumerate(scenarios):
            if scenario.smile is not None:
                raise DomainError.field(
                    "fit",
                    f"'{mode}' multiplies the flat post-event vols by one factor, and "
                    f"scenario_set.scenarios[{i}] ({scenario.name}) has a smile it cannot be "
                    f"written into: give that scenario a flat vol, or fit 'jump_scale' or "
                    f"'probabilities'",
                )
    m = len(scenarios)
    free = 1 if mode.fits_post_vols else 0
    why = []
    if mode.fits_probabilities:
        free += max(m - 2, 0) + m * (settings.refit_levels + settings.refit_vols)
        if m <= 2:
            why.append(
                f"with {m} scenario{'s' if m > 1 else ''}, Σ q = 1 and Σ q·J = 1 fix the weights"
            )
    if mode.fits_jump_scale:
        if np.any(jumps != 1.0):
            free += 1
        else:
            why.append("every level equals spot, so there is no jump to scale")
    if free == 0:
        raise DomainError.field(
            "fit",
            f"'{mode}' has nothing to fit: {'; '.join(why)}; add scenarios, or fit "
            f"'post_vols' or 'jump_scale'",
        )


def _not_fitted(weights: np.ndarray) -> Identification:
    """The identification of weights the quotes did not set (the measure's): none."""
    m = weights.size
    return Identification(
        np.zeros(0), np.zeros((m, 0)), np.zeros(m, bool), (), np.zeros(0), np.c_[weights, weights]
    )


def _note(
    mode: FitMode, measure: Measure, kappa: float, factor: float, settings: CalibrationSettings
) -> str:
    """What the fitted set's figures are, for its description."""
    moved = [f"jump scale κ = {kappa:.8g}"] if mode.fits_jump_scale else []
    if mode.fits_post_vols:
        moved.append(f"post-event vol factor {factor:.8g}")
    if settings.refit_levels or settings.refit_vols:
        moved.append("levels and vols refitted per scenario")
    weights = (
        "the probabilities are the fitted risk-neutral weights"
        if mode.fits_probabilities
        else f"the probabilities are the analyst's, re-weighted by the '{measure}' measure"
    )
    fitted = ", ".join(moved) if moved else "the probabilities only"
    return f"Fitted to market (fit '{mode}'): {fitted}; {weights}."


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
