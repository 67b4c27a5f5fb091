"""Monte Carlo estimators over path blocks: sampling units, streaming moment sums, and
post-stratified means with their standard errors.

Sampling units. A path is one unit; with antithetics a unit is the average of a path and its
partner (the pair is what is independent). Sums stream: each block adds per-(replicate,
scenario) counts, sums and sums of squares, and blocks are merged in block order, so the
results do not depend on how blocks were spread over threads.

Estimators. Means are post-stratified, ``Σ_i w_i·mean_i`` with the model's weights, so
neither the scenario draw nor the rounding of the counts adds noise; their errors come from
the within-scenario variances (pseudo-random) or from the spread of the replicates (Sobol,
randomised QMC).

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §4.1
(antithetics), §4.3 (stratification and post-stratification), §5.5 (randomised QMC errors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def unit_values(values: np.ndarray, *, antithetic: bool) -> np.ndarray:
    """Per sampling unit values ``[..., n_units]`` from per-path ``values [..., n]``."""
    if not antithetic:
        return values
    half = values.shape[-1] // 2
    pairs: np.ndarray = 0.5 * (values[..., :half] + values[..., half:])
    return pairs


@dataclass
class MomentSums:
    """Streaming sums of per-unit statistics ``[s]`` by (replicate, scenario).

    ``offsets`` [s] are subtracted before summing (e.g. the forward) to keep the
    variance ``Σx² − (Σx)²/n`` free of cancellation.
    """

    counts: np.ndarray
    sums: np.ndarray
    squares: np.ndarray
    offsets: np.ndarray

    @classmethod
    def zeros(cls, *, replicates: int, scenarios: int, offsets: np.ndarray) -> MomentSums:
        shape = (replicates, scenarios, offsets.size)
        return cls(np.zeros((replicates, scenarios)), np.zeros(shape), np.zeros(shape), offsets)

    def add(self, *, replicate: int, scenario: int, values: np.ndarray) -> None:
        """Add ``values [s, n_units]`` of one scenario's sampling units."""
        centred = values - self.offsets[:, None]
        self.counts[replicate, scenario] += values.shape[1]
        self.sums[replicate, scenario] += centred.sum(axis=1)
        self.squares[replicate, scenario] += np.einsum("ij,ij->i", centred, centred)

    def merge(self, other: MomentSums) -> MomentSums:
        self.counts += other.counts
        self.sums += other.sums
        self.squares += other.squares
        return self


@dataclass(frozen=True)
class MomentEstimates:
    """Means and standard errors; ``scenario_*`` are conditional on the scenario ``[m, s]``.

    ``scenario_valid`` is False where a scenario has too few units for an error estimate
    (its mean and error are then NaN).
    """

    means: np.ndarray
    standard_errors: np.ndarray
    scenario_means: np.ndarray
    scenario_standard_errors: np.ndarray
    scenario_valid: np.ndarray


def moment_estimates(sums: MomentSums, *, weights: np.ndarray) -> MomentEstimates:
    """Post-stratified means ``Σ_i w_i·mean_i`` and their standard errors.

    One replicate (pseudo-random): ``Var = Σ_i w_i²·s_i²/n_i`` from the within-scenario sample
    variances, so neither the scenario draw nor the ±1 rounding of the counts adds noise.
    Several replicates (Sobol): the spread of the replicates' estimates. A scenario that drew
    no unit drops out and the other weights are renormalised (possible only for weights of
    order 1/n).
    """
    counts, total, squares, offsets = sums.counts, sums.sums, sums.squares, sums.offsets
    replicates = counts.shape[0]
    present = counts > 0
    shares = weights[None, :] * present
    shares = shares / shares.sum(axis=1, keepdims=True)
    pooled = counts.sum(axis=0)[:, None]
    pooled_means = total.sum(axis=0) / np.maximum(pooled, 1)
    if replicates == 1:
        n = counts[0][:, None]
        variances = np.maximum(squares[0] - total[0] * pooled_means, 0.0) / np.maximum(n - 1, 1)
        valid = np.broadcast_to(n >= 2, variances.shape)
        variances = np.where(valid, variances, 0.0)
        means = (shares[0][:, None] * pooled_means).sum(axis=0)
        errors = np.sqrt((shares[0][:, None] ** 2 * variances / np.maximum(n, 1)).sum(axis=0))
        scenario_errors = np.sqrt(variances / np.maximum(n, 1))
    else:
        conditional = total / np.maximum(counts, 1)[:, :, None]
        estimates = (shares[:, :, None] * conditional).sum(axis=1)
        means = estimates.mean(axis=0)
        errors = estimates.std(axis=0, ddof=1) / np.sqrt(replicates)
        n_rep = present.sum(axis=0)[:, None]
        centre = (conditional * present[:, :, None]).sum(axis=0) / np.maximum(n_rep, 1)
        spread = (((conditional - centre) ** 2) * present[:, :, None]).sum(axis=0)
        scenario_errors = np.sqrt(spread / np.maximum(n_rep - 1, 1) / np.maximum(n_rep, 1))
        valid = np.broadcast_to(n_rep >= 2, spread.shape)
    return MomentEstimates(
        means=means + offsets,
        standard_errors=errors,
        scenario_means=np.where(valid, pooled_means + offsets, np.nan),
        scenario_standard_errors=np.where(valid, scenario_errors, np.nan),
        scenario_valid=np.asarray(valid),
    )
