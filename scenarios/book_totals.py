"""A book's totals: value per scenario and under the mixture, converted to one reporting
currency, the position Greeks in desk units, and the same per group of tagged lines.

Signs and units (:mod:`scenarios.positions`): every figure here is a *position* figure —
signed by side and multiplied by notional. Per line of the FX European family
(:func:`pricing.positions.fx_positions`), from the per-unit Greeks of
:class:`pricing.mixture.european.MixtureResult` and ``n = sign × notional``:

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

from pricing.sums import grouped_column_sums

SUMMED_GREEKS = (
    "delta_usd",
    "delta_jpy",
    "delta_premium_adjusted_usd",
    "gamma_usd_per_big_figure",
    "vega_jpy_per_vol_point",
    "theta_jpy_per_day",
    "rho_jpy_per_bp",
    "rho_usd_per_bp",
)
"""The desk Greeks that add over lines, in the columns of :func:`position_risk`."""
DESK_GREEKS = (*SUMMED_GREEKS, "delta_pct", "delta_premium_adjusted_pct")
"""Every desk Greek of a line: the summed ones, then the percentages (which do not add)."""


class ReportingCurrency(StrEnum):
    JPY = "JPY"
    USD = "USD"


@dataclass(frozen=True)
class BookRows:
    """A valued book in request order, ``N`` lines and ``m`` scenarios, as the columns its
    totals add up: ``[N, 1 + m + b + 8]`` — signed mixture value, signed value if each
    scenario happens (NaN: no Monte Carlo path drew it), signed ∂value/∂L for each of the ``b``
    levels (the ``m`` scenarios' of a flat set, a tree's branches; JPY per JPY of level, 0
    without), then the desk Greeks that add (:data:`SUMMED_GREEKS`, 0 on lines without).

    Attributes:
        columns: as above, each line in its own currency.
        is_usd: [N] True on lines valued in USD (the rest in JPY).
        has_greeks: [N] True on lines whose Greeks the columns hold.
        scenarios: m.
    """

    columns: np.ndarray
    is_usd: np.ndarray
    has_greeks: np.ndarray
    scenarios: int


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
            return np.asarray(jpy + usd * rate)
        return np.asarray(jpy / rate + usd)


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
    dvalue_dlevel: np.ndarray  # [b] per level (scenario or tree branch), JPY per JPY of level
    greeks: dict[str, float]  # DESK_GREEKS that add, over lines with Greeks


def totals_from_sums(
    sums: np.ndarray, lines: int, with_greeks: int, conv: Conversion, scenarios: int
) -> Totals:
    """Totals from the column sums ``[2, K]`` of the JPY (row 0) and USD (row 1) lines, laid
    out as :class:`BookRows` with ``scenarios`` = m."""
    m = scenarios
    b = sums.shape[1] - 1 - m - len(SUMMED_GREEKS)
    jpy, usd = sums[0], sums[1]
    both = jpy + usd  # Greeks and ∂/∂L: JPY figures on any line that has them
    value = float(conv.convert(jpy[0], usd[0], conv.mixture_rate))
    scenario_values = conv.convert(jpy[1 : 1 + m], usd[1 : 1 + m], conv.scenario_rates)
    return Totals(
        lines=lines,
        lines_with_greeks=with_greeks,
        value_by_currency={"JPY": float(jpy[0]), "USD": float(usd[0])},
        value=value,
        scenario_values_by_currency={"JPY": jpy[1 : 1 + m], "USD": usd[1 : 1 + m]},
        scenario_values=scenario_values,
        scenario_pnl=scenario_values - value,
        dvalue_dq=conv.convert(jpy[1 : 1 + m], usd[1 : 1 + m], conv.mixture_rate),
        dvalue_dlevel=both[1 + m : 1 + m + b],
        greeks=dict(zip(SUMMED_GREEKS, both[1 + m + b :].tolist(), strict=True)),
    )


def book_totals(rows: BookRows, conv: Conversion) -> Totals:
    """Totals over every line of the book: one compensated pass over its columns."""
    sums = grouped_column_sums(rows.columns, rows.is_usd.astype(np.intp), 2)
    return totals_from_sums(
        sums, rows.columns.shape[0], int(np.count_nonzero(rows.has_greeks)), conv, rows.scenarios
    )


def group_totals(
    rows: BookRows, conv: Conversion, tags: Sequence[Mapping[str, str]], keys: Sequence[str]
) -> list[tuple[str, str | None, Totals]]:
    """Sub-totals per value of each tag ``key``: ``(key, value, totals)``, values in first-seen
    order, lines without the tag under ``None`` (last); one pass over the book per key."""
    out: list[tuple[str, str | None, Totals]] = []
    usd = rows.is_usd.astype(np.intp)
    for key in keys:
        codes: dict[str | None, int] = {}
        line_codes = np.fromiter(
            (codes.setdefault(t.get(key), len(codes)) for t in tags), np.intp, len(tags)
        )
        n_groups = len(codes)
        sums = grouped_column_sums(rows.columns, 2 * line_codes + usd, 2 * n_groups)
        lines = np.bincount(line_codes, minlength=n_groups)
        greeks = np.bincount(line_codes, weights=rows.has_greeks, minlength=n_groups)
        order = [v for v in codes if v is not None] + ([None] if None in codes else [])
        for value in order:
            g = codes[value]
            totals = totals_from_sums(
                sums[2 * g : 2 * g + 2], int(lines[g]), int(greeks[g]), conv, rows.scenarios
            )
            out.append((key, value, totals))
    return out
