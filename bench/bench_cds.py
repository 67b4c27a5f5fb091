"""Benchmark: automaker CDS under the built-in scenarios, numpy ISDA kernel vs QuantLib.

A full run = 5 scenarios × 4 entities (Toyota, Honda, Nissan, the japan_autos sector) × the
8 standard tenors: bootstrap 20 hazard curves from par spreads, then price the 8 standard
contracts on each (par spread, clean/dirty upfront, accrued, risky PV01, jump-to-default)
and the probability-weighted mixture. QuantLib "naively": per scenario and entity, new
``SpreadCdsHelper``s (ISDA model), a ``PiecewiseFlatHazardRate``, an ``IsdaCdsEngine`` and
``MakeCreditDefaultSwap`` contracts — rebuilt every run. Both runs price the same curves;
the largest differences are printed next to the timings.

Run: ``python bench/bench_cds.py`` (no asserts on time; the machine is shared and noisy).
"""

from __future__ import annotations

import statistics
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import QuantLib as ql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pricing.credit import cds  # noqa: E402
from pricing.quantlib_guard import quantlib_session, to_ql_date  # noqa: E402

# The built-in USD curve (scenarios/data/tariff_2025.toml: 1D / 1Y / 2Y / 5Y / 10Y zero rates).
USD_TIMES = np.array([1, 365, 730, 1826, 3652]) / 365.0
USD_ZEROS = np.array([0.043, 0.040, 0.038, 0.036, 0.038])
PROBABILITIES = np.array([0.15, 0.30, 0.15, 0.25, 0.15])  # tariff_2025.toml, same order


def scenario_inputs() -> tuple[dict, np.ndarray, np.ndarray]:
    """Credit data → par spreads [5 scenarios, 4 entities, 8 tenors] and coupons [4]."""
    data = tomllib.loads((ROOT / "scenarios/data/credit_2025.toml").read_text(encoding="utf-8"))
    credit, entities = data["credit"], data["entities"]
    base = np.array([e["spreads_bp"] for e in entities], dtype=float)
    auto = np.array([e["auto_tariff_bp_per_10pp"] for e in entities])
    recip = np.array([e["reciprocal_tariff_bp_per_10pp"] for e in entities])
    tariff = tomllib.loads((ROOT / "scenarios/data/tariff_2025.toml").read_text(encoding="utf-8"))
    spreads = []
    for drivers in (s["drivers"] for s in tariff["scenario_set"]["scenarios"]):
        shift = (
            auto * (drivers["auto_tariff_pct"] - credit["reference_auto_tariff_pct"])
            + recip * (drivers["reciprocal_tariff_pct"] - credit["reference_reciprocal_tariff_pct"])
        ) / 10.0
        spreads.append(base + shift[:, None] * np.array(credit["tenor_weights"]))
    coupons = np.array([e["coupon_bp"] for e in entities]) * 1e-4
    return credit, np.stack(spreads) * 1e-4, coupons


def run_numpy(credit: dict, spreads: np.ndarray, coupons: np.ndarray):
    maturities = cds.standard_maturities(
        valuation_date=credit["valuation_date"], tenors=credit["tenors"]
    )
    schedule = cds.cds_schedule(valuation_date=credit["valuation_date"], maturities=maturities)
    curves = cds.bootstrap_hazard_curves(
        schedule=schedule,
        par_spreads=spreads,
        recoveries=credit["recovery"],
        discount_pillar_times=USD_TIMES,
        discount_zero_rates=USD_ZEROS,
    )
    prices = cds.price_cds(curves=curves, schedule=schedule, coupons=coupons[:, None])
    return prices, cds.mix_cds_prices(prices=prices, weights=PROBABILITIES)


def run_quantlib(credit: dict, spreads: np.ndarray, coupons: np.ndarray) -> np.ndarray:
    """[5, 4, 8, 4]: par spread, clean upfront, accrued, risky PV01 — everything rebuilt."""
    today_py, recovery = credit["valuation_date"], credit["recovery"]
    out = np.empty((*spreads.shape, 4))
    with quantlib_session(today_py):
        today = to_ql_date(today_py)
        for s in range(spreads.shape[0]):
            dates = [today] + [today + round(t * 365) for t in USD_TIMES]
            discount = ql.DiscountCurve(
                dates, [1.0, *np.exp(-USD_ZEROS * USD_TIMES)], ql.Actual365Fixed()
            )
            discount.enableExtrapolation()
            disc = ql.YieldTermStructureHandle(discount)
            for e in range(spreads.shape[1]):
                helpers = [
                    ql.SpreadCdsHelper(
                        float(q),
                        ql.Period(tenor),
                        1,
                        ql.WeekendsOnly(),
                        ql.Quarterly,
                        ql.Following,
                        ql.DateGeneration.CDS2015,
                        ql.Actual360(),
                        recovery,
                        disc,
                        True,
                        True,
                        ql.Date(),
                        ql.Actual360(True),
                        True,
                        ql.CreditDefaultSwap.ISDA,
                        today,
                    )
                    for q, tenor in zip(spreads[s, e], credit["tenors"], strict=True)
                ]
                curve = ql.PiecewiseFlatHazardRate(today, helpers, ql.Actual365Fixed())
                curve.enableExtrapolation()
                engine = ql.IsdaCdsEngine(
                    ql.DefaultProbabilityTermStructureHandle(curve), recovery, disc
                )
                for i, tenor in enumerate(credit["tenors"]):
                    contract = ql.MakeCreditDefaultSwap(
                        ql.Period(tenor), float(coupons[e]), tradeDate=today,
                        dateGenerationRule=ql.DateGeneration.CDS2015, pricingEngine=engine,
                    )  # fmt: skip
                    rebate = contract.accrualRebate().amount()
                    annuity = -(contract.couponLegNPV() + contract.accrualRebateNPV())
                    out[s, e, i] = (
                        contract.fairSpread(),
                        contract.fairUpfront(),
                        rebate,
                        annuity / float(coupons[e]) * 1e-4,
                    )
                del contract, engine, curve, helpers  # before the date is restored
    return out


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    credit, spreads, coupons = scenario_inputs()
    start = time.perf_counter()
    prices, mixture = run_numpy(credit, spreads, coupons)  # cold: QuantLib dates, plans
    cold = time.perf_counter() - start
    ours = timed(lambda: run_numpy(credit, spreads, coupons), 50)
    theirs = timed(lambda: run_quantlib(credit, spreads, coupons), 5)
    reference = run_quantlib(credit, spreads, coupons)
    n = spreads.size
    print(f"full run: {spreads.shape[0]} scenarios × {spreads.shape[1]} entities × "
          f"{spreads.shape[2]} tenors = {n} contracts on {n // spreads.shape[2]} curves")  # fmt: skip
    print(f"  numpy ISDA kernel, warm    median {statistics.median(ours) * 1e3:7.2f} ms   "
          f"best {min(ours) * 1e3:6.2f} ms")  # fmt: skip
    print(f"  numpy ISDA kernel, cold    {cold * 1e3:7.2f} ms (first call: QuantLib dates, plans)")
    print(f"  QuantLib naive, rebuilt    median {statistics.median(theirs) * 1e3:7.2f} ms   "
          f"best {min(theirs) * 1e3:6.2f} ms")  # fmt: skip
    print(
        f"  speed-up (medians)         {statistics.median(theirs) / statistics.median(ours):7.1f}×"
    )
    ours_stack = np.stack(
        [prices.par_spreads, prices.clean_upfronts, prices.accrued, prices.risky_pv01s], axis=-1
    )
    diff = np.abs(ours_stack - reference).reshape(-1, 4).max(axis=0)
    print("  max |numpy − QuantLib| per unit notional: "
          f"par spread {diff[0]:.1e}, clean upfront {diff[1]:.1e}, accrued {diff[2]:.1e}, "
          f"risky PV01 {diff[3]:.1e}")  # fmt: skip
    names = ["toyota", "honda", "nissan", "japan_autos"]
    five = list(credit["tenors"]).index("5Y")
    print("  5Y par spread (bp), q-weighted mixture: " + ", ".join(
        f"{name} {mixture.par_spreads[e, five] * 1e4:.1f}" for e, name in enumerate(names)))  # fmt: skip


if __name__ == "__main__":
    main()
