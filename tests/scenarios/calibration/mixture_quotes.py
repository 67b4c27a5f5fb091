"""The quotes a mixture makes of itself: the calibration tests' market to fit back to."""

from __future__ import annotations

import numpy as np

from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.smiles import SmileQuote
from scenarios.vol.surface_view import vol_surface_view


def quotes_and_weights(
    market: MarketSnapshot, scenario_set: ScenarioSet, tenors: tuple[str, ...]
) -> tuple[tuple[SmileQuote, ...], np.ndarray]:
    """The mixture's own ATM / 25Δ RR / broker BF at ``tenors`` (priced under the tilt), and
    the pricing weights q it was priced with."""
    view = vol_surface_view(
        market=market,
        scenario_set=scenario_set,
        tenors=tenors,
        strikes=np.array([140.0, 150.0]),
        deltas=(0.25,),
    )
    q = view.mixture.quotes
    quotes = tuple(
        SmileQuote(
            view.expiry_dates[i],
            view.delivery_dates[i],
            float(q.atm_vols[i]),
            float(q.risk_reversals[i, 0]),
            float(q.broker_butterflies[i, 0]),
            tenor=tenor,
        )
        for i, tenor in enumerate(tenors)
    )
    return quotes, view.fit.weights
