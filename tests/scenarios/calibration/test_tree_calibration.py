"""A decision tree's node probabilities fitted to quotes between and after its decisions.

Witnesses:

* quotes a known tree made: each node's risk-neutral weights ``q`` built here by solving the
  two constraints ``Σ q = 1``, ``Σ q·J = 1`` by hand (2×2 linear), the tree priced with
  them (``q`` as the branch probabilities: the tilt of a martingale ``q`` is ``q`` itself,
  asserted first) and its mixture quoted by :func:`scenarios.vol.surface_view.
  vol_surface_view` (the vol-surface route's code, not the calibration's) at an expiry
  between the two decisions and three after both — the calibration must give back
  ``fits`` and the generating ``q`` at every node to 1e-6;
* the fitted tree itself: the martingale ``Σ q·J = 1`` recomputed here from its branches at
  every node (1e-12), the tilt re-solved on it giving ``q`` back, its leaves ``Π q``;
* a tree whose second decision repeats the first's outcomes with every vol equal: after
  08-01 the leaf "deal" and "extension/late_deal" are the same lognormal (same level
  ``S0·J``, same variance), so prices after 08-01 depend on the two nodes only through
  ``q_extension·q_still_open`` — shown here by pricing two trees with the same product and
  different splits (:func:`scenarios.fx.valuation.value_book`). Quotes after 08-01 alone
  must then leave the split open with the ranges that algebra gives (``q_extension`` and
  ``q_still_open`` each in ``[c, 1]``, ``c`` the product), and one quote between the
  decisions must close it;
* the rule each bad input breaks, by the field it names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from pricing.mixture.measure import Measure
from scenarios.calibration.fit import CalibrationSettings, calibrate
from scenarios.calibration.modes import FitMode, FitStatus
from scenarios.calibration.rows import OptionQuote
from scenarios.calibration.solve import build_problem
from scenarios.calibration.tree_fit import TreeLayout, solve_tree
from scenarios.catalog import builtin_catalog
from scenarios.dates import year_fraction
from scenarios.errors import DomainError, ErrorKind
from scenarios.fx.instruments import FxOption, OptionKind, build_fx_option
from scenarios.fx.valuation import fit_measure, value_book
from scenarios.scenario import ScenarioSet, tree_scenario_set
from scenarios.tree import DecisionTree
from scenarios.vol.model import build_vol_model
from scenarios.vol.smiles import SmileQuote
from tests.scenarios.calibration.mixture_quotes import quotes_and_weights
from tests.scenarios.calibration.two_decisions import tree_spec, two_to_the_forward

MARKET = builtin_catalog()["us-japan-tariff-2025-07-09"].market
S0 = MARKET.spot
ROOT_DATE, SECOND_DATE = dt.date(2025, 7, 9), dt.date(2025, 8, 1)


def tree_set(root: list[float], second: list[float]) -> ScenarioSet:
    """Deadline (deal / narrow / extension → effective / no deal), then effective (late deal
    / still open / tariffs); levels JPY per USD, vols distinct."""
    tree = DecisionTree.build(**tree_spec(root, second))
    return tree_scenario_set(id="tree", name="two decisions", tree=tree, spot=S0)


def _truth() -> tuple[list[float], list[float]]:
    q_no, q_deal = two_to_the_forward([0.25, 0.3], [146.0 / S0, 1.0], 138.0 / S0, 152.0 / S0)
    q_tariffs, q_late = two_to_the_forward([0.2], [1.0], 139.0 / S0, 150.0 / S0)
    return [q_deal, 0.25, 0.3, q_no], [q_tariffs, 0.2, q_late]


ROOT_Q, SECOND_Q = _truth()
ANALYST = tree_set([0.3, 0.2, 0.3, 0.2], [0.4, 0.2, 0.4])


def mixture_quotes(scenario_set: ScenarioSet, tenors: tuple[str, ...]) -> tuple[SmileQuote, ...]:
    """The mixture's own ATM / 25Δ RR / broker BF at ``tenors`` (priced under the tilt)."""
    return quotes_and_weights(MARKET, scenario_set, tenors)[0]


def vanilla(expiry: dt.date, strike: float, *, call: bool) -> FxOption:
    kind = OptionKind.CALL if call else OptionKind.PUT
    return build_fx_option(
        valuation_date=MARKET.valuation_date, kind=kind, strike=strike, expiry=expiry
    )


def node_weights(result, node_id: str) -> np.ndarray:
    return next(n.weights for n in result.tree.nodes if n.id == node_id)


# --- quotes a known tree made --------------------------------------------------------------


def test_the_generating_weights_are_martingales_the_tilt_leaves_alone() -> None:
    """The witness's own premise: the truth tree priced under the tilt prices with ``q``."""
    for q, jumps in ((ROOT_Q, [152.0, 146.0, S0, 138.0]), (SECOND_Q, [139.0, S0, 150.0])):
        assert math.fsum(q) == pytest.approx(1.0, abs=1e-15)
        assert math.fsum(a * j / S0 for a, j in zip(q, jumps, strict=True)) == pytest.approx(
            1.0, abs=1e-14
        )
        assert min(q) > 0.05
    fit = fit_measure(MARKET, tree_set(ROOT_Q, SECOND_Q), Measure.TILT)
    np.testing.assert_allclose(fit.nodes[0].weights, ROOT_Q, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit.nodes[1].weights, SECOND_Q, rtol=0, atol=1e-12)


def test_quotes_a_tree_made_between_and_after_its_decisions_give_back_its_node_weights() -> None:
    quotes = mixture_quotes(tree_set(ROOT_Q, SECOND_Q), ("1M", "3M", "6M", "1Y"))
    assert ROOT_DATE < quotes[0].expiry < SECOND_DATE < quotes[1].expiry  # between, after
    result = calibrate(market=MARKET, scenario_set=ANALYST, quotes=quotes)
    assert result.verdict.status is FitStatus.FITS
    assert result.converged
    np.testing.assert_allclose(node_weights(result, "deadline"), ROOT_Q, rtol=0, atol=1e-6)
    np.testing.assert_allclose(node_weights(result, "effective"), SECOND_Q, rtol=0, atol=1e-6)
    for node in result.tree.nodes:
        assert node.identified and not node.unidentified.any()
        np.testing.assert_array_equal(node.ranges[:, 0], node.ranges[:, 1])
    assert not result.identification.unidentified.any()
    # the analyst's p and the prior (tilt of p) stand beside the fit
    np.testing.assert_array_equal(result.tree.nodes[0].probabilities, [0.3, 0.2, 0.3, 0.2])
    assert result.tree.nodes[1].reached == pytest.approx(ROOT_Q[2], abs=1e-6)
    # leaves in the set's order: deal, narrow, extension/{tariffs, still_open, late_deal}, no_deal
    leaves = [ROOT_Q[0], ROOT_Q[1], *(ROOT_Q[2] * q for q in SECOND_Q), ROOT_Q[3]]
    assert result.scenario_names[2:5] == (
        "extension/tariffs",
        "extension/still_open",
        "extension/late_deal",
    )
    np.testing.assert_allclose(result.weights, leaves, rtol=0, atol=1e-6)


def test_the_fitted_tree_is_a_martingale_at_every_node_and_prices_as_fitted() -> None:
    quotes = mixture_quotes(tree_set(ROOT_Q, SECOND_Q), ("1M", "3M", "6M", "1Y"))
    result = calibrate(market=MARKET, scenario_set=ANALYST, quotes=quotes)
    fitted = result.fitted_set
    assert fitted is not None and result.fitted_set_note is None
    assert [n.id for n in fitted.tree.nodes] == ["deadline", "effective"]
    for node, fit in zip(fitted.tree.nodes, result.tree.nodes, strict=True):
        p = np.array([b.probability for b in node.branches])
        j = np.array([b.jump_ratio(S0) for b in node.branches])
        assert abs(math.fsum(p) - 1.0) <= 1e-12
        assert abs(math.fsum(p * j) - 1.0) <= 1e-12  # the martingale, recomputed
        np.testing.assert_array_equal(p, np.clip(fit.weights, 0.0, 1.0))
        assert abs(fit.forward_mismatch) <= 1e-12
    # the tilt re-solved on the fitted tree gives q back (λ = 0), so the leaves are Π q
    again = fit_measure(MARKET, fitted, Measure.TILT)
    for node, fit in zip(again.nodes, result.tree.nodes, strict=True):
        np.testing.assert_allclose(node.weights, fit.weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(again.weights, result.weights, rtol=0, atol=1e-12)
    # and the fitted tree, quoted again, is the quotes it was fitted to
    requoted = mixture_quotes(fitted, ("1M", "3M", "6M", "1Y"))
    for a, b in zip(requoted, quotes, strict=True):
        assert (a.atm, a.rr25, a.bf25) == pytest.approx((b.atm, b.rr25, b.bf25), abs=1e-9)
    # the names, levels and vols are the analyst's
    for a, b in zip(fitted.tree.nodes, ANALYST.tree.nodes, strict=True):
        assert [(x.name, x.level, x.jump, x.vol, x.next) for x in a.branches] == [
            (x.name, x.level, x.jump, x.vol, x.next) for x in b.branches
        ]


def test_option_vols_at_strikes_fit_the_nodes_too() -> None:
    """Option quotes (strike, vol) made by pricing the truth tree, none of them tenor quotes."""
    truth = tree_set(ROOT_Q, SECOND_Q)
    expiries = (dt.date(2025, 7, 22), dt.date(2025, 9, 12), dt.date(2025, 12, 15))
    strikes = (136.0, 141.0, 144.0, 147.0, 152.0)
    lines = tuple(vanilla(e, k, call=k >= 144.0) for e in expiries for k in strikes)
    priced = value_book(market=MARKET, scenario_set=truth, options=lines)
    assert priced.implied_ok.all()
    options = tuple(
        OptionQuote(
            f"{line.expiry}",
            year_fraction(MARKET.valuation_date, line.expiry),
            year_fraction(MARKET.valuation_date, line.delivery),
            line.strike,
            float(vol),
        )
        for line, vol in zip(lines, priced.implied_vols, strict=True)
    )
    result = calibrate(
        market=MARKET,
        scenario_set=ANALYST,
        options=options,
        option_dates=tuple(line.expiry for line in lines),
    )
    assert result.verdict.status is FitStatus.FITS
    np.testing.assert_allclose(node_weights(result, "deadline"), ROOT_Q, rtol=0, atol=1e-6)
    np.testing.assert_allclose(node_weights(result, "effective"), SECOND_Q, rtol=0, atol=1e-6)
    assert max(abs(f.residual) for f in result.fits) < 1e-9


def test_the_fit_does_not_stop_where_no_single_node_can_do_better() -> None:
    """Under measure 'none' the prior is the analyst's p itself. From there alone the
    node-by-node solve stops with the second node's weight all on still_open — no node by
    itself improves on it, and it misses the quotes (shown here) — so the calibration must
    try its other starts and still give back the generating weights."""
    quotes = mixture_quotes(tree_set(ROOT_Q, SECOND_Q), ("1M", "3M", "6M", "1Y"))
    problem = build_problem(MARKET, ANALYST, quotes, (), ())
    model = build_vol_model(MARKET, ANALYST)
    layout = TreeLayout.of(ANALYST.tree, valuation_date=MARKET.valuation_date, spot=S0)
    leaves = fit_measure(MARKET, ANALYST, Measure.NONE)
    p = np.array([b.probability for n in ANALYST.tree.nodes for b in n.branches])
    alone = solve_tree(
        problem=problem,
        model=model,
        layout=layout,
        tree_fit=leaves,
        leaf_jumps=leaves.jumps,
        starts=(p,),
        max_iterations=50,
    )
    assert alone.objective > 1e-6  # stuck: (vol units)² over the rows …
    np.testing.assert_allclose(alone.weights[layout.node_branches[1]], [0, 1, 0], atol=1e-12)
    result = calibrate(market=MARKET, scenario_set=ANALYST, quotes=quotes, measure=Measure.NONE)
    assert result.verdict.status is FitStatus.FITS
    np.testing.assert_allclose(node_weights(result, "deadline"), ROOT_Q, rtol=0, atol=1e-6)
    np.testing.assert_allclose(node_weights(result, "effective"), SECOND_Q, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(result.tree.nodes[0].prior, [0.3, 0.2, 0.3, 0.2])


# --- what quotes after the second decision cannot see --------------------------------------

LO, HI, VOL = 139.0, 150.0, 0.11


def repeated_tree(root: tuple[float, ...], second: tuple[float, ...]) -> ScenarioSet:
    """The second decision repeats the first's outcomes (the same deal and no-deal levels, as
    jumps from wherever spot is), every vol ``VOL``."""
    tree = DecisionTree.build(
        root="deadline",
        nodes=[
            {
                "id": "deadline",
                "date": ROOT_DATE,
                "branches": [
                    {"name": "deal", "probability": root[0], "level": HI, "vol": VOL},
                    {
                        "name": "extension",
                        "probability": root[1],
                        "jump": 1.0,
                        "vol": VOL,
                        "next": "effective",
                    },
                    {"name": "no_deal", "probability": root[2], "level": LO, "vol": VOL},
                ],
            },
            {
                "id": "effective",
                "date": SECOND_DATE,
                "branches": [
                    {"name": "late_deal", "probability": second[0], "jump": HI / S0, "vol": VOL},
                    {"name": "still_open", "probability": second[1], "jump": 1.0, "vol": VOL},
                    {"name": "tariffs", "probability": second[2], "jump": LO / S0, "vol": VOL},
                ],
            },
        ],
    )
    return tree_scenario_set(id="repeated", name="the decision, maybe deferred", tree=tree, spot=S0)


def around_one(q_one: float) -> tuple[float, float, float]:
    """``(q_deal, q_one, q_no_deal)`` with the martingale on ``HI/S0, 1, LO/S0``."""
    q_lo, q_hi = two_to_the_forward([q_one], [1.0], LO / S0, HI / S0)
    return q_hi, q_one, q_lo


PRODUCT = 0.4 * 0.5  # q_extension · q_still_open


def test_after_the_second_decision_the_prices_see_only_the_product_of_the_deferrals() -> None:
    """The witness: same product, different split — the same prices after 08-01, not before."""
    a = repeated_tree(around_one(0.4), around_one(0.5))
    b = repeated_tree(around_one(0.8), around_one(0.25))
    lines = tuple(
        vanilla(e, k, call=True)
        for e in (dt.date(2025, 7, 22), dt.date(2025, 9, 12), dt.date(2026, 6, 15))
        for k in (140.0, 146.0)
    )
    pa = value_book(market=MARKET, scenario_set=a, options=lines).greeks.price
    pb = value_book(market=MARKET, scenario_set=b, options=lines).greeks.price
    np.testing.assert_allclose(pa[2:], pb[2:], rtol=1e-12, atol=0)  # after 08-01
    assert np.all(np.abs(pa[:2] - pb[:2]) > 1e-3)  # 07-22, between the decisions


def test_quotes_only_after_the_second_decision_leave_its_split_with_the_first_open() -> None:
    truth = repeated_tree(around_one(0.4), around_one(0.5))
    quotes = mixture_quotes(truth, ("3M", "6M", "1Y"))
    assert all(q.expiry > SECOND_DATE for q in quotes)
    analyst = repeated_tree((0.3, 0.3, 0.4), (0.3, 0.3, 0.4))
    result = calibrate(market=MARKET, scenario_set=analyst, quotes=quotes)
    assert result.verdict.status is FitStatus.FITS  # the quotes are matched …
    root, second = result.tree.nodes
    q_ext, q_open = root.weights[1], second.weights[1]
    assert q_ext * q_open == pytest.approx(PRODUCT, abs=1e-6)  # … what they see is fixed …
    assert not root.identified and not second.identified  # … the split is not
    assert root.unidentified.all() and second.unidentified.all()
    # the ranges on the fibre q_ext·q_open = c: each in [c, 1]; the others follow the martingale
    np.testing.assert_allclose(root.ranges[1], [PRODUCT, 1.0], atol=1e-6)
    np.testing.assert_allclose(second.ranges[1], [PRODUCT, 1.0], atol=1e-6)
    widest = around_one(PRODUCT)
    np.testing.assert_allclose(root.ranges[0], [0.0, widest[0]], atol=1e-6)
    np.testing.assert_allclose(root.ranges[2], [0.0, widest[2]], atol=1e-6)
    # leaves: extension/still_open carries the product, identified; the others only in total
    leaves = result.identification
    names = result.scenario_names
    still = names.index("extension/still_open")
    assert not leaves.unidentified[still]
    assert result.weights[still] == pytest.approx(PRODUCT, abs=1e-6)
    others = tuple(i for i in range(len(names)) if i != still)
    assert leaves.groups == (others,)
    assert leaves.group_totals[0] == pytest.approx(1.0 - PRODUCT, abs=1e-6)
    # the fitted set says its split is one solution, not a fact
    assert "do not identify the split at nodes deadline, effective" in (
        result.fitted_set.description
    )
    # one quote between the decisions closes it
    between = mixture_quotes(truth, ("1M", "3M", "6M", "1Y"))
    closed = calibrate(market=MARKET, scenario_set=analyst, quotes=between)
    assert closed.verdict.status is FitStatus.FITS
    assert all(n.identified for n in closed.tree.nodes)
    np.testing.assert_allclose(closed.tree.nodes[0].weights, around_one(0.4), atol=1e-6)
    np.testing.assert_allclose(closed.tree.nodes[1].weights, around_one(0.5), atol=1e-6)


def test_a_node_the_fit_does_not_reach_is_not_identified() -> None:
    """Quotes a tree made with no extension: the second node is never reached, so its split
    is left open over every martingale weighting (``q_still_open`` in [0, 1])."""
    truth = repeated_tree(around_one(0.0), around_one(0.5))
    quotes = mixture_quotes(truth, ("1M", "3M", "6M"))
    result = calibrate(
        market=MARKET, scenario_set=repeated_tree((0.3, 0.3, 0.4), (0.3, 0.3, 0.4)), quotes=quotes
    )
    root, second = result.tree.nodes
    assert root.weights[1] == pytest.approx(0.0, abs=1e-9)
    assert second.reached == pytest.approx(0.0, abs=1e-9)
    assert second.unidentified.all()
    np.testing.assert_allclose(second.ranges[1], [0.0, 1.0], atol=1e-6)


# --- bad inputs ----------------------------------------------------------------------------


def _error(**kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        calibrate(market=MARKET, **kwargs)
    return caught.value


def test_a_refit_of_levels_or_vols_is_refused_for_a_tree() -> None:
    for name in ("refit_levels", "refit_vols"):
        settings = CalibrationSettings(**{name: True})
        error = _error(scenario_set=ANALYST, settings=settings)
        assert error.errors[0].field == name


def test_a_tree_whose_nodes_are_all_fixed_by_their_constraints_has_nothing_to_fit() -> None:
    tree = DecisionTree.build(
        root="deadline",
        nodes=[
            {
                "id": "deadline",
                "date": ROOT_DATE,
                "branches": [
                    {"name": "deal", "probability": 0.5, "level": 150.0, "vol": 0.1},
                    {"name": "no_deal", "probability": 0.5, "level": 139.0, "vol": 0.1},
                ],
            }
        ],
    )
    flat_like = tree_scenario_set(id="t", name="t", tree=tree, spot=S0)
    assert _error(scenario_set=flat_like).errors[0].field == "fit"


def test_a_node_with_every_jump_on_one_side_is_named() -> None:
    one_sided = dataclasses.replace(
        ANALYST.tree.nodes[1],
        branches=tuple(
            dataclasses.replace(b, level=None, jump=j)
            for b, j in zip(ANALYST.tree.nodes[1].branches, (1.01, 1.02, 1.04), strict=True)
        ),
    )
    tree = DecisionTree("deadline", (ANALYST.tree.nodes[0], one_sided))
    bad = tree_scenario_set(id="t", name="t", tree=tree, spot=S0)
    error = _error(scenario_set=bad, measure=Measure.NONE)  # no prior tilt to fail first
    assert error.errors[0].field == "scenario_set.tree.nodes[1].branches"
    assert error.kind is ErrorKind.NO_MEASURE
    error = _error(scenario_set=bad)  # under the tilt the prior names the same node
    assert error.errors[0].field == "scenario_set.tree.nodes[1].branches"


def test_a_fit_of_common_scales_is_refused_for_a_tree() -> None:
    settings = CalibrationSettings(mode=FitMode.JUMP_SCALE)
    assert _error(scenario_set=ANALYST, settings=settings).errors[0].field == "fit"
