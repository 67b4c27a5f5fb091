"""Mixture price + Greeks for 1,000,000 options × 5 scenarios, against QuantLib looped.

Prints ns per option-scenario for our kernel (price, delta, premium-adjusted delta, gamma,
vega, theta, two rhos, per-scenario values and ∂/∂J for every element) and µs per option for
QuantLib's ``VanillaOption`` + ``AnalyticEuropeanEngine`` on a ``GarmanKohlagenProcess``
built once (one scenario per option, the cheapest QuantLib could do per option: a mixture
would need one process per scenario), over a subsample.

    python bench/bench_mixture.py [n_options]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import QuantLib as ql

from pricing.fx.black import Payoff
from pricing.mixture.european import OptionBook, ScenarioMix, mixture_greeks

SPOT = 144.1


def book(n: int, rng: np.random.Generator) -> OptionBook:
    t = rng.uniform(7 / 365, 2.0, n)
    forwards = SPOT * np.exp((0.006 - 0.04) * t)
    strikes = forwards * np.exp(rng.normal(0.0, 0.1, n))
    return OptionBook(
        payoffs=rng.choice([Payoff.CALL, Payoff.PUT], n),
        strikes=strikes,
        forwards=forwards,
        discount_factors=np.exp(-0.006 * t),
        delivery_times=t,
        rates_jpy=np.full(n, 0.006),
        rates_usd=np.full(n, 0.04),
        pre_vols=np.full(n, 0.115),
        pre_times=np.minimum(t, 26 / 365),
        post_times=np.maximum(t - 26 / 365, 0.0),
    )


def quantlib_loop(b: OptionBook, count: int) -> float:
    today = ql.Date(13, 6, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot = ql.SimpleQuote(SPOT)
    process = ql.GarmanKohlagenProcess(
        ql.QuoteHandle(spot),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.04, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.006, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), 0.11, dc)),
    )
    engine = ql.AnalyticEuropeanEngine(process)  # market objects built once, as a desk would
    start = time.perf_counter()
    for i in range(count):
        days = max(1, round(b.delivery_times[i] * 365))
        side = ql.Option.Call if b.payoffs[i] == Payoff.CALL else ql.Option.Put
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(side, float(b.strikes[i])), ql.EuropeanExercise(today + days)
        )
        option.setPricingEngine(engine)
        option.NPV(), option.delta(), option.gamma(), option.vega(), option.theta()
        option.rho(), option.dividendRho()
    return (time.perf_counter() - start) / count


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    m = 5
    rng = np.random.default_rng(7)
    b = book(n, rng)
    mix = ScenarioMix(
        weights=np.array([0.107, 0.275, 0.124, 0.292, 0.202]),
        jumps=np.array([158.0, 148.0, 152.0, 139.0, 134.0]) / SPOT,
        vols=np.array([0.09, 0.10, 0.10, 0.125, 0.15]),
    )
    mixture_greeks(book=book(1000, rng), mix=mix, spot=SPOT)  # compile outside the timing
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        mixture_greeks(book=b, mix=mix, spot=SPOT)
        runs.append(time.perf_counter() - start)
    best, median = min(runs), float(np.median(runs))
    sample = 5_000
    ql_per_option = quantlib_loop(b, sample)
    print(f"mixture price+Greeks, {n:,} options x {m} scenarios (5 runs)")
    print(
        f"  ours:     best {best:.3f} s, median {median:.3f} s -> "
        f"{best / (n * m) * 1e9:.1f} ns per option-scenario (median {median / (n * m) * 1e9:.1f})"
    )
    print(
        f"  QuantLib: {ql_per_option * 1e6:.2f} us per option, one scenario "
        f"(looped over {sample:,}); for {n:,} x {m}: ~{ql_per_option * n * m:.0f} s"
    )
    print(f"  speed-up per option-scenario: {ql_per_option / (best / (n * m)):.0f}x")


if __name__ == "__main__":
    main()
