"""The book's totals in a ``POST /v1/price`` response, and each FX line's position risk.

Conventions once, in :mod:`scenarios.positions` (signs) and :mod:`scenarios.book_totals`
(desk units, conversion rates, what the totals cover).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import Field

from pricing.positions import fx_positions
from scenarios.book import MixedBook, MixedValuation
from scenarios.book_totals import (
    SUMMED_GREEKS,
    BookRows,
    Conversion,
    ReportingCurrency,
    Totals,
    book_totals,
    group_totals,
    totals_from_sums,
)
from scenarios.fx.instruments import Currency
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from service.schemas.common import Schema


class TotalGreeks(Schema):
    """Position Greeks summed over the lines that have them, in desk units."""

    delta_usd: float = Field(description="Σ sign·notional·∂price/∂S0, USD.")
    delta_jpy: float = Field(description="−delta_usd × S0: the JPY leg of that delta, JPY.")
    delta_premium_adjusted_usd: float = Field(
        description="Σ sign·notional·(∂price/∂S0 − price/S0): the delta of a USD premium, USD."
    )
    gamma_usd_per_big_figure: float = Field(
        description="Change of delta_usd for a 1.00 JPY move of USD/JPY, USD."
    )
    vega_jpy_per_vol_point: float = Field(description="JPY per 1 vol point, every vol.")
    theta_jpy_per_day: float = Field(description="JPY per calendar day.")
    rho_jpy_per_bp: float = Field(description="JPY per 1bp of the JPY rate.")
    rho_usd_per_bp: float = Field(description="JPY per 1bp of the USD rate.")


class PositionRisk(TotalGreeks):
    """One line's position Greeks in desk units (signed by side, × notional)."""

    delta_pct: float = Field(description="100 × delta_usd / notional in USD, %.")
    delta_premium_adjusted_pct: float = Field(
        description="100 × delta_premium_adjusted_usd / notional in USD, %."
    )


class TotalsRead(Schema):
    lines: int
    lines_with_greeks: int = Field(
        description="Lines the Greek totals hold (FX European lines; barrier, touch and CDS "
        "lines have none)."
    )
    value: float = Field(description="Today's mixture value, reporting currency.")
    value_by_currency: dict[str, float] = Field(description="Before conversion: JPY and USD.")
    scenario_values: dict[str, float | None] = Field(
        description="Value if each scenario happens, reporting currency (null: a Monte Carlo "
        "line drew no path in that scenario)."
    )
    scenario_values_by_currency: dict[str, dict[str, float | None]] = Field(
        description="currency → scenario → value, before conversion."
    )
    scenario_pnl: dict[str, float | None] = Field(
        description="scenario_values − value: the book's P&L if each scenario happens."
    )
    dvalue_dq: dict[str, float | None] = Field(
        description="∂value/∂q_i, reporting currency (converted at the mixture's rate)."
    )
    dvalue_dlevel: dict[str, float] = Field(
        description="∂value/∂L_i through the re-solved measure, JPY per JPY of level (FX "
        "lines): per scenario, or for a tree per branch ('<node id>/<branch name>')."
    )
    greeks: TotalGreeks


class BookTotalsRead(TotalsRead):
    reporting_currency: ReportingCurrency
    mixture_rate: float = Field(
        description="JPY per USD converting today's value: the market forward to the event."
    )
    scenario_rates: dict[str, float] = Field(
        description="JPY per USD converting each scenario's value: its post-event level S0·J_i."
    )


class GroupTotalsRead(TotalsRead):
    tag: str = Field(description="The tag key grouped by.")
    value_of_tag: str | None = Field(description="The tag's value; null: lines without it.")


def _named(names: tuple[str, ...], values: np.ndarray) -> dict[str, float | None]:
    return {
        n: (v if math.isfinite(v) else None) for n, v in zip(names, values.tolist(), strict=True)
    }


def _totals_json(t: Totals, names: tuple[str, ...], level_names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "lines": t.lines,
        "lines_with_greeks": t.lines_with_greeks,
        "value": t.value,
        "value_by_currency": t.value_by_currency,
        "scenario_values": _named(names, t.scenario_values),
        "scenario_values_by_currency": {
            c: _named(names, v) for c, v in t.scenario_values_by_currency.items()
        },
        "scenario_pnl": _named(names, t.scenario_pnl),
        "dvalue_dq": _named(names, t.dvalue_dq),
        "dvalue_dlevel": dict(zip(level_names, t.dvalue_dlevel.tolist(), strict=True)),
        "greeks": t.greeks,
    }


def totals_read(
    t: Totals, conv: Conversion, names: tuple[str, ...], level_names: tuple[str, ...]
) -> dict[str, Any]:
    """A book's ``totals`` as ``POST /v1/price`` reports them, with the rates it converted at."""
    return {
        **_totals_json(t, names, level_names),
        "reporting_currency": conv.reporting.value,
        "mixture_rate": conv.mixture_rate,
        "scenario_rates": dict(zip(names, conv.scenario_rates.tolist(), strict=True)),
    }


def fx_position_risk(
    book: MixedBook, valuation: MixedValuation, spot: float
) -> tuple[np.ndarray, np.ndarray]:
    """Desk Greeks ``[n_fx, 10]`` of the FX lines in their order, and the compensated sums of
    their totals' columns (:func:`pricing.positions.fx_positions`)."""
    fx = valuation.fx
    assert fx is not None
    options = book.options
    signs = np.ones(len(options)) if book.signs is None else book.signs[list(book.option_rows)]
    notionals = np.array([o.notional for o in options])
    jpy_paid = np.array([o.payout_currency is Currency.JPY for o in options], dtype=bool)
    g = fx.greeks
    return fx_positions(
        price=g.price,
        delta=g.delta,
        delta_premium_adjusted=g.delta_premium_adjusted,
        gamma=g.gamma,
        vega=g.vega,
        theta=g.theta,
        rho_jpy=g.rho_jpy,
        rho_usd=g.rho_usd,
        scenario_values=g.scenario_values,
        d_levels=fx.d_levels,
        signed_notionals=signs * notionals,
        usd_notionals=np.where(jpy_paid, notionals / spot, notionals),
        spot=spot,
    )


def valued_rows(book: MixedBook, valuation: MixedValuation, risk_fx: np.ndarray | None) -> BookRows:
    """The valued book in request order, with the FX lines' desk Greeks and ∂/∂L placed."""
    n, m = valuation.scenario_values.shape
    fx = valuation.fx
    k = len(SUMMED_GREEKS)
    b = fx.d_levels.shape[1] if fx is not None else m  # ∂/∂L columns: scenarios or branches
    if fx is not None and risk_fx is not None:
        rows = book.option_rows
        signs = np.ones(len(rows)) if book.signs is None else book.signs[list(rows)]
        signed = signs * np.array([o.notional for o in book.options])
        fx_columns = np.concatenate([fx.d_levels * signed[:, None], risk_fx[:, :k]], axis=1)
    if fx is not None and risk_fx is not None and len(book.option_rows) == n:
        placed = fx_columns  # an FX-only book: its lines in request order
        has = np.ones(n, dtype=bool)
    else:
        placed = np.zeros((n, b + k))
        has = np.zeros(n, dtype=bool)
        if fx is not None and risk_fx is not None:
            placed[list(book.option_rows)] = fx_columns
            has[list(book.option_rows)] = True
    is_usd = (
        np.zeros(n, dtype=bool)
        if valuation.cds is None
        else np.fromiter((c == "USD" for c in valuation.currencies), bool, n)
    )
    columns = np.concatenate([valuation.values[:, None], valuation.scenario_values, placed], axis=1)
    return BookRows(columns, is_usd, has, m)


def book_conversion(
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    jumps: np.ndarray,
    reporting: ReportingCurrency,
) -> Conversion:
    """Rates of :mod:`scenarios.book_totals`: F(T_e) for the mixture, S0·J_i per scenario."""
    forward = _forward_to(market, scenario_set.event_date)
    return Conversion(reporting, forward, market.spot * np.asarray(jumps, dtype=float))


@lru_cache(maxsize=256)
def _forward_to(market: MarketSnapshot, date: dt.date) -> float:
    """The market forward to ``date`` (ACT/365F from the valuation date), once per pair."""
    t = (date - market.valuation_date).days / 365.0
    return float(market.forwards(np.array([t]))[0])


def totals_json(
    build_rows: Callable[[], BookRows],
    conv: Conversion,
    names: tuple[str, ...],
    tags: tuple[dict[str, str], ...],
    group_by: list[str],
    fx_sums: np.ndarray | None = None,
    level_names: tuple[str, ...] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The response's ``totals`` and ``groups`` as plain JSON types. ``fx_sums``: the column
    sums of a book of FX lines only (:func:`fx_position_risk`), which are its totals; the
    rows (``build_rows``) are then built only for groups."""
    rows = None if fx_sums is not None and not group_by else build_rows()
    levels = names if level_names is None else level_names
    if fx_sums is not None:
        lines = len(tags)
        book = totals_from_sums(
            np.stack([fx_sums, np.zeros_like(fx_sums)]), lines, lines, conv, len(names)
        )
    else:
        assert rows is not None
        book = book_totals(rows, conv)
    totals = totals_read(book, conv, names, levels)
    groups = (
        []
        if rows is None
        else [
            {"tag": key, "value_of_tag": value, **_totals_json(t, names, levels)}
            for key, value, t in group_totals(rows, conv, tags, group_by)
        ]
    )
    return totals, groups
