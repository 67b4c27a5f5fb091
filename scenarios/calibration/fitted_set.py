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
:func:`fitted_scenario_set` says why instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scenarios.errors import DomainError
from scenarios.scenario import ScenarioSet


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
