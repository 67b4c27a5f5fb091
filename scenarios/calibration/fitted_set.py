"""The scenario set a fit to market returns: the analyst's, with what the fit moved.

Conventions: levels JPY per USD; vols annualised decimals; probabilities fractions.

Names, order, descriptions, drivers and smiles stay the analyst's; the levels become the
fitted ones (``S0·J_i^κ`` under a jump scale, or a refit's), flat post-event vols are
multiplied by the fitted factor, and the probabilities are the fitted risk-neutral weights
when the fit solved for them (already ``Σ q·J = 1``: the tilt then leaves them as they are,
to rounding) or the analyst's ``p`` otherwise (the measure is re-solved from them, as the fit
did). Priced on the same market with the same measure, the set gives the fitted mixture.

A vol factor cannot be written into a scenario's smile (a shift or quotes of its own), nor
leaf weights into a decision tree's branches: such a set has no fitted form, and
:func:`fitted_scenario_set` says why instead. A tree fitted node by node
(:mod:`scenarios.calibration.tree_fit`) has one: :func:`fitted_tree_set` writes each node's
fitted ``q`` into its branches' probabilities (the martingale holds at every node, so the
tilt re-solves each node to ``λ = 0`` and gives ``q`` back), everything else the analyst's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scenarios.errors import DomainError
from scenarios.scenario import ScenarioSet, tree_scenario_set
from scenarios.tree import DecisionNode, DecisionTree


def fitted_scenario_set(
    *,
    scenario_set: ScenarioSet,
    levels: np.ndarray,
    probabilities: np.ndarray,
    vol_scales: np.ndarray,
    note: str,
) -> tuple[ScenarioSet | None, str | None]:
    """``(the fitted set, None)``, or ``(None, why not)`` (module docstring).

    Args:
        levels, probabilities, vol_scales: ``[m]`` after the fit, in the set's order.
        note: appended to the set's description (what was fitted, with its figures).
    """
    if getattr(scenario_set, "tree", None) is not None:
        return None, (
            "the set is a decision tree: its fitted weights are the leaves', which no tree's "
            "branch probabilities need reproduce, so no fitted set is given"
        )
    for i, scenario in enumerate(scenario_set.scenarios):
        if float(vol_scales[i]) != 1.0 and scenario.smile is not None:
            return None, (
                f"scenario_set.scenarios[{i}] ({scenario.name}) has a post-event smile, which "
                f"a vol factor of {float(vol_scales[i]):.6g} cannot be written into: no "
                f"fitted set is given"
            )
    description = f"{scenario_set.description}\n\n{note}" if scenario_set.description else note
    try:
        scenarios = tuple(
            dataclasses.replace(
                scenario,
                probability=min(max(float(probabilities[i]), 0.0), 1.0),
                level=float(levels[i]),
                vol=scenario.vol if vol_scales[i] == 1.0 else scenario.vol * float(vol_scales[i]),
            )
            for i, scenario in enumerate(scenario_set.scenarios)
        )
        fitted = ScenarioSet(
            scenario_set.id, scenario_set.name, scenario_set.event_date, scenarios, description
        )
    except DomainError as exc:  # a fitted figure outside a scenario's bounds
        return None, f"the fitted set breaks a rule of scenario sets: {exc}"
    return fitted, None


def fitted_tree_set(
    *,
    scenario_set: ScenarioSet,
    node_weights: tuple[np.ndarray, ...],
    spot: float,
    note: str,
) -> tuple[ScenarioSet | None, str | None]:
    """``(the tree set with each branch's probability its node's fitted q, None)``, or
    ``(None, why not)``.

    Args:
        scenario_set: a tree set.
        node_weights: per node of ``scenario_set.tree`` (its order), ``[b]`` the fitted ``q``.
        spot: S0 (JPY per USD) the leaves are read at: the market's.
        note: appended to the set's description.
    """
    tree = scenario_set.tree
    assert tree is not None
    description = f"{scenario_set.description}\n\n{note}" if scenario_set.description else note
    try:
        nodes = tuple(
            DecisionNode(
                node.id,
                node.date,
                tuple(
                    dataclasses.replace(branch, probability=min(max(float(q[j]), 0.0), 1.0))
                    for j, branch in enumerate(node.branches)
                ),
            )
            for node, q in zip(tree.nodes, node_weights, strict=True)
        )
        fitted = tree_scenario_set(
            id=scenario_set.id,
            name=scenario_set.name,
            tree=DecisionTree(tree.root, nodes),
            spot=spot,
            description=description,
        )
    except DomainError as exc:  # a fitted figure outside a branch's bounds
        return None, f"the fitted tree breaks a rule of decision trees: {exc}"
    return fitted, None
