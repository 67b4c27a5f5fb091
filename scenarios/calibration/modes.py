"""What a fit to market may move, and how close counts as a fit.

Conventions: vols annualised decimals (a tolerance of 0.0025 is 0.25 vol point); jump ratios
``J_i = L_i/S0``; ``κ`` (jump scale) and ``s`` (post-event vol factor) are pure numbers.

A fit mode names the parameters a calibration solves for on the quotes after the event; the
rest stay the analyst's:

``probabilities``
    The scenario weights ``q`` (``q ≥ 0``, ``Σ q = 1``, ``Σ q·J = 1``); levels and post-event
    vols as given (the calibration's historic mode; ``refit_levels`` / ``refit_vols`` add
    per-scenario multipliers).
``jump_scale``
    One common factor on every log jump, ``ln J_i → κ·ln J_i`` (every level moved toward, or
    away from, the forward by the same proportion of its log distance, the story's order
    kept); the weights are the request's measure re-solved on the scaled jumps from the
    analyst's ``p``.
``post_vols``
    One common factor on every post-event vol, ``σ_i → s·σ_i``; weights from the measure.
``jump_scale_and_post_vols``
    ``κ`` and ``s`` together; weights from the measure.
``probabilities_and_jump_scale``, ``probabilities_and_post_vols``
    ``κ`` (or ``s``) in an outer least squares, the weights re-solved inside it.

A fit *fits* only when every quote's residual is within its kind's tolerance
(:class:`FitTolerances`); the optimiser's own convergence flag says nothing about that.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scenarios import checks


class FitMode(StrEnum):
    """The parameters a fit to market solves for (module docstring)."""

    PROBABILITIES = "probabilities"
    JUMP_SCALE = "jump_scale"
    POST_VOLS = "post_vols"
    JUMP_SCALE_AND_POST_VOLS = "jump_scale_and_post_vols"
    PROBABILITIES_AND_JUMP_SCALE = "probabilities_and_jump_scale"
    PROBABILITIES_AND_POST_VOLS = "probabilities_and_post_vols"

    @property
    def fits_probabilities(self) -> bool:
        return self.value.startswith("probabilities")

    @property
    def fits_jump_scale(self) -> bool:
        return "jump_scale" in self.value

    @property
    def fits_post_vols(self) -> bool:
        return "post_vols" in self.value


class FitStatus(StrEnum):
    """``fits``: every quote within its tolerance; ``does_not_fit`` otherwise."""

    FITS = "fits"
    DOES_NOT_FIT = "does_not_fit"


@dataclass(frozen=True)
class FitTolerances:
    """Largest ``|model − market|`` per quote kind that still counts as a fit (decimal vols).

    Defaults: 0.25 vol point on ATM, 0.5 on risk reversals, butterflies and option vols
    (about the bid–offer of USD/JPY quotes at these tenors).
    """

    atm: float = 0.0025
    rr: float = 0.005
    bf: float = 0.005
    vol: float = 0.005

    def __post_init__(self) -> None:
        for name in ("atm", "rr", "bf", "vol"):
            checks.in_range(name, getattr(self, name), 1e-12, 0.05, " (a decimal vol)")

    def holds(self, kind: str, residual: float | None) -> bool:
        """``|residual| ≤`` the tolerance of ``kind`` (to 1e-9 of it: a quote exactly on the
        boundary fits whatever the rounding); a quote not solved (None) does not."""
        return residual is not None and abs(residual) <= self.of(kind) * (1.0 + 1e-9)

    def of(self, kind: str) -> float:
        """The tolerance of a quote of ``kind`` (atm, rr25, bf25, rr10, bf10, vol)."""
        if kind.startswith("rr"):
            return self.rr
        if kind.startswith("bf"):
            return self.bf
        return self.atm if kind == "atm" else self.vol
