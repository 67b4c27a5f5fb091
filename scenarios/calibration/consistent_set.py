"""The market-consistent version of an analyst's scenario set: same names, same order, same
story, repricing the market's quotes after the event.

Conventions: vols annualised decimals; levels JPY per USD; times years ACT/365F; jump ratios
``J_i = L_i/S0``.

What moves and what stays (a stated combination of the fits of
:mod:`scenarios.calibration.modes`):

* **probabilities** stay the analyst's ``p`` (the pricing measure re-solves ``q`` from them);
* **levels** move toward the forward by one common factor on the log jumps,
  ``ln J_i → κ·ln J_i`` (the order of the outcomes and their relative distances kept), ``κ``
  solved on the quotes (``fit: jump_scale``);
* **post-event vols** become smiles: scenario ``i``'s post-event smile at each of the
  market's pillar expiries after the event has ATM ``s_i·a_j·σ_d,j`` — ``σ_d,j`` the
  market's diffusion forward vol from the event to the pillar (the event-stripped ATM curve,
  :meth:`scenarios.market.MarketSnapshot.diffusion_atm`), ``s_i = σ_i/√(Σ p·σ²)`` the
  analyst's post-event vol relative to the set's (escalation stays the most volatile) —
  and the risk reversal ``r_j`` and butterfly ``b_j`` common to every scenario;
* ``a_j``, ``r_j``, ``b_j`` start at 1 and the market's own RR/BF at the pillar and are
  corrected by the mixture's misses at the pillar (``a_j ← a_j·σ_mkt/σ_mix``,
  ``r_j ← r_j − (RR_mix − RR_mkt)``, likewise ``b_j``), ``κ`` re-solved after each round,
  for :data:`ROUNDS` rounds: a fixed-point iteration that converges because each pillar's
  post-event smile moves that pillar's mixture quote nearly one for one.

The result reprices every post-event pillar within the consistency tolerances
(:mod:`scenarios.vol.consistency`); its description says what was fitted, with ``κ``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from pricing.mixture.measure import Measure
from scenarios.calibration.fit import CalibrationSettings, calibrate
from scenarios.calibration.modes import FitMode
from scenarios.dates import year_fraction
from scenarios.errors import DomainError
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.smiles import ScenarioSmile, SmileQuote

ROUNDS = 4


@dataclass(frozen=True)
class ConsistentSet:
    """The consistent set, its jump scale ``κ`` and the post-event smile's pillar shape."""

    scenario_set: ScenarioSet
    jump_scale: float
    atm_factors: tuple[float, ...]
    risk_reversals: tuple[float, ...]
    butterflies: tuple[float, ...]


def market_consistent_set(
    *,
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    id: str,
    name: str,
    measure: Measure = Measure.TILT,
) -> ConsistentSet:
    """The consistent version of a flat ``scenario_set`` on ``market`` (module docstring).

    Raises:
        DomainError: a tree set, a set with smiles of its own, or a market without a surface
            pillar after the event (``scenario_set``).
    """
    if scenario_set.tree is not None or any(s.smile for s in scenario_set.scenarios):
        raise DomainError.field(
            "scenario_set", "must be a flat set with flat post-event vols to be made consistent"
        )
    surface = market.surface
    if surface is None:
        raise DomainError.field("scenario_set", "needs a market surface to be made consistent")
    today, event = market.valuation_date, scenario_set.event_date
    pillars = tuple(q for q in surface.quotes if q.expiry > event)
    if not pillars:
        raise DomainError.field("scenario_set", "needs a market pillar after the event")
    t_event = year_fraction(today, event)
    times = np.array([year_fraction(today, q.expiry) for q in pillars])
    diffusion = market.diffusion_atm((t_event,))
    w = diffusion.total_variance(np.concatenate((times, [t_event])))
    forward_vols = np.sqrt((w[:-1] - w[-1]) / (times - t_event))
    vols = np.array([s.vol for s in scenario_set.scenarios])
    p = np.array([s.probability for s in scenario_set.scenarios])
    relative = vols / math.sqrt(float(p @ vols**2))
    atm = np.ones(len(pillars))
    rr = np.array([q.rr25 for q in pillars])
    bf = np.array([q.bf25 for q in pillars])
    result = None
    for _ in range(ROUNDS + 1):
        smiled = _with_smiles(scenario_set, pillars, relative * 1.0, forward_vols * atm, rr, bf)
        result = calibrate(
            market=market,
            scenario_set=smiled,
            measure=measure,
            settings=CalibrationSettings(mode=FitMode.JUMP_SCALE),
        )
        by_quote = {(f.expiry, f.kind): f for f in result.fits}
        for j, quote in enumerate(pillars):
            a, r, b = (by_quote.get((quote.expiry, k)) for k in ("atm", "rr25", "bf25"))
            if a is not None and a.model:
                atm[j] *= a.market / a.model
            if r is not None and r.residual is not None:
                rr[j] -= r.residual
            if b is not None and b.residual is not None:
                bf[j] -= b.residual
    # the last round's set, as calibrated: its quotes are the ones the misses were read at
    assert result is not None and result.fitted_set is not None, result
    kappa = result.jump_scale
    note = (
        f"Market-consistent version of {scenario_set.id!r} (scenarios.calibration."
        f"consistent_set): the analyst's probabilities; levels S0·J^κ with κ = {kappa:.6g}; "
        f"post-event smiles at the market's pillars after the event with the diffusion's "
        f"forward ATM scaled by each scenario's vol relative to the set's, and a common risk "
        f"reversal and butterfly, solved so that the mixture reprices the market's pillars."
    )
    fitted = result.fitted_set
    description = f"{scenario_set.description}\n\n{note}" if scenario_set.description else note
    consistent = dataclasses.replace(fitted, id=id, name=name, description=description)
    return ConsistentSet(
        scenario_set=consistent,
        jump_scale=kappa,
        atm_factors=tuple(float(x) for x in atm),
        risk_reversals=tuple(float(x) for x in rr),
        butterflies=tuple(float(x) for x in bf),
    )


def _with_smiles(
    scenario_set: ScenarioSet,
    pillars: tuple[SmileQuote, ...],
    relative: np.ndarray,
    atm: np.ndarray,
    rr: np.ndarray,
    bf: np.ndarray,
) -> ScenarioSet:
    """The analyst's set with post-event smiles quoted at the pillars' dates (module
    docstring): scenario ``i``'s ATM ``relative[i]·atm[j]``, RR ``rr[j]``, BF ``bf[j]``."""
    scenarios = tuple(
        dataclasses.replace(
            scenario,
            smile=ScenarioSmile(
                quotes=tuple(
                    SmileQuote(
                        q.expiry,
                        q.delivery,
                        atm=float(relative[i] * atm[j]),
                        rr25=float(rr[j]),
                        bf25=float(bf[j]),
                    )
                    for j, q in enumerate(pillars)
                )
            ),
        )
        for i, scenario in enumerate(scenario_set.scenarios)
    )
    return dataclasses.replace(scenario_set, scenarios=scenarios)


def consistent_set_toml(source: ConsistentSet, market_file: str, credit: str | None) -> str:
    """The consistent set as a ``scenarios/data`` file (``python -m
    scenarios.calibration.consistent_set`` writes the built-in one)."""
    s = source.scenario_set
    lines = [
        "# GENERATED by `python -m scenarios.calibration.consistent_set` from the analyst's set",
        "# of tariff_2025.toml on its market: do not edit by hand. The procedure (the module's",
        "# docstring): the analyst's probabilities; levels S0·J^κ, one κ on every log jump;",
        "# post-event smiles at the market's pillars after the event (the diffusion's forward",
        "# ATM × each scenario's vol relative to the set's, a common RR and BF), solved so the",
        "# mixture reprices the market's pillars. tests/scenarios/calibration/",
        "# test_consistent_set.py re-runs it and holds this file to it.",
        "",
        "[scenario_set]",
        f'id = "{s.id}"',
        f'name = "{s.name}"',
        f"event_date = {s.event_date.isoformat()}",
        f'market_file = "{market_file}"',
    ]
    if credit:
        lines.append(f'credit = "{credit}"')
    lines += [
        f"jump_scale = {source.jump_scale!r}",
        f'description = """{s.description}"""',
    ]
    for scenario in s.scenarios:
        lines += [
            "",
            "[[scenario_set.scenarios]]",
            f'name = "{scenario.name}"',
            f'description = "{scenario.description}"',
            f"probability = {scenario.probability!r}",
            f"level = {scenario.level!r}",
            f"vol = {scenario.vol!r}",
        ]
        if scenario.drivers:
            lines.append("[scenario_set.scenarios.drivers]")
            lines += [f"{k} = {v!r}" for k, v in scenario.drivers.items()]
        assert scenario.smile is not None
        for q in scenario.smile.quotes:
            lines += [
                "[[scenario_set.scenarios.smile]]",
                f"expiry = {q.expiry.isoformat()}",
                f"delivery = {q.delivery.isoformat()}",
                f"atm = {q.atm!r}",
                f"rr25 = {q.rr25!r}",
                f"bf25 = {q.bf25!r}",
            ]
    return "\n".join(lines) + "\n"


CONSISTENT_ID = "us-japan-tariff-2025-07-09-consistent"
CONSISTENT_NAME = "US–Japan auto-tariff decision, market-consistent"


def build_builtin() -> ConsistentSet:
    """The built-in consistent set, from the analyst's built-in set on its market."""
    from scenarios.catalog import ANALYST_SET, analyst_entry

    entry = analyst_entry()
    assert entry.scenario_set.id == ANALYST_SET
    return market_consistent_set(
        market=entry.market,
        scenario_set=entry.scenario_set,
        id=CONSISTENT_ID,
        name=CONSISTENT_NAME,
    )


if __name__ == "__main__":  # pragma: no cover - writes the data file
    from importlib import resources

    built = build_builtin()
    path = resources.files("scenarios.data").joinpath("tariff_2025_consistent.toml")
    text = consistent_set_toml(built, "tariff_2025.toml", "japan-autos-cds-2025-06-13")
    with open(str(path), "w", encoding="utf-8") as out:
        out.write(text)
    print(f"wrote {path}: κ = {built.jump_scale:.6g}")
