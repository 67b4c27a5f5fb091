"""Start-up work: compile and exercise the pricing paths once on the built-in example.

The numba kernels (mixture, implied vol, path stepping) compile on first use, from the disk
cache when there is one; doing it here means no client request pays for it.
"""

from __future__ import annotations

from pricing.mixture.european import PARALLEL_THRESHOLD
from pricing.mixture.measure import Measure
from scenarios.catalog import builtin_catalog
from scenarios.fx.instruments import OptionKind, build_fx_option
from scenarios.fx.valuation import value_book
from scenarios.paths.instruments import Direction, TouchType, build_touch_option
from scenarios.paths.simulation import SimulationSettings
from scenarios.paths.valuation import value_path_book
from scenarios.vol.consistency import consistency_report


def warm_up() -> None:
    """Price an option, a large book and a one-touch per built-in set, and fill the cache of
    its market-consistency report under the default measure and diffusion."""
    for entry in builtin_catalog().values():
        market, scenario_set = entry.market, entry.scenario_set
        option = build_fx_option(
            valuation_date=market.valuation_date,
            kind=OptionKind.CALL,
            strike=market.spot,
            tenor="3M",
        )
        value_book(market=market, scenario_set=scenario_set, options=(option,))
        # a book large enough for the threaded build, so big books pay no compile either
        value_book(market=market, scenario_set=scenario_set, options=(option,) * PARALLEL_THRESHOLD)
        touch = build_touch_option(
            valuation_date=market.valuation_date,
            spot=market.spot,
            touch_type=TouchType.ONE_TOUCH,
            direction=Direction.UP,
            barrier=market.spot * 1.05,
            cash=1.0,
            tenor="3M",
        )
        value_path_book(
            market=market,
            scenario_set=scenario_set,
            contracts=(touch,),
            settings=SimulationSettings(n_paths=1024, seed=0),
        )
        consistency_report(market, scenario_set, Measure.TILT)
