"""Risk-neutral reweighting of scenario probabilities, with its Jacobians.

Under the pricing measure the mixture forward must equal the market forward:
``Σ q_i J_i = 1``. Three choices (DESIGN.md):

* ``tilt``: ``q_i ∝ p_i·J_i^λ`` with λ solved so that ``Σ q_i J_i = 1`` — the Esscher
  transform of ``p`` (Gerber & Shiu 1994), the measure of least relative entropy to ``p``
  among those with the same ``E[ln J]`` (Csiszár 1975). (The least-entropy measure under the
  forward constraint itself would be ``q ∝ p·e^{λJ}``; the power form keeps the tilt a change
  of drift of the log-return, as for a lognormal.) It exists iff the jumps of the scenarios
  with ``p_i > 0`` straddle 1 (``min J < 1 < max J``), or all equal 1.
* ``scale``: keep ``q = p`` and rescale the jumps, ``J_i ← J_i / Σ_j p_j J_j``.
* ``none``: ``q = p``, jumps as given; the forward mismatch ``Σ p_i J_i − 1`` is reported.

Each result carries ``dq/dJ`` and ``dJ_eff/dJ`` so that sensitivities to the post-event
levels include the re-solved measure (implicit differentiation of the tilt constraint).

A decision tree (:mod:`pricing.mixture.tree`) is adjusted node by node; its
:class:`MeasureFit` is over the tree's leaves (weights ``Π q``, cumulative effective jumps
``Π J_eff``) with the derivatives taken in each *branch*'s jump, and each node's own fit in
:attr:`MeasureFit.nodes` (:class:`NodeFit`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.optimize import brentq


class Measure(StrEnum):
    TILT = "tilt"
    SCALE = "scale"
    NONE = "none"


class NoRiskNeutralMeasure(ValueError):
    """The tilt cannot reach ``Σ q J = 1``: every jump with weight lies on one side of 1."""


@dataclass(frozen=True)
class MeasureFit:
    """Weights and jumps to price with.

    Attributes:
        measure: the choice made.
        weights: q, shape [m], sum 1.
        jumps: effective jump ratios, shape [m].
        tilt: λ for ``tilt``, None otherwise.
        forward_mismatch: ``Σ q_i J_eff,i − 1`` (what prices embed; ~1e-16 unless ``none``).
        subjective_mismatch: ``Σ p_i J_i − 1`` before any adjustment.
        d_weights: ``∂q_i/∂J_k``, shape [m, m].
        d_jumps: ``∂J_eff,i/∂J_k``, shape [m, m].
        nodes: None for a flat set. For a decision tree, one :class:`NodeFit` per node (the
            tree's node order); the fields above are then over its ``L`` leaves and ``B``
            branches: ``weights`` ``Π q`` and ``jumps`` ``Π J_eff`` along each path ``[L]``,
            ``d_weights``/``d_jumps`` ``[L, B]`` their derivatives in each branch's given
            jump ``J_b`` (through that node's re-solved measure; ``∂/∂L_b = ∂/∂J_b / S0``),
            ``tilt`` the root's λ, ``forward_mismatch`` and ``subjective_mismatch`` the
            leaves' ``Σ w J − 1`` (each node's own in :attr:`NodeFit.forward_mismatch`).
        paths: a tree's ``[L, D]`` branch (flat index into the branches, node by node) at each
            decision level of each leaf, ``-1`` past the leaf; None for a flat set.
    """

    measure: Measure
    weights: np.ndarray
    jumps: np.ndarray
    tilt: float | None
    forward_mismatch: float
    subjective_mismatch: float
    d_weights: np.ndarray
    d_jumps: np.ndarray
    nodes: tuple[NodeFit, ...] | None = None
    paths: np.ndarray | None = None


@dataclass(frozen=True)
class NodeFit:
    """The pricing measure at one decision node of a tree.

    Attributes:
        id: the node's id.
        date: its decision date.
        time: years ACT/365F from the valuation date to ``date``.
        branch_names: ``[b_k]`` the node's branches, in order.
        branches: ``[b_k]`` their flat indices among the tree's branches (int).
        fit: the node's own measure over its branches (:func:`risk_neutral`): ``weights`` q
            and ``jumps`` J_eff per branch, ``tilt`` λ, ``forward_mismatch`` ``Σ q J − 1``,
            ``d_weights``/``d_jumps`` ``[b_k, b_k]`` in the node's own given jumps.
    """

    id: str
    date: dt.date
    time: float
    branch_names: tuple[str, ...]
    branches: np.ndarray
    fit: MeasureFit

    @property
    def tilt(self) -> float | None:
        """λ at this node (None unless tilted)."""
        return self.fit.tilt

    @property
    def forward_mismatch(self) -> float:
        """``Σ_b q_b J_eff,b − 1`` at this node (~1e-16 unless ``none``)."""
        return self.fit.forward_mismatch

    @property
    def weights(self) -> np.ndarray:
        """q per branch, given the node is reached (sum 1)."""
        return self.fit.weights

    @property
    def jumps(self) -> np.ndarray:
        """Effective jump ratio per branch."""
        return self.fit.jumps


def _tilted(probabilities: np.ndarray, log_jumps: np.ndarray, lam: float) -> np.ndarray:
    exponents = np.where(probabilities > 0.0, lam * log_jumps, -np.inf)
    weights = np.where(probabilities > 0.0, probabilities, 0.0) * np.exp(
        exponents - exponents.max()
    )
    tilted: np.ndarray = weights / weights.sum()
    return tilted


def _solve_tilt(probabilities: np.ndarray, jumps: np.ndarray) -> float:
    log_jumps = np.log(jumps)
    live = probabilities > 0.0
    if np.all(jumps[live] == 1.0):
        return 0.0
    if not (jumps[live].min() < 1.0 < jumps[live].max()):
        raise NoRiskNeutralMeasure(
            f"jump ratios of the scenarios with probability span "
            f"[{jumps[live].min():.6g}, {jumps[live].max():.6g}], all on one side of 1"
        )

    def excess(lam: float) -> float:
        return float(_tilted(probabilities, log_jumps, lam) @ (jumps - 1.0))

    lo, hi = -1.0, 1.0
    while excess(lo) > 0.0:
        lo *= 2.0
    while excess(hi) < 0.0:
        hi *= 2.0
    lam = brentq(excess, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    # one Newton step on the smooth constraint polishes brentq's bracket to full precision
    q = _tilted(probabilities, log_jumps, lam)
    slope = float(q @ (jumps * (log_jumps - q @ log_jumps)))
    if slope > 0.0:
        lam -= float(q @ jumps - 1.0) / slope
    return float(lam)


def risk_neutral(*, probabilities: np.ndarray, jumps: np.ndarray, measure: Measure) -> MeasureFit:
    """Pricing weights and jumps from subjective ``probabilities`` [m] and ``jumps`` [m].

    Raises:
        NoRiskNeutralMeasure: for ``tilt`` when no λ exists.
    """
    p = np.asarray(probabilities, dtype=float)
    j = np.asarray(jumps, dtype=float)
    m = p.shape[0]
    subjective = float(p @ j - 1.0)
    eye = np.eye(m)
    if measure is Measure.NONE:
        return MeasureFit(measure, p, j, None, subjective, subjective, np.zeros((m, m)), eye)
    if measure is Measure.SCALE:
        mean = float(p @ j)
        jeff = j / mean
        d_jumps = eye / mean - np.outer(j, p) / mean**2
        return MeasureFit(
            measure, p, jeff, None, float(p @ jeff - 1.0), subjective, np.zeros((m, m)), d_jumps
        )
    lam = _solve_tilt(p, j)
    log_j = np.log(j)
    q = _tilted(p, log_j, lam)
    # ∂q_i/∂J_k at fixed λ, ∂q_i/∂λ, and λ'(J_k) from ∂g/∂λ·dλ + ∂g/∂J_k = 0, g = Σ q J − 1.
    dq_dj_fixed = (lam / j)[None, :] * q[:, None] * (eye - q[None, :])
    dq_dlam = q * (log_j - q @ log_j)
    dg_dlam = float(dq_dlam @ j)
    dg_dj = q + j @ dq_dj_fixed
    dlam_dj = -dg_dj / dg_dlam if dg_dlam > 0.0 else np.zeros(m)
    d_weights = dq_dj_fixed + np.outer(dq_dlam, dlam_dj)
    return MeasureFit(measure, q, j, lam, float(q @ j - 1.0), subjective, d_weights, eye)
