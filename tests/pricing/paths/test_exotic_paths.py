"""Double barriers, double touches, USD-paying touches, KIKOs and KOKIs on simulated paths.

Witnesses:
* the single-lognormal limit — every scenario's jump 1 and post-event vol the pre-event vol,
  so the mixture is one lognormal: the closed forms of :mod:`pricing.fx.double_barriers` and
  :mod:`pricing.fx.barriers` (held to Haug's tables and QuantLib's engines in
  ``tests/pricing/fx``); a KOKI has no closed form, so its witness is a quadrature over the
  first-exit time: ``∫ DF(t)·Vanilla(KI, T − t) dG(t)``, ``G(t)`` = P(corridor first left
  through the knock-in barrier by ``t``) (the strong Markov property at the knock-in);
* identities on the same paths across a real event — DKO + DKI = the vanilla, KIKO + DKO =
  the single knock-out, DOT + DNT = cash·DF (JPY), to 1e-12; DOT + DNT in USD = cash × the
  simulated USD forward, within 3 s.e. of S·DF_f (the risk-neutral mixture keeps the market
  forward);
* limits — a KOKI whose knock-out is far away is the single knock-in, path by path;
  vanishing diffusion: a jump through a barrier pays USD at the post-jump spot.

Monte Carlo comparisons are within 3 standard errors (seeded ``default_rng`` streams).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.optimize import brentq

from pricing.fx.barriers import touch_price
from pricing.fx.black import black_price
from pricing.fx.double_barriers import (
    corridor_exit_values,
    double_barrier_price,
    double_touch_price,
    kiko_price,
)
from pricing.paths.model import MonteCarloSettings, PathModel, Sampling, time_grid
from pricing.paths.options import (
    Monitoring,
    PathContracts,
    PathPayoff,
    price_before_event,
    price_path_contracts,
)

P = PathPayoff
SPOT, R_JPY, R_USD, VOL = 144.1, 0.005, 0.043, 0.115
EVENT = 26 / 365  # 2025-07-09
HORIZON = 91 / 365
# post-event levels and probabilities in the spirit of MARKET_FACTS.md
LEVELS = np.array([158.0, 151.0, 146.0, 139.0, 133.0])
PROBABILITIES = np.array([0.15, 0.35, 0.2, 0.2, 0.1])
POST_VOLS = np.array([0.09, 0.10, 0.11, 0.13, 0.16])

# kind, call?, strike, lower, upper, cash, at hit?, USD? (levels as multiples of spot)
BOOK = [
    (P.DOUBLE_KNOCK_OUT, True, 1.0, 0.93, 1.07, 0.0, False, False),
    (P.DOUBLE_KNOCK_OUT, False, 1.01, 0.92, 1.06, 0.0, False, False),
    (P.DOUBLE_KNOCK_OUT, True, 0.9, 0.93, 1.08, 0.0, False, False),  # struck below L
    (P.DOUBLE_KNOCK_IN, True, 0.99, 0.95, 1.05, 0.0, False, False),
    (P.DOUBLE_KNOCK_IN, False, 1.0, 0.94, 1.08, 0.0, False, False),
    (P.DOUBLE_ONE_TOUCH, False, 0.0, 0.95, 1.05, 1.0, True, False),
    (P.DOUBLE_ONE_TOUCH, False, 0.0, 0.94, 1.06, 1.0, False, False),
    (P.DOUBLE_ONE_TOUCH, False, 0.0, 0.95, 1.04, 1.0, True, True),
    (P.DOUBLE_ONE_TOUCH, False, 0.0, 0.93, 1.05, 1.0, False, True),
    (P.DOUBLE_NO_TOUCH, False, 0.0, 0.93, 1.07, 1.0, False, True),
    (P.ONE_TOUCH_UP, False, 0.0, np.nan, 1.04, 1.0, True, True),
    (P.ONE_TOUCH_DOWN, False, 0.0, 0.96, np.nan, 1.0, True, True),
    (P.ONE_TOUCH_UP, False, 0.0, np.nan, 1.05, 1.0, False, True),
    (P.NO_TOUCH_DOWN, False, 0.0, 0.94, np.nan, 1.0, False, True),
    (P.KIKO_DOWN_IN, True, 1.0, 0.96, 1.08, 0.0, False, False),
    (P.KIKO_UP_IN, False, 1.0, 0.92, 1.04, 0.0, False, False),
    (P.KIKO_DOWN_IN, False, 0.98, 0.95, 1.1, 0.0, False, False),
    (P.KOKI_DOWN_IN, True, 0.98, 0.96, 1.06, 0.0, False, False),
    (P.KOKI_UP_IN, False, 1.02, 0.94, 1.04, 0.0, False, False),
]


def _contracts(cases, spot: float, expiry_index: int) -> PathContracts:
    columns = list(zip(*cases, strict=True))
    return PathContracts(
        payoffs=np.array(columns[0]),
        is_call=np.array(columns[1]),
        strikes=spot * np.array(columns[2]),
        lower_barriers=spot * np.array(columns[3]),
        upper_barriers=spot * np.array(columns[4]),
        cash=np.array(columns[5]),
        pay_at_hit=np.array(columns[6]),
        expiry_indices=np.full(len(cases), expiry_index),
        payout_usd=np.array(columns[7]),
    )


def _flat(times: np.ndarray, r_d: float = R_JPY, r_f: float = R_USD) -> tuple[np.ndarray, ...]:
    return SPOT * np.exp((r_d - r_f) * times), np.exp(-r_d * times)


def _trivial_event_model(steps: int) -> PathModel:
    """Three scenarios that change nothing: jump 1, the pre-event vol after the event."""
    times = time_grid(horizon=HORIZON, steps=steps, event_time=EVENT)
    forwards, _ = _flat(times)
    return PathModel(
        spot=SPOT,
        times=times,
        forwards=forwards,
        pre_vols=VOL,
        scenario_vols=[VOL, VOL, VOL],
        jumps=[1.0, 1.0, 1.0],
        weights=[0.3, 0.5, 0.2],
        event_time=EVENT,
        measure="risk_neutral",
    )


def _tilted_weights(probabilities: np.ndarray, jumps: np.ndarray) -> np.ndarray:
    """q ∝ p·J^λ with Σ q J = 1 (DESIGN.md, `tilt`), solved here independently."""

    def mismatch(lam: float) -> float:
        w = probabilities * jumps**lam
        return float(w @ jumps / w.sum() - 1.0)

    w = probabilities * jumps ** brentq(mismatch, -500.0, 500.0, xtol=1e-14)
    return w / w.sum()


def _event_model(steps: int) -> PathModel:
    times = time_grid(horizon=HORIZON, steps=steps, event_time=EVENT)
    forwards, _ = _flat(times)
    jumps = LEVELS / SPOT
    return PathModel(
        spot=SPOT,
        times=times,
        forwards=forwards,
        pre_vols=np.linspace(0.125, 0.105, times.size - 1),
        scenario_vols=POST_VOLS,
        jumps=jumps,
        weights=_tilted_weights(PROBABILITIES, jumps),
        event_time=EVENT,
        measure="risk_neutral",
    )


def _koki_quadrature(*, call, strike, knock_in, knock_out, t, points=4000) -> float:
    """``∫_0^T DF(t)·Vanilla(S = KI, T − t) dG(t)``: at the knock-in the KOKI becomes the
    vanilla; ``G(t)`` is the undiscounted first-exit distribution through the knock-in
    barrier (:func:`corridor_exit_values` with a zero rate and the market's carry)."""
    carry = R_JPY - R_USD
    lower, upper = min(knock_in, knock_out), max(knock_in, knock_out)
    edges = np.linspace(0.0, t, points + 1)[1:]
    exits = corridor_exit_values(
        spots=SPOT, lower_barriers=lower, upper_barriers=upper,
        forwards=SPOT * np.exp(carry * edges), discount_factors=1.0, vols=VOL, times=edges,
    )  # fmt: skip
    through = exits[0] if knock_in < knock_out else exits[1]
    assert through.valid.all()
    mass = np.diff(np.concatenate([[0.0], through.prices]))
    middle = edges - 0.5 * t / points
    left = t - middle
    vanilla = black_price(
        forwards=knock_in * np.exp(carry * left), strikes=strike, total_vars=VOL**2 * left,
        discount_factors=np.exp(-R_JPY * left), is_call=call,
    )  # fmt: skip
    return float(np.sum(np.exp(-R_JPY * middle) * vanilla * mass))


def _closed_forms(cases, t: float) -> np.ndarray:
    """Each case's single-lognormal closed form (JPY per unit of notional)."""
    forward, df = _flat(np.array(t))
    market = dict(spots=SPOT, forwards=forward, discount_factors=df, vols=VOL, times=t)
    prices = []
    for kind, call, k, low, high, cash, hit, usd in cases:
        k, low, high = SPOT * k, SPOT * low, SPOT * high
        corridor = dict(lower_barriers=low, upper_barriers=high, **market)
        if kind in (P.DOUBLE_KNOCK_OUT, P.DOUBLE_KNOCK_IN):
            result = double_barrier_price(
                knock_in=kind == P.DOUBLE_KNOCK_IN, is_call=call, strikes=k, **corridor
            )
        elif kind in (P.DOUBLE_ONE_TOUCH, P.DOUBLE_NO_TOUCH):
            result = double_touch_price(
                one_touch=kind == P.DOUBLE_ONE_TOUCH, pay_at_hit=hit, pays_usd=usd, cash=cash,
                **corridor,
            )  # fmt: skip
        elif kind in (P.KIKO_DOWN_IN, P.KIKO_UP_IN):
            result = kiko_price(
                is_call=call, knock_in_below=kind == P.KIKO_DOWN_IN, strikes=k, **corridor
            )
        elif kind in (P.KOKI_DOWN_IN, P.KOKI_UP_IN):
            below = kind == P.KOKI_DOWN_IN
            prices.append(
                _koki_quadrature(
                    call=call,
                    strike=k,
                    knock_in=low if below else high,
                    knock_out=high if below else low,
                    t=t,
                )
            )
            continue
        else:
            up = kind in (P.ONE_TOUCH_UP, P.NO_TOUCH_UP)
            result = touch_price(
                is_up=up, one_touch=kind in (P.ONE_TOUCH_UP, P.ONE_TOUCH_DOWN), pay_at_hit=hit,
                barriers=high if up else low, cash=cash, pays_usd=usd, **market,
            )  # fmt: skip
        assert result.valid.all(), kind
        prices.append(float(result.prices))
    return np.array(prices)


@pytest.mark.parametrize(
    ("sampling", "seed"), [(Sampling.PSEUDO, 2024), (Sampling.SOBOL, 7)], ids=["pseudo", "sobol"]
)
def test_with_a_trivial_event_every_contract_matches_its_closed_form(sampling, seed):
    model = _trivial_event_model(steps=63)
    _, dfs = _flat(model.times)
    settings = MonteCarloSettings(n_paths=24576, seed=seed, sampling=sampling, sobol_replicates=32)
    result = price_path_contracts(
        model=model, settings=settings, contracts=_contracts(BOOK, SPOT, model.steps),
        discount_factors=dfs,
    )  # fmt: skip
    expected = _closed_forms(BOOK, HORIZON)
    assert np.all(result.standard_errors > 0)
    assert np.all(expected > 1e-3)  # no contract is a rare event here
    z = (result.prices - expected) / result.standard_errors
    assert np.all(np.abs(z) < 3.0), dict(zip([c[0].name for c in BOOK], z.round(2), strict=True))


def test_koki_quadrature_is_the_single_knock_in_when_the_knock_out_is_far_away():
    """The witness itself, on a case with a closed form (Reiner–Rubinstein down-and-in)."""
    from pricing.fx.barriers import BarrierType, barrier_price

    forward, df = _flat(np.array(HORIZON))
    single = barrier_price(
        barrier_types=BarrierType.DOWN_IN, is_call=True, spots=SPOT, strikes=SPOT,
        barriers=0.96 * SPOT, rebates=0.0, forwards=forward, discount_factors=df, vols=VOL,
        times=HORIZON,
    ).prices  # fmt: skip
    quadrature = _koki_quadrature(
        call=True, strike=SPOT, knock_in=0.96 * SPOT, knock_out=5 * SPOT, t=HORIZON
    )
    assert quadrature == pytest.approx(float(single), rel=1e-5)


def test_before_the_event_the_closed_forms_are_used_and_a_koki_is_left_to_simulation():
    model = _event_model(steps=40)
    _, dfs = _flat(model.times)
    contracts = _contracts(BOOK, SPOT, model.event_index)
    closed = price_before_event(model=model, contracts=contracts, discount_factors=dfs)
    koki = np.isin(contracts.payoffs, (P.KOKI_DOWN_IN, P.KOKI_UP_IN))
    assert closed.valid[~koki].all() and not closed.valid[koki].any()
    assert np.isnan(closed.prices[koki]).all()
    expected = _closed_forms(BOOK, model.times[model.event_index])
    # the pre-event vol runs 12.5% → 10.5% over the grid: the closed forms see its flat
    # equivalent, so compare on a flat-vol copy
    flat = dataclasses.replace(model, pre_vols=np.full(model.steps, VOL))
    closed = price_before_event(model=flat, contracts=contracts, discount_factors=dfs)
    # (a KIKO is a difference of two closed forms: absolute to 1e-12 of spot)
    np.testing.assert_allclose(closed.prices[~koki], expected[~koki], rtol=1e-12, atol=1e-12 * SPOT)


def _pair_book(model: PathModel) -> tuple[PathContracts, dict[str, slice]]:
    """Contracts in identity groups, struck across the event's levels."""
    cases = []
    for call, k, low, high in (
        (True, 1.0, 0.93, 1.07),
        (False, 1.01, 0.9, 1.05),
        (True, 0.95, 0.88, 1.1),
        (False, 1.05, 0.95, 1.12),
    ):
        cases += [
            (P.VANILLA, call, k, np.nan, np.nan, 0.0, False, False),
            (P.DOUBLE_KNOCK_OUT, call, k, low, high, 0.0, False, False),
            (P.DOUBLE_KNOCK_IN, call, k, low, high, 0.0, False, False),
            (P.KIKO_DOWN_IN, call, k, low, high, 0.0, False, False),
            (P.UP_OUT, call, k, np.nan, high, 0.0, False, False),
            (P.KIKO_UP_IN, call, k, low, high, 0.0, False, False),
            (P.DOWN_OUT, call, k, low, np.nan, 0.0, False, False),
        ]
    for usd in (False, True):
        for low, high in ((0.96, 1.04), (0.9, 1.1)):
            cases += [
                (P.DOUBLE_ONE_TOUCH, False, 0.0, low, high, 2.0, False, usd),
                (P.DOUBLE_NO_TOUCH, False, 0.0, low, high, 2.0, False, usd),
            ]
    return _contracts(cases, SPOT, model.steps), cases


@pytest.mark.parametrize("monitoring", list(Monitoring))
def test_across_the_event_the_parities_hold_on_the_same_paths(monitoring):
    model = _event_model(steps=60)
    _, dfs = _flat(model.times)
    contracts, _ = _pair_book(model)
    settings = MonteCarloSettings(n_paths=16384, seed=11)
    result = price_path_contracts(
        model=model, settings=settings, contracts=contracts, discount_factors=dfs,
        monitoring=monitoring,
    )  # fmt: skip
    prices, errors = result.prices, result.standard_errors
    options = 7 * 4
    for first in range(0, options, 7):
        vanilla, dko, dki, kiko_down, up_out, kiko_up, down_out = prices[first : first + 7]
        assert dko + dki == pytest.approx(vanilla, rel=1e-12)
        assert kiko_down + dko == pytest.approx(up_out, rel=1e-12, abs=1e-13)
        assert kiko_up + dko == pytest.approx(down_out, rel=1e-12, abs=1e-13)
        assert min(dko, dki, kiko_down, kiko_up) > 1e-3  # the identities are not vacuous
    touches = prices[options:].reshape(-1, 2)
    touch_errors = errors[options:].reshape(-1, 2)
    df, usd_df = dfs[-1], np.exp(-R_USD * HORIZON)
    np.testing.assert_allclose(touches[:2].sum(axis=1), 2.0 * df, rtol=1e-12)
    # USD: cash × E[DF·S_T] on these paths — the market's S·DF_f within its error
    usd_total = touches[2:].sum(axis=1)
    assert np.all(np.abs(usd_total - 2.0 * SPOT * usd_df) < 3.0 * touch_errors[2:].max(axis=1) * 2)
    assert touches.min() > 1e-3
    assert np.all(result.scenario_valid)


def test_koki_with_the_knock_out_far_away_is_the_single_knock_in_path_by_path():
    model = _event_model(steps=60)
    _, dfs = _flat(model.times)
    cases = [
        (P.KOKI_DOWN_IN, True, 1.0, 0.96, 20.0, 0.0, False, False),
        (P.DOWN_IN, True, 1.0, 0.96, np.nan, 0.0, False, False),
        (P.KOKI_UP_IN, False, 0.99, 0.05, 1.03, 0.0, False, False),
        (P.UP_IN, False, 0.99, np.nan, 1.03, 0.0, False, False),
        # and with the knock-out near: KIKO ≤ KOKI ≤ the single knock-in
        (P.KOKI_DOWN_IN, True, 1.0, 0.96, 1.05, 0.0, False, False),
        (P.KIKO_DOWN_IN, True, 1.0, 0.96, 1.05, 0.0, False, False),
    ]
    result = price_path_contracts(
        model=model, settings=MonteCarloSettings(n_paths=8192, seed=5),
        contracts=_contracts(cases, SPOT, model.steps), discount_factors=dfs,
    )  # fmt: skip
    p = result.prices
    assert p[0] == pytest.approx(p[1], rel=1e-12)
    assert p[2] == pytest.approx(p[3], rel=1e-12)
    np.testing.assert_allclose(
        result.scenario_prices[:, 0], result.scenario_prices[:, 1], rtol=1e-12
    )
    assert p[5] < p[4] < p[1]  # touching U after the knock-in no longer knocks the KOKI out


def test_a_jump_through_a_barrier_pays_usd_at_the_post_jump_spot():
    """Vanishing diffusion: the scenario jumping to 1.08·S touches 150 (and the corridor's
    upper barrier) only by the jump, the one jumping to 0.92·S the corridor's lower one;
    USD paid at the hit is worth the post-jump spot, in the event step."""
    times = time_grid(horizon=0.25, steps=25, event_time=EVENT)
    model = PathModel(
        spot=SPOT, times=times, forwards=np.full(times.size, SPOT), pre_vols=1e-4,
        scenario_vols=[1e-4, 1e-4], jumps=[1.08, 0.92], weights=[0.4, 0.6], event_time=EVENT,
        measure="none",
    )  # fmt: skip
    dfs = np.exp(-0.01 * times)
    cases = [
        (P.ONE_TOUCH_UP, False, 0.0, np.nan, 150.0 / SPOT, 1.0, True, True),
        (P.DOUBLE_ONE_TOUCH, False, 0.0, 140.0 / SPOT, 150.0 / SPOT, 1.0, True, True),
        (P.DOUBLE_ONE_TOUCH, False, 0.0, 140.0 / SPOT, 150.0 / SPOT, 1.0, False, True),
        (P.KOKI_DOWN_IN, True, 0.9, 140.0 / SPOT, 150.0 / SPOT, 0.0, False, False),
    ]
    result = price_path_contracts(
        model=model, settings=MonteCarloSettings(n_paths=4096, seed=3),
        contracts=_contracts(cases, SPOT, model.steps), discount_factors=dfs,
    )  # fmt: skip
    e = model.event_index
    mid = np.sqrt(dfs[e] * dfs[e + 1])
    up, down = 1.08 * SPOT, 0.92 * SPOT
    tol = 1e-3  # the diffusion moves spot by ~1e-4·√T of itself
    assert result.prices[0] == pytest.approx(0.4 * up * mid, rel=tol)
    assert result.prices[1] == pytest.approx((0.4 * up + 0.6 * down) * mid, rel=tol)
    assert result.prices[2] == pytest.approx((0.4 * up + 0.6 * down) * dfs[-1], rel=tol)
    # the KOKI knocks in only where the jump leaves through the lower barrier
    koki = 0.6 * (down - 0.9 * SPOT) * dfs[-1]
    assert result.prices[3] == pytest.approx(koki, rel=tol)


def test_discrete_monitoring_misses_touches_between_fixings():
    """Daily fixings see fewer touches than the continuous closed form; the BGK shift moves
    the fixings' barriers towards spot to stand for the continuous one."""
    model = _trivial_event_model(steps=63)
    _, dfs = _flat(model.times)
    cases = [
        (P.DOUBLE_ONE_TOUCH, False, 0.0, 0.95, 1.05, 1.0, False, False),
        (P.DOUBLE_ONE_TOUCH, False, 0.0, 0.95, 1.05, 1.0, True, True),
        (P.KOKI_DOWN_IN, True, 0.98, 0.96, 1.06, 0.0, False, False),
    ]
    contracts = _contracts(cases, SPOT, model.steps)
    settings = MonteCarloSettings(n_paths=16384, seed=9)
    expected = _closed_forms(cases, HORIZON)
    run = {
        m: price_path_contracts(
            model=model,
            settings=settings,
            contracts=contracts,
            discount_factors=dfs,
            monitoring=m,
        )
        for m in Monitoring
    }
    discrete, bgk = run[Monitoring.DISCRETE], run[Monitoring.BGK]
    assert np.all(discrete.prices[:2] < expected[:2] - 5.0 * discrete.standard_errors[:2])
    assert np.all(
        np.abs(bgk.prices[:2] - expected[:2]) < np.abs(discrete.prices[:2] - expected[:2])
    )
