"""The shared evaluation of a book's barrier lines against the per-line one it replaced.

Witness: :func:`tests.pricing.paths.reference.reference_path_prices`, the evaluation as it was
(one line at a time, numpy arrays over each block), itself held to QuantLib's analytic engines,
the reflection principle and closed forms by ``test_paths.py``. The two run on the same paths
(same seed) and differ only in rounding: the kernel leaves out steps whose crossing
probability is below 2⁻⁵⁴ (their survival factor is 1.0 in double precision either way) and
sums the value paid at the hit term by term instead of as a difference of two dot products.
Every price, standard error and conditional price agrees to 1e-12 of its own size.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pricing.paths import crossings
from pricing.paths.model import MonteCarloSettings, PathModel, Sampling, time_grid
from pricing.paths.options import Monitoring, PathContracts, PathPayoff, price_path_contracts
from tests.pricing.paths.reference import reference_path_prices

P = PathPayoff
SPOT = 144.1
EVENT = 26 / 365
LEVELS = np.array([158.0, 151.0, 146.0, 139.0, 133.0])
WEIGHTS = np.array([0.15, 0.35, 0.2, 0.2, 0.1])
POST_VOLS = np.array([0.09, 0.10, 0.11, 0.13, 0.16])

# kind, call?, strike, lower, upper, cash, paid at hit? (levels in JPY per USD)
BOOK = [
    (P.VANILLA, True, 146.0, np.nan, np.nan, 0.0, False),
    (P.DOWN_OUT, True, 144.0, 136.0, np.nan, 0.0, True),
    (P.DOWN_OUT, False, 147.0, 133.0, np.nan, 2.0, True),
    (P.DOWN_OUT, False, 147.0, 133.0, np.nan, 2.0, False),  # rebate at expiry
    (P.UP_OUT, True, 141.0, np.nan, 154.0, 1.0, True),
    (P.UP_OUT, False, 144.0, np.nan, 152.0, 0.0, False),
    (P.DOWN_IN, False, 143.0, 137.0, np.nan, 1.5, False),
    (P.UP_IN, True, 148.0, np.nan, 153.0, 0.5, False),
    (P.ONE_TOUCH_UP, False, 0.0, np.nan, 150.0, 1.0, True),
    (P.ONE_TOUCH_UP, False, 0.0, np.nan, 150.0, 1.0, False),  # same barrier, paid at expiry
    (P.ONE_TOUCH_UP, False, 0.0, np.nan, 157.0, 1.0, True),
    (P.ONE_TOUCH_UP, False, 0.0, np.nan, 163.0, 1.0, False),
    (P.ONE_TOUCH_DOWN, False, 0.0, 140.0, np.nan, 1.0, True),
    (P.ONE_TOUCH_DOWN, False, 0.0, 131.0, np.nan, 1.0, False),
    (P.NO_TOUCH_UP, False, 0.0, np.nan, 155.0, 1.0, False),
    (P.NO_TOUCH_DOWN, False, 0.0, 138.0, np.nan, 1.0, False),
    (P.DOUBLE_NO_TOUCH, False, 0.0, 141.0, 147.0, 1.0, False),  # narrow: all seven images
    (P.DOUBLE_NO_TOUCH, False, 0.0, 135.0, 156.0, 1.0, False),
]


def _model(steps: int) -> PathModel:
    times = time_grid(horizon=0.5, steps=steps, event_time=EVENT)
    jumps = LEVELS / SPOT
    return PathModel(
        spot=SPOT,
        times=times,
        forwards=SPOT * np.exp(-0.038 * times),
        pre_vols=np.linspace(0.125, 0.105, times.size - 1),
        scenario_vols=POST_VOLS,
        jumps=jumps,
        weights=WEIGHTS,  # drawn as given; the estimator recombines with its own weights
        event_time=EVENT,
        measure="none",
    )


def _book(model: PathModel) -> PathContracts:
    columns = list(zip(*BOOK, strict=True))
    # expiries on the event date (no jump seen), just after it, mid-way and at the horizon
    choices = [model.event_index, model.event_index + 1, model.steps // 2, model.steps]
    return PathContracts(
        payoffs=np.array(columns[0]),
        is_call=np.array(columns[1]),
        strikes=np.array(columns[2]),
        lower_barriers=np.array(columns[3]),
        upper_barriers=np.array(columns[4]),
        cash=np.array(columns[5]),
        pay_at_hit=np.array(columns[6]),
        expiry_indices=np.array([choices[i % 4] for i in range(len(BOOK))]),
    )


def _assert_same(new, old) -> None:
    for name in ("prices", "standard_errors", "scenario_prices", "scenario_standard_errors"):
        a, b = getattr(new, name), getattr(old, name)
        scale = np.maximum(np.abs(b), 1e-300)
        assert np.all(np.abs(a - b) <= 1e-12 * scale), (name, np.max(np.abs(a - b) / scale))
    assert np.array_equal(new.scenario_valid, old.scenario_valid)


SETTINGS = [
    MonteCarloSettings(n_paths=12_000, seed=11),
    MonteCarloSettings(n_paths=12_000, seed=12, antithetic=True, workers=2),
    MonteCarloSettings(n_paths=12_000, seed=13, sampling=Sampling.SOBOL, sobol_replicates=4),
]


@pytest.mark.parametrize("monitoring", list(Monitoring))
@pytest.mark.parametrize("settings", SETTINGS, ids=["pseudo", "antithetic", "sobol"])
def test_shared_evaluation_equals_the_per_line_reference(monitoring, settings):
    model = _model(steps=60)
    dfs = np.exp(-0.005 * model.times)
    contracts = _book(model)
    weights = np.array([0.1, 0.4, 0.2, 0.2, 0.1])
    new = price_path_contracts(
        model=model,
        settings=settings,
        contracts=contracts,
        discount_factors=dfs,
        monitoring=monitoring,
        weights=weights,
    )
    old = reference_path_prices(
        model=model,
        settings=settings,
        contracts=contracts,
        discount_factors=dfs,
        monitoring=monitoring,
        weights=weights,
    )
    # not a vacuous comparison: every line is priced away from its bounds
    assert np.all(np.abs(old.prices) > 1e-3), old.prices
    _assert_same(new, old)


def test_a_jump_through_every_barrier_is_the_same_hit_in_both():
    """Vanishing diffusion: the jump alone decides, on the event step, for every line."""
    times = time_grid(horizon=0.25, steps=25, event_time=EVENT)
    model = PathModel(
        spot=SPOT,
        times=times,
        forwards=np.full(times.size, SPOT),
        pre_vols=1e-4,
        scenario_vols=[1e-4, 1e-4],
        jumps=[1.08, 0.92],
        weights=[0.4, 0.6],
        event_time=EVENT,
        measure="none",
    )
    contracts = dataclasses.replace(_book(model), expiry_indices=np.full(len(BOOK), model.steps))
    settings = MonteCarloSettings(n_paths=4096, seed=3)
    dfs = np.exp(-0.01 * times)
    new = price_path_contracts(
        model=model, settings=settings, contracts=contracts, discount_factors=dfs
    )
    old = reference_path_prices(
        model=model, settings=settings, contracts=contracts, discount_factors=dfs
    )
    scale = np.maximum(np.abs(old.prices), 1e-300)
    assert np.all(np.abs(new.prices - old.prices) <= 1e-12 * scale + 1e-15)


def test_rounds_of_a_small_entry_buffer_give_the_same_numbers(monkeypatch):
    """Paths are gathered in rounds that fit the entry buffer: a buffer holding one path's
    worst case at a time changes no number."""
    model = _model(steps=40)
    dfs = np.exp(-0.005 * model.times)
    contracts = _book(model)
    settings = MonteCarloSettings(n_paths=6000, seed=21)
    whole = price_path_contracts(
        model=model, settings=settings, contracts=contracts, discount_factors=dfs
    )
    monkeypatch.setattr(crossings, "_ENTRIES", 1)
    rounds = price_path_contracts(
        model=model, settings=settings, contracts=contracts, discount_factors=dfs
    )
    assert np.array_equal(whole.prices, rounds.prices)
    assert np.array_equal(whole.standard_errors, rounds.standard_errors)
