"""Bench: strikes given in desk terms ("25D", "10D", "ATM") resolved for a 10,000-line book on
the built-in USD/JPY surface, against the same resolution with QuantLib.

Ours: :func:`scenarios.fx.strike_spec.resolve_strikes` — lines grouped by (expiry, delivery,
spec, side), the groups solved together (vectorised fixed point on the smile's vol). The
reference, in the same run: for each distinct group, the fixed point ``K ← strikeFromDelta(δ;
σ(K))`` (or ``atmStrike(AtmDeltaNeutral)``) with QuantLib's ``BlackDeltaCalculator`` in a
Python loop, reading the same surface's vol at each iterate, to the same tolerance; then a
dictionary look-up per line. Both report the largest strike difference.

    python bench/bench_strike_specs.py
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import QuantLib as ql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scenarios.catalog import builtin_catalog
from scenarios.dates import tenor_dates, year_fraction
from scenarios.fx.instruments import OptionKind
from scenarios.fx.strike_spec import resolve_strikes

TENORS = ("1W", "1M", "2M", "3M", "6M", "9M", "1Y", "2Y")
SPECS = ("10D", "25D", "ATM", "25D", "10D", "15D")
TYPES = {
    "premium_adjusted_spot": ql.DeltaVolQuote.PaSpot,
    "premium_adjusted_forward": ql.DeltaVolQuote.PaFwd,
}


def main() -> None:
    market = builtin_catalog()["us-japan-tariff-2025-07-09"].market
    today = market.valuation_date
    n = 10_000
    kinds, specs, expiries, deliveries = [], [], [], []
    for i in range(n):
        tenor = TENORS[i % len(TENORS)]
        expiry, delivery = tenor_dates("tenor", today, tenor)
        kinds.append(OptionKind.CALL if (i // 8) % 2 else OptionKind.PUT)
        specs.append(SPECS[(i // 16) % len(SPECS)])
        expiries.append(expiry)
        deliveries.append(delivery)

    def ours() -> np.ndarray:
        return resolve_strikes(
            market, kinds=kinds, specs=specs, expiries=expiries, deliveries=deliveries
        ).strikes

    first = time.perf_counter()
    strikes = ours()
    cold = time.perf_counter() - first
    warm = statistics.median(_timed(ours) for _ in range(5))
    resolved = resolve_strikes(
        market, kinds=kinds, specs=specs, expiries=expiries, deliveries=deliveries
    )
    surface = market.vol_surface(None)
    groups = {}
    for i in range(n):
        groups.setdefault((expiries[i], deliveries[i], specs[i], kinds[i]), i)

    def reference() -> np.ndarray:
        solved = {}
        for key, i in groups.items():
            expiry, delivery, spec, kind = key
            t_exp, t_del = year_fraction(today, expiry), year_fraction(today, delivery)
            forward = float(market.forwards(np.array([t_del]))[0])
            df_usd = float(market.usd_discount_factors(np.array([t_del]))[0])
            df_jpy = df_usd * market.spot / forward  # F = S0·DF_USD/DF_JPY
            option = ql.Option.Call if kind is OptionKind.CALL else ql.Option.Put
            delta_type = TYPES[resolved.delta_conventions[i]]
            k = forward
            for _ in range(200):
                vol = float(
                    surface.vols(
                        expiries=np.array([t_exp]),
                        strikes=np.array([k]),
                        forwards=np.array([forward]),
                    ).vols[0]
                )
                calc = ql.BlackDeltaCalculator(
                    option, delta_type, market.spot, df_jpy, df_usd, vol * math.sqrt(t_exp)
                )
                if spec == "ATM":
                    new = calc.atmStrike(ql.DeltaVolQuote.AtmDeltaNeutral)
                else:
                    delta = float(spec[:-1]) / 100
                    new = calc.strikeFromDelta(delta if kind is OptionKind.CALL else -delta)
                if abs(math.log(new / k)) < 1e-15:
                    break
                k = new
            solved[key] = new
        return np.array(
            [solved[(expiries[i], deliveries[i], specs[i], kinds[i])] for i in range(n)]
        )

    t_ref = statistics.median(_timed(reference) for _ in range(3))
    ref = reference()
    rel = np.abs(ref / strikes - 1)
    diff = float(np.max(rel))
    print(f"{n:,} lines, {len(groups)} distinct (expiry, spec, side) groups")
    print(f"  ours: {cold * 1e3:.1f} ms cold, {warm * 1e3:.1f} ms warm (cached groups)")
    print(f"  QuantLib fixed point per group, looped: {t_ref * 1e3:.1f} ms")
    print(f"  largest relative strike difference: {diff:.1e}")


def _timed(f) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
