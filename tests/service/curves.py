"""Discount factors and forwards from a market document's curves, by QuantLib: the outside
witness of every ``forward`` (and discount factor) a response reports.

A curve's pillars are continuously compounded ACT/365F zero rates at dates (the built-in
markets) or a single pillar (a flat curve, whatever its tenor); between dated pillars the
discount factors are log-linear (``ql.DiscountCurve``: the markets' ``log_linear_discount``)
and flat-forward past the last, flat zero before the first (a discount factor of 1 today).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import QuantLib as ql


def _discounting(curve: list[dict[str, Any]], valuation: dt.date) -> Callable[[float], float]:
    """The curve's discount factor at a time in years (ACT/365F) from ``valuation``."""
    if len(curve) == 1:
        rate = curve[0]["rate"]
        return lambda t: math.exp(-rate * t)
    assert all("date" in p for p in curve), "dated pillars, or one pillar"
    dates = [ql.Date(valuation.day, valuation.month, valuation.year)]
    dfs = [1.0]
    for pillar in curve:
        d = dt.date.fromisoformat(pillar["date"])
        dates.append(ql.Date(d.day, d.month, d.year))
        dfs.append(math.exp(-pillar["rate"] * (d - valuation).days / 365.0))
    discount_curve = ql.DiscountCurve(dates, dfs, ql.Actual365Fixed())
    discount_curve.enableExtrapolation()
    return lambda t: float(discount_curve.discount(t))


def forward_at(market: dict[str, Any], t: float) -> float:
    """The USD/JPY forward ``t`` years (ACT/365F) from the valuation date."""
    valuation = dt.date.fromisoformat(market["valuation_date"])
    usd = _discounting(market["usd_curve"], valuation)
    jpy = _discounting(market["jpy_curve"], valuation)
    return float(market["spot"]) * usd(t) / jpy(t)


def forward(market: dict[str, Any], delivery: dt.date) -> tuple[float, float]:
    """(the USD/JPY forward to ``delivery``, the JPY discount factor to it)."""
    valuation = dt.date.fromisoformat(market["valuation_date"])
    t = (delivery - valuation).days / 365.0
    return forward_at(market, t), _discounting(market["jpy_curve"], valuation)(t)
