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
from typing import Any

import QuantLib as ql


def discount(curve: list[dict[str, Any]], valuation: dt.date, when: dt.date) -> float:
    t = (when - valuation).days / 365.0
    if len(curve) == 1:
        return math.exp(-curve[0]["rate"] * t)
    assert all("date" in p for p in curve), "dated pillars, or one pillar"
    today = ql.Date(valuation.day, valuation.month, valuation.year)
    dates, dfs = [today], [1.0]
    for pillar in curve:
        d = dt.date.fromisoformat(pillar["date"])
        dates.append(ql.Date(d.day, d.month, d.year))
        dfs.append(math.exp(-pillar["rate"] * (d - valuation).days / 365.0))
    curve_ql = ql.DiscountCurve(dates, dfs, ql.Actual365Fixed())
    curve_ql.enableExtrapolation()
    return float(curve_ql.discount(ql.Date(when.day, when.month, when.year)))


def forward(market: dict[str, Any], delivery: dt.date) -> tuple[float, float]:
    """(the USD/JPY forward to ``delivery``, the JPY discount factor to it)."""
    valuation = dt.date.fromisoformat(market["valuation_date"])
    jpy = discount(market["jpy_curve"], valuation, delivery)
    usd = discount(market["usd_curve"], valuation, delivery)
    return market["spot"] * usd / jpy, jpy


def forward_at(market: dict[str, Any], t: float) -> float:
    """The USD/JPY forward ``t`` years (ACT/365F) from the valuation date."""
    valuation = dt.date.fromisoformat(market["valuation_date"])
    return (
        market["spot"]
        * _discount_at(market["usd_curve"], valuation, t)
        / _discount_at(market["jpy_curve"], valuation, t)
    )


def _discount_at(curve: list[dict[str, Any]], valuation: dt.date, t: float) -> float:
    if len(curve) == 1:
        return math.exp(-curve[0]["rate"] * t)
    today = ql.Date(valuation.day, valuation.month, valuation.year)
    dates, dfs = [today], [1.0]
    for pillar in curve:
        d = dt.date.fromisoformat(pillar["date"])
        dates.append(ql.Date(d.day, d.month, d.year))
        dfs.append(math.exp(-pillar["rate"] * (d - valuation).days / 365.0))
    curve_ql = ql.DiscountCurve(dates, dfs, ql.Actual365Fixed())
    curve_ql.enableExtrapolation()
    return float(curve_ql.discount(t))
