"""Does the fitted mixture fit the market? The status, and the reasons in the desk's words.

Conventions: vols annualised decimals (reasons speak in vol points, 1 = 0.01); variances
are total variances (decimal², ``σ²·T``); jump ratios ``J_i = L_i/S0``.

**Status.** ``fits`` only when every quote's residual is within its kind's tolerance
(:class:`scenarios.calibration.modes.FitTolerances`); a quote the mixture cannot be quoted at
counts as a miss. Otherwise ``does_not_fit``, with the worst misses named ("1M ATM misses by
+4.45 vol points (tolerance 0.25)").

**Event variance.** The jumps' variance ``Var_q(ln J)`` under the weights priced with, beside
the variance the market's ATM term structure holds for the decision
(:meth:`scenarios.market.MarketSnapshot.event_strip`): a lognormal jump with ``Var(ln J) = v``
on a lognormal diffusion adds exactly ``v`` to every later expiry's total variance, so the
ratio says how much more (or less) event the scenarios carry than the options pay for. The
least variance any admissible weights (``q ≥ 0``, ``Σ q = 1``, ``Σ q·J = 1``) give the same
levels is reported too: ``Var_q(ln J)`` is concave in ``q``, so its minimum over that
polytope sits at a vertex — two scenarios straddling the forward, or one at it. A reason
names the gap when the fit fails and the ratio lies outside [0.8, 1.25] (within it, the
event's size is not what breaks the fit).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from scenarios.calibration.modes import FitMode, FitStatus, FitTolerances
from scenarios.calibration.quote_fits import QuoteFit

RATIO_BAND = (0.8, 1.25)  # jump variance / market event variance read as "about right"
LISTED_MISSES = 3


@dataclass(frozen=True)
class EventVarianceCheck:
    """The scenarios' event variance beside the market's.

    Attributes:
        event_date: the decision.
        market: ``v_e``, total variance the ATM term structure holds for the event.
        jumps: ``Var_q(ln J)`` under the weights and jumps priced with.
        least_possible: the least ``Var_q(ln J)`` of any admissible weights on these jumps
            (NaN when no weights make the mixture forward the market's).
        sizing: how ``v_e`` was read (``term_structure`` or ``event_day_weight``).
    """

    event_date: dt.date
    market: float
    jumps: float
    least_possible: float
    sizing: str

    @property
    def ratio(self) -> float | None:
        """``jumps / market``; None when the market holds no event variance."""
        return self.jumps / self.market if self.market > 0.0 else None

    @property
    def market_event_day_vol(self) -> float:
        """The annualised vol of one day carrying ``market``: ``√(365·v_e)``."""
        return math.sqrt(365.0 * self.market)


def jump_variance(weights: np.ndarray, jumps: np.ndarray) -> float:
    """``Var_q(ln J) = Σ q·(ln J)² − (Σ q·ln J)²`` (never below 0)."""
    log_jumps = np.log(np.asarray(jumps, dtype=float))
    q = np.asarray(weights, dtype=float)
    mean = float(q @ log_jumps)
    return max(float(q @ (log_jumps - mean) ** 2), 0.0)


def least_jump_variance(jumps: np.ndarray) -> float:
    """The least ``Var_q(ln J)`` over ``q ≥ 0``, ``Σ q = 1``, ``Σ q·J = 1`` (module
    docstring): 0 with a jump of 1, NaN when every jump lies on one side of 1."""
    j = np.asarray(jumps, dtype=float)
    if np.any(j == 1.0):
        return 0.0
    below, above = j[j < 1.0], j[j > 1.0]
    if below.size == 0 or above.size == 0:
        return math.nan
    lo, hi = below[:, None], above[None, :]
    q_lo = (hi - 1.0) / (hi - lo)  # the pair mixed to the forward
    gap = np.log(hi) - np.log(lo)
    return float(np.min(q_lo * (1.0 - q_lo) * gap * gap))


@dataclass(frozen=True)
class FitVerdict:
    """``status``, the reasons for it (sentences), and how many quotes missed."""

    status: FitStatus
    reasons: tuple[str, ...]
    misses: int


def quote_name(fit: QuoteFit) -> str:
    """The quote as a desk says it: ``1M ATM``, ``3M 25Δ RR``, ``option 6M (strike 135)``."""
    if fit.kind == "atm":
        return f"{fit.label} ATM"
    if fit.kind[:2] in ("rr", "bf"):
        return f"{fit.label} {fit.kind[2:]}Δ {fit.kind[:2].upper()}"
    return f"option {fit.label} (strike {fit.strike:g})"


def judge(
    *,
    fits: tuple[QuoteFit, ...],
    tolerances: FitTolerances,
    event: EventVarianceCheck,
    mode: FitMode,
) -> FitVerdict:
    """The status of ``fits`` against ``tolerances`` and the reasons (module docstring)."""
    scored, misses = [], []
    for fit in fits:
        tolerance = tolerances.of(fit.kind)
        excess = math.inf if fit.residual is None else abs(fit.residual) / tolerance
        scored.append((excess, fit, tolerance))
        if not tolerances.holds(fit.kind, fit.residual):
            misses.append(scored[-1])
    if not misses:
        worst = max(scored, key=lambda s: s[0], default=None)
        reason = f"every one of the {len(fits)} quotes is within its tolerance"
        if worst is not None and worst[1].residual is not None:
            reason += (
                f"; the largest miss is {quote_name(worst[1])} by "
                f"{100 * worst[1].residual:+.3g} vol points (tolerance {100 * worst[2]:.3g})"
            )
        return FitVerdict(FitStatus.FITS, (reason,), 0)
    misses.sort(key=lambda s: -s[0])
    reasons = [f"{len(misses)} of {len(fits)} quotes miss their tolerance"]
    for _, fit, tolerance in misses[:LISTED_MISSES]:
        if fit.residual is None:
            reasons.append(f"the mixture could not be quoted at {quote_name(fit)}")
        else:
            reasons.append(
                f"{quote_name(fit)} misses by {100 * fit.residual:+.2f} vol points "
                f"(tolerance {100 * tolerance:.2f})"
            )
    gap = _event_gap(event, mode)
    if gap:
        reasons.append(gap)
    return FitVerdict(FitStatus.DOES_NOT_FIT, tuple(reasons), len(misses))


def _event_gap(event: EventVarianceCheck, mode: FitMode) -> str | None:
    """The event-variance sentence when the jumps' variance is off the market's."""
    date = event.event_date.isoformat()
    ratio = event.ratio
    if ratio is None:
        if event.jumps <= 0.0:
            return None
        return (
            f"the market's ATM term structure holds no event variance to strip for {date}, "
            f"while the jumps carry Var_q(ln J) = {event.jumps:.3g}"
        )
    if RATIO_BAND[0] <= ratio <= RATIO_BAND[1]:
        return None
    source = (
        f"Var_q(ln J) = {event.jumps:.3g} under the weights priced with, against "
        f"{event.market:.3g} the ATM term structure holds for {date} (an event-day vol of "
        f"{100 * event.market_event_day_vol:.1f}%)"
    )
    if ratio < RATIO_BAND[0]:
        return f"the jumps imply only {ratio:.2f}× the market's event variance: {source}"
    sentence = f"the jumps imply {ratio:.1f}× the market's event variance: {source}"
    least = event.least_possible
    reweighting_only = mode.fits_probabilities and not mode.fits_jump_scale
    if reweighting_only and least > RATIO_BAND[1] * event.market:
        sentence += (
            f"; no weights on these levels carry less than {least:.3g} "
            f"({least / event.market:.1f}×), so no reweighting can fit: fit jump_scale to "
            f"bring the levels toward the forward"
        )
    return sentence
