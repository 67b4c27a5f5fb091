"""Start-up work: compile and exercise the pricing path once on the built-in example."""

from __future__ import annotations

from pricing.mixture import PARALLEL_THRESHOLD
from scenarios.catalog import builtin_catalog
from scenarios.instruments import OptionKind, build_fx_option
from scenarios.valuation import value_book


def warm_up() -> None:
    """Price one option per built-in set so the first client request pays no JIT cost."""
    for entry in builtin_catalog().values():
        option = build_fx_option(
            valuation_date=entry.market.valuation_date,
            kind=OptionKind.CALL,
            strike=entry.market.spot,
            tenor="3M",
        )
        value_book(market=entry.market, scenario_set=entry.scenario_set, options=(option,))
        # and a book large enough for the threaded build, so big books pay no compile either
        book = (option,) * PARALLEL_THRESHOLD
        value_book(market=entry.market, scenario_set=entry.scenario_set, options=book)
