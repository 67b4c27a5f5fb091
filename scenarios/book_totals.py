"""A book's totals: value per scenario and under the mixture, converted to one reporting
currency, the position Greeks in desk units, and the same per group of tagged lines.

Signs and units (:mod:`scenarios.positions`): every figure here is a *position* figure —
signed by side and multiplied by notional. Per line of the FX European family
(:func:`position_risk`), from the per-unit Greeks of :class:`pricing.mixture.european.MixtureResult`
and ``n = sign × notional``:

* ``delta_usd`` = n·∂price/∂S0, USD (the USD amount whose spot move the line's value follows);
  ``delta_jpy`` = −delta_usd·S0, the JPY amount of the same spot position's other leg
  (a long USD delta is short that many JPY); ``delta_pct`` = 100·delta_usd / notional in
  USD (the notional itself, or notional/S0 for a digital paying JPY).
* ``delta_premium_adjusted_usd`` = n·(∂price/∂S0 − price/S0): the delta of a USD-premium
  (USD/JPY's market convention), and ``delta_premium_adjusted_pct`` as above.
* ``gamma_usd_per_big_figure``: change of delta_usd for a 1.00 JPY move of USD/JPY (a big
  figure), n·∂²price/∂S0² × 1.00.
* ``vega_jpy_per_vol_point``: n·∂price/∂σ × 0.01, JPY per 1 vol point (parallel, every vol).
* ``theta_jpy_per_day``: n·∂price/∂t / 365, JPY per calendar day as the valuation date rolls.
* ``rho_jpy_per_bp`` / ``rho_usd_per_bp``: n·∂price/∂r × 1e-4, JPY per 1bp of each rate.

The per-1.00 figures (per unit, unsigned) stay in each line's ``greeks``.

Conversion to the reporting currency. Lines are valued in their own currency (FX lines JPY,
CDS lines USD). Today's mixture value converts at the market forward to the event date
``F(T_e) = S0·DF_USD(T_e)/DF_JPY(T_e)``; a scenario's value converts at that scenario's
post-event level as priced, ``S0·J_i`` (the set's level under the ``tilt`` and ``none``
measures, rescaled under ``scale``). Both rates are returned, so every converted figure ties
out as ``JPY + USD × rate`` (or ``JPY / rate + USD`` reporting in USD). The scenario P&L is
the converted scenario value minus the converted mixture value: it includes the translation
of the USD lines between the two rates. ``dvalue_dq`` (∂ total / ∂q_i, the scenario value
itself, as the mixture is linear in q) converts at the mixture's rate.

Sums are compensated (:mod:`pricing.sums`): within a few ulps of the exact sum however the
lines cancel, and exactly zero for lines that cancel exactly.

What the totals cover: values and scenario values over every line; FX Greeks and
``dvalue_dlevel`` over the FX European lines (the barrier/touch lines are priced by closed
form or Monte Carlo without Greeks, CDS lines carry their credit figures in their rows) —
``lines_with_greeks`` says how many lines the Greek totals hold. A scenario value that a
Monte Carlo line could not give (no path drew that scenario) makes that scenario's total NaN
(reported as null).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from pricing.mixture.european import MixtureResult
from pricing.sums import column_sums, total

DESK_GREEKS = (
    "delta_usd",
    "delta_jpy",
    "delta_pct",
    "delta_premium_adjusted_usd",
    "delta_premium_adjusted_pct",
    "gamma_usd_per_big_figure",
    "vega_jpy_per_vol_point",
    "theta_jpy_per_day",
    "rho_jpy_per_bp",
    "rho_usd_per_bp",
)
_SUMMED = tuple(g for g in DESK_GREEKS if not g.endswith("_pct"))  # percentages do not add


class ReportingCurrency(StrEnum):
    JPY = "JPY"
    USD = "USD"


def position_risk(
    greeks: MixtureResult,
    *,
    signed_notionals: np.ndarray,
    usd_notionals: np.ndarray,
    spot: float,
) -> dict[str, np.ndarray]:
    """Desk-unit position Greeks [n] of FX lines (module docstring).

    Args:
        greeks: per-unit mixture price and Greeks, JPY per unit of notional.
        signed_notionals: ``sign × notional`` [n].
        usd_notionals: each line's notional in USD [n] (> 0), the base of the percentages.
        spot: S0, JPY per USD.
    """
    n = signed_notionals
    delta_usd = n * greeks.delta
    delta_pa = n * greeks.delta_premium_adjusted
    return {
        "delta_usd": delta_usd,
        "delta_jpy": -delta_usd * spot,
        "delta_pct": 100.0 * delta_usd / usd_notionals,
        "delta_premium_adjusted_usd": delta_pa,
        "delta_premium_adjusted_pct": 100.0 * delta_pa / usd_notionals,
        "gamma_usd_per_big_figure": n * greeks.gamma,
        "vega_jpy_per_vol_point": n * greeks.vega * 0.01,
        "theta_jpy_per_day": n * greeks.theta / 365.0,
        "rho_jpy_per_bp": n * greeks.rho_jpy * 1e-4,
        "rho_usd_per_bp": n * greeks.rho_usd * 1e-4,
    }


@dataclass(frozen=True)
class BookRows:
    """A valued book in request order, ``N`` lines and ``m`` scenarios.

    Attributes:
        values: [N] signed mixture value, each line's currency.
        scenario_values: [N, m] signed value if each scenario happens (NaN: no Monte Carlo
            path drew it).
        is_usd: [N] True on lines valued in USD (the rest in JPY).
        risk: desk Greeks (:data:`DESK_GREEKS`) [N], 0 on lines without Greeks.
        d_levels: [N, m] signed ∂value/∂L_i, JPY per JPY of level (0 without).
        has_greeks: [N] True on lines whose Greeks ``risk`` holds.
    """

    values: np.ndarray
    scenario_values: np.ndarray
    is_usd: np.ndarray
    risk: Mapping[str, np.ndarray]
    d_levels: np.ndarray
    has_greeks: np.ndarray


@dataclass(frozen=True)
class Conversion:
    """JPY per USD used for the mixture (the forward to the event) and each scenario."""

    reporting: ReportingCurrency
    mixture_rate: float
    scenario_rates: np.ndarray  # [m]

    def convert(
        self, jpy: np.ndarray | float, usd: np.ndarray | float, rate: np.ndarray | float
    ) -> np.ndarray:
        """JPY and USD amounts as one amount in the reporting currency at ``rate``."""
        if self.reporting is ReportingCurrency.JPY:
            return np.asarray(jpy + usd * rate)  # type: ignore[operator]
        return np.asarray(jpy / rate + usd)  # type: ignore[operator]


@dataclass(frozen=True)
class Totals:
    """Totals over a set of lines; currency figures in the reporting currency unless named."""

    lines: int
    lines_with_greeks: int
    value_by_currency: dict[str, float]
    value: float
    scenario_values_by_currency: dict[str, np.ndarray]
    scenario_values: np.ndarray  # [m]
    scenario_pnl: np.ndarray  # [m]
    dvalue_dq: np.ndarray  # [m]
    dvalue_dlevel: np.ndarray  # [m], JPY per JPY of level
    greeks: dict[str, float]  # DESK_GREEKS that add, over lines with Greeks


def conversion(
    reporting: ReportingCurrency, *, forward_to_event: float, levels: np.ndarray
) -> Conversion:
    """The rates of the module docstring: ``forward_to_event`` F(T_e), ``levels`` S0·J_i."""
    return Conversion(reporting, float(forward_to_event), np.asarray(levels, dtype=float))


def book_totals(rows: BookRows, conv: Conversion, select: np.ndarray | None = None) -> Totals:
    """Totals over the lines ``select`` (a boolean or index array; None: all)."""
    index = slice(None) if select is None else select
    values = rows.values[index]
    scen = rows.scenario_values[index]
    usd = rows.is_usd[index]
    by_ccy: dict[str, float] = {}
    scen_by_ccy: dict[str, np.ndarray] = {}
    for ccy, mask in (("JPY", ~usd), ("USD", usd)):
        by_ccy[ccy] = total(values[mask])
        scen_by_ccy[ccy] = column_sums(scen[mask])
    value = float(conv.convert(by_ccy["JPY"], by_ccy["USD"], conv.mixture_rate))
    scenario_values = conv.convert(scen_by_ccy["JPY"], scen_by_ccy["USD"], conv.scenario_rates)
    dq = conv.convert(scen_by_ccy["JPY"], scen_by_ccy["USD"], conv.mixture_rate)
    has = rows.has_greeks[index]
    return Totals(
        lines=int(values.size),
        lines_with_greeks=int(np.count_nonzero(has)),
        value_by_currency=by_ccy,
        value=value,
        scenario_values_by_currency=scen_by_ccy,
        scenario_values=scenario_values,
        scenario_pnl=scenario_values - value,
        dvalue_dq=dq,
        dvalue_dlevel=column_sums(rows.d_levels[index]),
        greeks={g: total(rows.risk[g][index]) for g in _SUMMED},
    )


def group_totals(
    rows: BookRows, conv: Conversion, tags: Sequence[Mapping[str, str]], keys: Sequence[str]
) -> list[tuple[str, str | None, Totals]]:
    """Sub-totals per value of each tag ``key``: ``(key, value, totals)``, values in first-seen
    order, lines without the tag under ``None`` (last)."""
    out: list[tuple[str, str | None, Totals]] = []
    for key in keys:
        codes: dict[str | None, int] = {}
        line_codes = np.fromiter(
            (codes.setdefault(t.get(key), len(codes)) for t in tags), np.intp, len(tags)
        )
        order = [v for v in codes if v is not None] + ([None] if None in codes else [])
        for value in order:
            members = np.flatnonzero(line_codes == codes[value])
            out.append((key, value, book_totals(rows, conv, members)))
    return out
