"""The built-in market-consistent set: the analyst's story, repricing the market's quotes.

Witnesses: the market's own quotes after the event (the consistency report, held to closed
forms in tests/scenarios/vol/test_consistency.py, compares the mixture with them); the
analyst's data file for the story it must keep (names, order, probabilities, drivers, the
order of the levels and of the post-event vols); and the documented procedure
(scenarios.calibration.consistent_set), re-run here, for the generated data file.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pricing.mixture.measure import Measure
from scenarios.calibration.consistent_set import CONSISTENT_ID, build_builtin
from scenarios.catalog import ANALYST_SET, builtin_catalog
from scenarios.vol.consistency import (
    ATM_TOLERANCE_VOL_POINTS,
    WING_TOLERANCE_VOL_POINTS,
    consistency_report,
)

CATALOG = builtin_catalog()
ANALYST = CATALOG[ANALYST_SET]
CONSISTENT = CATALOG[CONSISTENT_ID]


def test_the_consistent_set_reprices_every_post_event_pillar_within_tolerance() -> None:
    report = consistency_report(CONSISTENT.market, CONSISTENT.scenario_set, Measure.TILT)
    assert report.consistent, report.reason
    assert len(report.pillars) == 5  # 1M, 3M, 6M, 1Y, 2Y: the market's pillars after 07-09
    for pillar in report.pillars:
        d = pillar.differences
        assert d.atm is not None and d.rr25 is not None and d.bf25 is not None
        assert abs(d.atm) <= ATM_TOLERANCE_VOL_POINTS  # vol points
        assert max(abs(d.rr25), abs(d.bf25)) <= WING_TOLERANCE_VOL_POINTS


def test_the_analysts_set_reports_the_gap_it_has() -> None:
    report = consistency_report(ANALYST.market, ANALYST.scenario_set, Measure.TILT)
    assert not report.consistent and report.reason
    assert report.variance_ratio is not None and report.variance_ratio > 5


def test_the_story_is_kept_names_order_probabilities_drivers_and_one_jump_scale() -> None:
    analyst, consistent = ANALYST.scenario_set.scenarios, CONSISTENT.scenario_set.scenarios
    assert [s.name for s in consistent] == [s.name for s in analyst]
    assert [s.probability for s in consistent] == [s.probability for s in analyst]
    assert [dict(s.drivers) for s in consistent] == [dict(s.drivers) for s in analyst]
    spot = ANALYST.market.spot
    kappas = [
        math.log(c.level / spot) / math.log(a.level / spot)
        for a, c in zip(analyst, consistent, strict=True)
    ]
    np.testing.assert_allclose(kappas, kappas[0], rtol=1e-9)
    assert 0 < kappas[0] < 1  # toward the forward, not away from it
    # the post-event vols keep the analyst's ratios at every pillar
    for j in range(len(consistent[0].smile.quotes)):
        atms = np.array([s.smile.quotes[j].atm for s in consistent])
        vols = np.array([s.vol for s in analyst])
        np.testing.assert_allclose(atms / atms[0], vols / vols[0], rtol=1e-12)


def test_the_data_file_is_what_the_documented_procedure_gives() -> None:
    built = build_builtin().scenario_set
    for given, derived in zip(CONSISTENT.scenario_set.scenarios, built.scenarios, strict=True):
        assert given.level == pytest.approx(derived.level, rel=1e-9)
        for q, r in zip(given.smile.quotes, derived.smile.quotes, strict=True):
            assert (q.expiry, q.delivery) == (r.expiry, r.delivery)
            np.testing.assert_allclose([q.atm, q.rr25, q.bf25], [r.atm, r.rr25, r.bf25], atol=1e-9)
