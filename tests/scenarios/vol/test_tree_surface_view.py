"""The vol-surface view's per-scenario smiles under a decision tree: each leaf as of each
expiry.

Witness: a leaf's component is lognormal (branch vols flat in strike), so its smile is flat
at the Black vol of its total variance — the diffusion to the root plus each branch's vol²
over its segment (DESIGN.md, "Decision trees") — computed here from the tree's own figures;
between the decisions a leaf carries only the first decision's jump; a flat lognormal's
premium-adjusted delta-neutral strike is ``F·exp(−σ²T/2)`` (Clark 2011, §3.5).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from scenarios.catalog import builtin_catalog
from scenarios.dates import year_fraction
from scenarios.vol.surface_view import vol_surface_view

ENTRY = builtin_catalog()["us-japan-tariff-2025-tree"]


@pytest.mark.parametrize("tenor", ["1M", "3M"])  # 1M expires between the decisions
def test_each_leaf_smile_is_flat_at_its_piecewise_variance(tenor: str) -> None:
    market = dataclasses.replace(ENTRY.market, surface=None)  # the ATM curve, flat in strike
    tree = ENTRY.scenario_set.tree
    assert tree is not None
    view = vol_surface_view(
        market=market,
        scenario_set=ENTRY.scenario_set,
        tenors=[tenor],
        strikes=np.array([140.0, 145.0, 150.0]),
        deltas=(0.25,),
    )
    today = market.valuation_date
    t = float(view.expiries.times[0])
    root, later = tree.nodes[0], tree.nodes[1]
    t1, t2 = year_fraction(today, root.date), year_fraction(today, later.date)
    decisions = (t1, t2)  # both nodes decide something: both stripped
    pre = float(market.diffusion_atm(decisions).total_variance(np.array(t1)))
    extension = next(b for b in root.branches if b.name == "extension")
    for i, scenario in enumerate(ENTRY.scenario_set.scenarios):
        names = scenario.name.split("/")
        if len(names) == 2 and t > t2:
            second = next(b for b in later.branches if b.name == names[1])
            w = pre + extension.vol**2 * (t2 - t1) + second.vol**2 * (t - t2)
        elif len(names) == 2:  # between the decisions: still in the extension
            w = pre + extension.vol**2 * (t - t1)
        else:
            first = next(b for b in root.branches if b.name == names[0])
            w = pre + first.vol**2 * (t - t1)
        smile = view.scenarios[i]
        # its forward: F·J with the jumps decided by the expiry (an extension leaf between
        # the decisions has only the extension's J = 1); premium-adjusted delta-neutral ATM
        # of a flat lognormal is K = F·exp(−σ²T/2)
        jump = 1.0 if len(names) == 2 and t < t2 else float(view.fit.jumps[i])
        forward = float(view.expiries.forwards[0]) * jump
        assert smile.quotes.atm_strikes[0] == pytest.approx(forward * math.exp(-w / 2), rel=1e-9)
        assert smile.quotes.atm_vols[0] == pytest.approx(math.sqrt(w / t), abs=1e-9), names
        np.testing.assert_allclose(smile.vols[0], math.sqrt(w / t), atol=1e-9)  # flat
