"""Cooperative cancellation of the Monte Carlo fold (``pricing.paths.simulation.fold_path_blocks``).

Witnesses: counts, not clocks. The consumer counts the blocks it reduces; a token abandoned
after block k lets at most one block per worker already under way finish (the worker checks
the token before simulating a block, the caller after folding one). A deadline already past
stops the fold before any block. Outside a scope, and inside a scope whose token is never
cancelled, the numbers are the same bit for bit.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pricing.cancellation import Cancelled, CancelReason, CancelToken, cancel_scope
from pricing.paths.model import BLOCK_PATHS, MonteCarloSettings, PathModel, time_grid
from pricing.paths.options import PathContracts, PathPayoff, price_path_contracts
from pricing.paths.simulation import fold_path_blocks

SPOT = 144.1
BLOCKS = 12


def _model() -> PathModel:
    times = time_grid(horizon=0.25, steps=8, event_time=0.05)
    return PathModel(
        spot=SPOT,
        times=times,
        forwards=SPOT * np.exp(-0.038 * times),
        pre_vols=0.11,
        scenario_vols=[0.09, 0.14],
        jumps=[1.05, 0.95],
        weights=[0.5, 0.5],
        event_time=0.05,
        measure="none",
    )


def _settings(workers: int) -> MonteCarloSettings:
    return MonteCarloSettings(n_paths=BLOCKS * BLOCK_PATHS, seed=5, workers=workers)


def _paths_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("paths")]


class _Counting:
    """A consumer that counts its calls and runs ``on_call(n)`` on call ``n`` (1-based)."""

    def __init__(self, on_call=None) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._on_call = on_call

    def __call__(self, block) -> float:
        with self._lock:
            self.calls += 1
            n = self.calls
        if self._on_call is not None:
            self._on_call(n)
        return float(sum(part.log_spots[-1].sum() for part in block.scenarios))


def _fold(consumer, workers: int) -> float:
    return fold_path_blocks(
        model=_model(),
        settings=_settings(workers),
        consumer=consumer,
        fold=lambda acc, x: acc + x,
        initial=0.0,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_token_abandoned_by_the_consumer_stops_the_fold_within_a_block_per_worker(workers):
    k = 3
    token = CancelToken()
    consumer = _Counting(lambda n: token.abandon() if n == k else None)
    with cancel_scope(token), pytest.raises(Cancelled) as caught:
        _fold(consumer, workers)
    assert caught.value.reason == CancelReason.ABANDONED
    # block k's consumer abandons; each other worker may finish the block it has begun
    assert k <= consumer.calls <= k + workers - 1, consumer.calls
    assert consumer.calls < BLOCKS
    assert _paths_threads() == []  # the pool is shut down, its pending blocks dropped


@pytest.mark.parametrize("workers", [1, 2])
def test_a_token_abandoned_from_another_thread_stops_the_fold(workers):
    """Another thread (a server noticing the client left) abandons the token while block k
    is being reduced. Consumers from call k on wait until it has, so no worker can start a
    block in between: the order is fixed by events, not by timing."""
    k = 4
    token = CancelToken()
    reached, abandoned = threading.Event(), threading.Event()

    def watcher() -> None:
        reached.wait()
        token.abandon()
        abandoned.set()

    def on_call(n: int) -> None:
        if n == k:
            reached.set()
        if n >= k:
            assert abandoned.wait(timeout=60.0)

    thread = threading.Thread(target=watcher)
    thread.start()
    consumer = _Counting(on_call)
    try:
        with cancel_scope(token), pytest.raises(Cancelled):
            _fold(consumer, workers)
    finally:
        reached.set()
        thread.join()
    assert k <= consumer.calls <= k + workers - 1, consumer.calls
    assert _paths_threads() == []


@pytest.mark.parametrize("workers", [1, 2])
def test_a_deadline_already_past_stops_before_any_block(workers):
    token = CancelToken(budget_seconds=-1.0)  # its deadline was a second ago
    consumer = _Counting()
    with cancel_scope(token), pytest.raises(Cancelled, match="deadline") as caught:
        _fold(consumer, workers)
    assert caught.value.reason == CancelReason.DEADLINE
    assert consumer.calls == 0


def test_the_token_is_looked_at_between_every_block():
    token = CancelToken()
    consumer = _Counting()
    with cancel_scope(token):
        _fold(consumer, workers=2)
    assert consumer.calls == BLOCKS
    # once up front, once per block on the worker, once per fold but the last
    assert token.checks == 1 + BLOCKS + (BLOCKS - 1)


def test_outside_a_scope_or_with_a_live_token_the_numbers_do_not_change():
    model = _model()
    contracts = PathContracts(
        payoffs=np.array([PathPayoff.ONE_TOUCH_UP, PathPayoff.NO_TOUCH_DOWN]),
        is_call=np.zeros(2, dtype=bool),
        strikes=np.zeros(2),
        lower_barriers=np.array([np.nan, 138.0]),
        upper_barriers=np.array([150.0, np.nan]),
        cash=np.ones(2),
        pay_at_hit=np.array([True, False]),
        expiry_indices=np.full(2, model.steps),
    )
    dfs = np.exp(-0.005 * model.times)

    def price():
        return price_path_contracts(
            model=model, settings=_settings(2), contracts=contracts, discount_factors=dfs
        )

    bare = price()
    with cancel_scope(None):
        unscoped = price()
    token = CancelToken(budget_seconds=3600.0)
    with cancel_scope(token):
        scoped = price()
    assert token.checks > BLOCKS
    for other in (unscoped, scoped):
        assert np.array_equal(other.prices, bare.prices)
        assert np.array_equal(other.standard_errors, bare.standard_errors)


def test_pricing_in_an_abandoned_scope_raises_before_simulating():
    token = CancelToken()
    token.abandon()
    model = _model()
    contracts = PathContracts(
        payoffs=np.array([PathPayoff.ONE_TOUCH_UP]),
        is_call=np.zeros(1, dtype=bool),
        strikes=np.zeros(1),
        lower_barriers=np.array([np.nan]),
        upper_barriers=np.array([150.0]),
        cash=np.ones(1),
        pay_at_hit=np.array([True]),
        expiry_indices=np.array([model.steps]),
    )
    with cancel_scope(token), pytest.raises(Cancelled) as caught:
        price_path_contracts(
            model=model,
            settings=_settings(1),
            contracts=contracts,
            discount_factors=np.ones(model.times.size),
        )
    assert caught.value.reason == CancelReason.ABANDONED
    assert token.checks == 1
