"""Benchmark: vectorised implied vols for 1,000,000 options against QuantLib looped.

Run: ``python bench/bench_implied_vol.py``. A random but realistic USD/JPY book: forwards
around 145, expiries log-uniform from 1 day to 5 years, vols uniform 4%–60%, strikes from
−3 to +3 standard deviations around the forward, calls and puts (so half in the money),
JPY discount factors at 0.5%. Premiums: intrinsic plus ``normalised_black`` time value.

Prints our time per option (threaded, as the library runs by default, and on one thread),
QuantLib's ``blackFormulaImpliedStdDev`` per option over a 20,000-option subsample (accuracy
1e-12 on the std dev, so that both aim at full precision), the ratio, and the round-trip
errors. No asserts: the figures are for reading.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import QuantLib as ql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pricing.fx.implied_vol import OK, implied_vol, normalised_black
from pricing.quantlib_guard import quantlib_session

N_OPTIONS = 1_000_000
N_QUANTLIB = 20_000
EPS = float(np.finfo(float).eps)


def book(n: int, seed: int = 20250715) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    expiries = np.exp(rng.uniform(math.log(1 / 365), math.log(5.0), n))
    vols = rng.uniform(0.04, 0.60, n)
    std_devs = vols * np.sqrt(expiries)
    forwards = 145.0 * np.exp(rng.normal(0.0, 0.05, n))
    strikes = forwards * np.exp(rng.uniform(-3.0, 3.0, n) * std_devs)
    is_call = rng.random(n) < 0.5
    dfs = np.exp(-0.005 * expiries)
    x = np.log(forwards / strikes)
    # Intrinsic F − K exactly, plus the out-of-the-money time value (parity): a premium
    # within a few ulps, so that the round trip shows the solver's error, not the pricer's.
    time_value = normalised_black(log_moneyness=-np.abs(x), std_devs=std_devs, is_call=True)
    intrinsic = np.maximum(np.where(is_call, forwards - strikes, strikes - forwards), 0.0)
    prices = dfs * (intrinsic + np.sqrt(forwards) * np.sqrt(strikes) * time_value)
    # How far half an ulp of the premium moves the vol (vega in premium per unit vol):
    vega = (
        dfs
        * forwards
        * np.exp(-0.5 * (x / std_devs + std_devs / 2) ** 2)
        * np.sqrt(expiries / (2 * math.pi))
    )
    condition = EPS * prices / np.maximum(vega, 1e-300)
    return dict(prices=prices, forwards=forwards, strikes=strikes, expiries=expiries,
                dfs=dfs, is_call=is_call, vols=vols, condition=condition)  # fmt: skip


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    b = book(N_OPTIONS)

    def ours(threads: int | None):
        return implied_vol(prices=b["prices"], forwards=b["forwards"], strikes=b["strikes"],
                           expiries=b["expiries"], discount_factors=b["dfs"],
                           is_call=b["is_call"], threads=threads)  # fmt: skip

    result = ours(None)  # warm-up, and the result we check
    ours_threaded = best_of(3, lambda: ours(None)) / N_OPTIONS * 1e6
    ours_single = best_of(3, lambda: ours(1)) / N_OPTIONS * 1e6

    sample = np.random.default_rng(1).choice(N_OPTIONS, N_QUANTLIB, replace=False)
    args = [
        (ql.Option.Call if b["is_call"][i] else ql.Option.Put, float(b["strikes"][i]),
         float(b["forwards"][i]), float(b["prices"][i]), float(b["dfs"][i]))
        for i in sample
    ]  # fmt: skip
    theirs = np.full(N_QUANTLIB, np.nan)

    def quantlib() -> None:
        for j, (option, strike, forward, price, df) in enumerate(args):
            try:
                theirs[j] = ql.blackFormulaImpliedStdDev(
                    option, strike, forward, price, df, 0.0, ql.nullDouble(), 1e-12, 100
                )
            except RuntimeError:
                theirs[j] = np.nan

    with quantlib_session():
        quantlib_us = best_of(2, quantlib) / N_QUANTLIB * 1e6
    theirs_vols = theirs / np.sqrt(b["expiries"][sample])

    ok = result.status == OK
    error = np.abs(result.vols - b["vols"])
    well_posed = b["condition"] <= 1e-13
    both = ok[sample] & np.isfinite(theirs_vols)
    print(f"options: {N_OPTIONS:,}; converged {ok.mean():.4%}; status counts "
          f"{np.bincount(result.status, minlength=6).tolist()}")  # fmt: skip
    print(f"ours, default threads : {ours_threaded:.3f} us/option")
    print(f"ours, one thread      : {ours_single:.3f} us/option")
    print(f"QuantLib looped ({N_QUANTLIB:,}) : {quantlib_us:.3f} us/option "
          f"({np.isnan(theirs).sum()} failures)")  # fmt: skip
    print(f"ratio QuantLib/ours   : {quantlib_us / ours_threaded:.1f}x threaded, "
          f"{quantlib_us / ours_single:.1f}x one thread")  # fmt: skip
    print(f"max round-trip |vol error| where the premium holds the vol to 1e-13 "
          f"({well_posed.mean():.2%} of the book): {error[ok & well_posed].max():.2e}")  # fmt: skip
    rest = ok & ~well_posed
    if rest.any():
        print(f"elsewhere, max |vol error| / (eps*premium/vega): "
              f"{(error[rest] / b['condition'][rest]).max():.2f}")  # fmt: skip
    print(f"max |ours - QuantLib| where both converge ({both.sum():,}): "
          f"{np.abs(result.vols[sample] - theirs_vols)[both].max():.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
