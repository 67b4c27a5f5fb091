"""Bench: build a 10-tenor USD/JPY surface from quotes and quote it back, against QuantLib.

Run: ``python bench/bench_surface.py``. Prints, in one run:

* ours — fit 10 tenors (ATM, 25Δ RR/BF; and with 10Δ wings), then re-quote ATM/RR/BF at
  25Δ and 10Δ (every strike solve vectorised);
* QuantLib — the same re-quote done the way one would with QuantLib: ``BlackDeltaCalculator``
  strike solves in a Python loop (fixed point ``K ← strikeFromDelta(δ; σ(K))`` per wing,
  ``atmStrike`` fixed point for the delta-neutral ATM, secant on the broker strangle vol with
  ``strikeFromDelta`` + ``blackFormula``), reading the same surface — at the 10 pillars,
  and at 58 expiries × ATM and 5 deltas (the shape of a mixture-implied surface);
* raw strike solves: premium-adjusted ``strike_from_delta`` on 100,000 deltas against
  QuantLib's ``strikeFromDelta`` looped;
* the mixture surface of the built-in scenario set on the built-in market quoted back at 10
  tenors after the event × (ATM, 25Δ, 10Δ) — ours (mixture prices, implied variance and
  slope, vectorised solves) against the same quote-back with QuantLib: each vol a
  ``blackFormula`` per scenario summed and inverted by ``blackFormulaImpliedStdDev``, the
  strike solves ``BlackDeltaCalculator`` fixed points in a Python loop; then the domain
  calls behind ``POST /v1/vol-surface`` and ``POST /v1/calibrate``.

Market: MARKET_FACTS.md (spot 144.1, OIS pillars, ATM 1W–2Y, 25Δ RR/BF 1M/3M/1Y); other
tenors interpolated, 10Δ at 1.9×/3.6× the 25Δ quotes (bench assumptions).
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

from pricing.fx.delta import DeltaType, strike_from_delta
from pricing.mixture.measure import Measure
from pricing.vol.quotes import TenorQuote, WingQuote
from pricing.vol.quoting import quote_surface, quote_total_variance
from pricing.vol.smile import fit_smiles
from pricing.vol.surface import build_surface
from scenarios.calibration.fit import CalibrationSettings, calibrate
from scenarios.catalog import builtin_catalog
from scenarios.dates import tenor_dates, year_fraction
from scenarios.fx.valuation import fit_measure
from scenarios.vol.mixture_smile import Expiries, mixture_variance
from scenarios.vol.model import build_vol_model
from scenarios.vol.surface_view import vol_surface_view

MIXTURE_TENORS = ("1M", "2M", "3M", "4M", "6M", "9M", "1Y", "15M", "18M", "2Y")

SPOT = 144.1
DAYS = np.array([7, 14, 32, 63, 94, 185, 276, 367, 550, 732])
ATM = np.interp(DAYS, [7, 32, 94, 185, 367, 732], [12.0, 11.5, 10.8, 10.5, 10.3, 10.2]) / 100
RR25 = np.interp(DAYS, [32, 94, 367], [-1.4, -1.8, -2.2]) / 100
BF25 = np.interp(DAYS, [32, 94, 367], [0.30, 0.35, 0.40]) / 100
DELTAS = (0.25, 0.10)


def market(days: np.ndarray = DAYS):
    expiries = np.asarray(days, dtype=float) / 365.0
    delivery = expiries + 2 / 365.0
    r_usd = np.interp(delivery, [0.0, 1.0, 2.0], [0.043, 0.040, 0.038])
    r_jpy = np.interp(delivery, [0.0, 1.0, 2.0], [0.0048, 0.0060, 0.0070])
    df_jpy, df_usd = np.exp(-r_jpy * delivery), np.exp(-r_usd * delivery)
    return expiries, df_jpy, df_usd, SPOT * df_usd / df_jpy


def tenors(with_10d: bool) -> list[TenorQuote]:
    expiries, _, df_usd, forwards = market(DAYS)
    out = []
    for i in range(DAYS.size):
        wings = [WingQuote(0.25, RR25[i], BF25[i])]
        if with_10d:
            wings.append(WingQuote(0.10, 1.9 * RR25[i], 3.6 * BF25[i]))
        out.append(TenorQuote(expiries[i], forwards[i], df_usd[i], ATM[i], tuple(wings)))
    return out


def timed(fn, repeat: int) -> tuple[float, object]:
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def scalar_vol(smiles, expiry: float, forward: float, strike: float) -> float:
    """σ(T, K) of the event-free surface in plain Python (what a QuantLib loop would call)."""
    a, b, rho, m, s = (np.asarray(p) for p in vars(smiles.params).values())
    pillars = smiles.expiries
    k = math.log(strike / forward)

    def w(j: int) -> float:
        z = k - m[j]
        return a[j] + b[j] * (rho[j] * z + math.hypot(z, s[j]))

    j = int(np.searchsorted(pillars, expiry))
    if j == 0:
        total = w(0) * expiry / pillars[0]
    elif j == pillars.size:
        total = w(j - 1) * expiry / pillars[-1]
    else:
        alpha = (expiry - pillars[j - 1]) / (pillars[j] - pillars[j - 1])
        total = alpha * w(j) + (1 - alpha) * w(j - 1)
    return math.sqrt(total / expiry)


def ql_requote(
    vol_at, expiries, forwards, df_jpy, df_usd, deltas, conventions, spot=SPOT
) -> dict[str, np.ndarray]:
    """The re-quote with QuantLib's calculator in Python loops; ``vol_at(i, K)`` is the
    smile of expiry ``i`` at strike ``K``."""
    atm_vols, rrs, bfs = [], [], []
    for i, expiry in enumerate(expiries):
        forward, root_t = forwards[i], math.sqrt(expiry)
        spot_delta = expiry <= conventions.spot_delta_max_expiry
        delta_type = ql.DeltaVolQuote.PaSpot if spot_delta else ql.DeltaVolQuote.PaFwd

        def vol(strike: float, i: int = i) -> float:
            return vol_at(i, strike)

        def calc(option: int, std: float, i: int = i, delta_type: int = delta_type):
            return ql.BlackDeltaCalculator(option, delta_type, spot, df_jpy[i], df_usd[i], std)

        strike = forward
        for _ in range(100):  # ATM delta-neutral: K = atmStrike(σ(K))
            new = calc(ql.Option.Call, vol(strike) * root_t).atmStrike(
                ql.DeltaVolQuote.AtmDeltaNeutral
            )
            if abs(new - strike) < 1e-12 * strike:
                break
            strike = new
        atm = vol(new)
        atm_vols.append(atm)
        row_rr, row_bf = [], []
        for delta in deltas:
            wing = []
            for option, signed in ((ql.Option.Call, delta), (ql.Option.Put, -delta)):
                strike = forward
                for _ in range(100):  # smile delta: K = strikeFromDelta(δ; σ(K))
                    new = calc(option, vol(strike) * root_t).strikeFromDelta(signed)
                    if abs(new - strike) < 1e-12 * strike:
                        break
                    strike = new
                wing.append(vol(new))
            row_rr.append(wing[0] - wing[1])

            def gap(sigma: float, delta: float = delta, i: int = i, root_t: float = root_t):
                std = sigma * root_t
                total = 0.0
                for option, signed in ((ql.Option.Call, delta), (ql.Option.Put, -delta)):
                    k = calc(option, std).strikeFromDelta(signed)
                    flat = ql.blackFormula(option, k, forwards[i], std, df_jpy[i])
                    smile = ql.blackFormula(option, k, forwards[i], vol(k) * root_t, df_jpy[i])
                    total += flat - smile
                return total

            x0 = 0.5 * (wing[0] + wing[1])
            x1 = x0 + 1e-4
            g0, g1 = gap(x0), gap(x1)
            for _ in range(50):  # secant on the broker strangle vol
                if g1 == g0 or abs(x1 - x0) < 1e-15:
                    break
                x0, x1, g0 = x1, x1 - g1 * (x1 - x0) / (g1 - g0), g1
                g1 = gap(x1)
            row_bf.append(x1 - atm)
        rrs.append(row_rr)
        bfs.append(row_bf)
    return {"atm": np.array(atm_vols), "rr": np.array(rrs), "bf": np.array(bfs)}


def compare(smiles, days: np.ndarray, deltas: tuple[float, ...], label: str) -> None:
    expiries, df_jpy, df_usd, forwards = market(days)
    surface = build_surface(smiles=smiles)

    def ours_quote():
        return quote_surface(
            surface=surface,
            deltas=deltas,
            expiries=expiries,
            forwards=forwards,
            foreign_discount_factors=df_usd,
        )

    ours_time, ours = timed(ours_quote, repeat=7)

    def vol_at(i: int, strike: float) -> float:
        return scalar_vol(smiles, expiries[i], forwards[i], strike)

    ql_time, theirs = timed(
        lambda: ql_requote(vol_at, expiries, forwards, df_jpy, df_usd, deltas, smiles.conventions),
        repeat=1,
    )
    gap = max(
        np.abs(theirs["atm"] - ours.atm_vols).max(),
        np.abs(theirs["rr"] - ours.risk_reversals).max(),
        np.abs(theirs["bf"] - ours.broker_butterflies).max(),
    )
    print(
        f"re-quote {label:34s} ours {ours_time * 1e3:7.2f} ms   QuantLib loop "
        f"{ql_time * 1e3:8.2f} ms ({ql_time / ours_time:4.1f}x)   max diff {gap:.1e} vol"
    )


def main() -> None:
    _, df_jpy, df_usd, forwards = market(DAYS)
    print("USD/JPY surface, 10 tenors 1W-2Y (MARKET_FACTS.md + bench assumptions)\n")
    for label, with_10d in (("ATM + 25d", False), ("ATM + 25d + 10d", True)):
        quotes = tenors(with_10d)
        fit_time, smiles = timed(lambda q=quotes: fit_smiles(tenors=q), repeat=15)
        quote_time, quoted = timed(
            lambda s=smiles: quote_surface(surface=build_surface(smiles=s), deltas=DELTAS),
            repeat=15,
        )
        wings = np.array([[w.rr for w in t.wings] for t in quotes])
        error = max(
            np.abs(quoted.atm_vols - ATM).max(),
            np.abs(quoted.risk_reversals[:, : wings.shape[1]] - wings).max(),
        )
        print(
            f"fit {label:16s} {fit_time * 1e3:7.2f} ms; re-quote at its pillars "
            f"{quote_time * 1e3:6.2f} ms, error {error:.1e} vol"
        )
    print()
    smiles = fit_smiles(tenors=tenors(False))
    compare(smiles, DAYS, DELTAS, "10 pillars x (ATM, 25d, 10d)")
    many = np.unique(np.round(np.geomspace(7, 730, 60)).astype(int))
    compare(smiles, many, (0.35, 0.25, 0.15, 0.10, 0.05), f"{many.size} expiries x (ATM, 5 deltas)")

    rng = np.random.default_rng(7)
    n = 100_000
    deltas = rng.uniform(0.05, 0.45, n)
    stds = rng.uniform(0.02, 0.3, n)
    vec_time, solution = timed(
        lambda: strike_from_delta(
            deltas=deltas,
            forwards=forwards[4],
            std_devs=stds,
            foreign_discount_factors=df_usd[4],
            is_call=True,
            delta_type=DeltaType.PREMIUM_ADJUSTED_SPOT,
        ),
        repeat=3,
    )
    sample = 5_000
    start = time.perf_counter()
    ql_strikes = [
        ql.BlackDeltaCalculator(
            ql.Option.Call, ql.DeltaVolQuote.PaSpot, SPOT, df_jpy[4], df_usd[4], float(stds[j])
        ).strikeFromDelta(float(deltas[j]))
        for j in range(sample)
    ]
    per_ql = (time.perf_counter() - start) / sample
    agree = np.max(np.abs(np.array(ql_strikes) / solution.strikes[:sample] - 1))
    print(
        f"\npremium-adjusted call strike_from_delta, {n:,} deltas: ours "
        f"{vec_time / n * 1e6:.2f} us/strike vs QuantLib strikeFromDelta loop "
        f"{per_ql * 1e6:.2f} us/strike ({per_ql * n / vec_time:.1f}x); max rel diff {agree:.1e}"
    )


def svi_total_variance(smiles, expiry: float, k: float) -> float:
    """The event-free surface's ``w(T, k)`` in plain Python (the QuantLib loop's smile)."""
    a, b, rho, m, s = (np.asarray(p) for p in vars(smiles.params).values())
    pillars = smiles.expiries

    def w(j: int) -> float:
        z = k - m[j]
        return a[j] + b[j] * (rho[j] * z + math.hypot(z, s[j]))

    j = int(np.searchsorted(pillars, expiry))
    if j == 0:
        return w(0) * expiry / pillars[0]
    if j == pillars.size:
        return w(j - 1) * expiry / pillars[-1]
    alpha = (expiry - pillars[j - 1]) / (pillars[j] - pillars[j - 1])
    return alpha * w(j) + (1 - alpha) * w(j - 1)


def mixture_quote_back(market, scenario_set, tenors, deltas) -> None:
    """Quote the mixture back at ``tenors`` × ``deltas``: ours against the QuantLib loop."""
    today = market.valuation_date
    dates = [tenor_dates("tenor", today, t) for t in tenors]
    times = np.array([year_fraction(today, e) for e, _ in dates])
    deliveries = np.array([year_fraction(today, d) for _, d in dates])
    expiries = Expiries.on(market, times, deliveries)
    fit = fit_measure(market, scenario_set, Measure.TILT)
    model = build_vol_model(market, scenario_set)
    smiles = market.smiles
    conventions = smiles.conventions

    def ours():
        variance = mixture_variance(market=market, model=model, fit=fit, expiries=expiries)
        return quote_total_variance(
            variance=variance,
            expiries=times,
            forwards=expiries.forwards,
            foreign_discount_factors=expiries.usd_discount_factors,
            deltas=deltas,
            conventions=conventions,
        )

    ours_time, quoted = timed(ours, repeat=5)
    t_event = model.event_time
    vols = [s.vol for s in scenario_set.scenarios]

    def vol_at(i: int, strike: float) -> float:
        """The mixture's vol at ``strike``: Black per scenario, summed, inverted."""
        forward, t = float(expiries.forwards[i]), float(times[i])
        option = ql.Option.Call if strike >= forward else ql.Option.Put
        price = 0.0
        for q, jump, vol in zip(fit.weights, fit.jumps, vols, strict=True):
            k = math.log(strike / (forward * jump))
            total = svi_total_variance(smiles, t_event, k) + vol * vol * (t - t_event)
            price += q * ql.blackFormula(option, strike, forward * jump, math.sqrt(total))
        std = ql.blackFormulaImpliedStdDev(
            option, strike, forward, price, 1.0, 0.0, 0.1, 1e-14, 200
        )
        return std / math.sqrt(t)

    ql_time, theirs = timed(
        lambda: ql_requote(
            vol_at,
            times,
            expiries.forwards,
            expiries.discount_factors,
            expiries.usd_discount_factors,
            deltas,
            conventions,
            spot=market.spot,
        ),
        repeat=1,
    )
    gap = max(
        np.abs(theirs["atm"] - quoted.atm_vols).max(),
        np.abs(theirs["rr"] - quoted.risk_reversals).max(),
        np.abs(theirs["bf"] - quoted.broker_butterflies).max(),
    )
    label = f"{len(tenors)} tenors x (ATM, {len(deltas)} deltas)"
    print(
        f"mixture quote-back {label:26s} ours {ours_time * 1e3:6.1f} ms   QuantLib loop "
        f"{ql_time * 1e3:6.0f} ms ({ql_time / ours_time:4.1f}x)   max diff {gap:.1e} vol"
    )


def mixture_bench() -> None:
    entry = builtin_catalog()["us-japan-tariff-2025-07-09"]
    market, scenario_set = entry.market, entry.scenario_set
    print("\nmixture surface of the built-in scenario set on the built-in market")
    mixture_quote_back(market, scenario_set, MIXTURE_TENORS, DELTAS)
    many = tuple(f"{w}W" for w in range(4, 13)) + tuple(f"{m}M" for m in range(4, 25))
    mixture_quote_back(market, scenario_set, many, (0.35, 0.25, 0.15, 0.10, 0.05))
    grid = market.spot * np.exp(np.linspace(-0.25, 0.25, 51))
    view_time, _ = timed(
        lambda: vol_surface_view(
            market=market, scenario_set=scenario_set, tenors=MIXTURE_TENORS, strikes=grid
        ),
        repeat=3,
    )
    print(
        f"vol_surface_view (POST /v1/vol-surface): {len(MIXTURE_TENORS)} tenors x 51 strikes, "
        f"market + 5 scenarios + mixture, quotes and densities: {view_time * 1e3:.0f} ms"
    )
    for label, settings in (
        ("calibrate to the 5 market pillars after the event", CalibrationSettings()),
        (
            "  ... refitting levels and vols",
            CalibrationSettings(refit_levels=True, refit_vols=True),
        ),
    ):
        cal_time, result = timed(
            lambda s=settings: calibrate(market=market, scenario_set=scenario_set, settings=s),
            repeat=1,
        )
        print(f"{label}: {cal_time * 1e3:.0f} ms, {result.iterations} iteration(s)")


if __name__ == "__main__":
    main()
    mixture_bench()
