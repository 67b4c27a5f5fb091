"""Quote rows of the calibration: each market quote as a row linear in the scenario weights.

Conventions: strikes and forwards JPY per USD; vols annualised decimals; premiums discounted,
JPY per USD of notional; times in years ACT/365F. Every row is in vol units: a price row is
divided by the Black vega (per unit vol) at the market's vol, so a residual of 0.001 is
0.1 vol point.

Mixture prices are linear in the weights, ``C(K) = Σ q_i·C_i(K)``; the quotes become rows
``a·q = b`` as follows (Clark 2011, §3.7 for the conventions):

* ATM — the delta-neutral strike is fixed by the quoted vol (``K = F·e^{∓σ²T/2}``), so the
  ATM call is a price: exact and linear.
* broker butterfly — the strangle struck at ``±δ`` under the single vol ``σ_atm + BF`` is a
  price: exact and linear.
* risk reversal (and a smile butterfly) — a vol difference at the *smile's own* ``±δ``
  strikes, which move with ``q``. At the current weights ``q_k`` the model's own strikes are
  read off the mixture's quotes, and ``σ(K; q) ≈ σ_k + (C(K; q) − C(K; q_k))/vega_k`` makes
  the row linear; the calibration iterates (the strikes follow the fitted smile). At a fixed
  point the rows hold exactly, so quotes the mixture can match are matched exactly.
* option quotes (strike, vol) — a price: exact and linear.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pricing.fx.black import Payoff, black_price
from pricing.fx.delta import strike_from_delta
from pricing.mixture.measure import Measure, MeasureFit
from pricing.vol.quotes import Butterfly, SmileConventions
from pricing.vol.quoting import SmileQuotes
from scenarios import checks
from scenarios.fx.valuation import price_options
from scenarios.market import MarketSnapshot
from scenarios.vol.mixture_smile import Expiries
from scenarios.vol.model import VolModel
from scenarios.vol.smiles import SmileQuote

_INV_SQRT_2PI = 0.3989422804014327


@dataclass(frozen=True)
class OptionQuote:
    """One option's vol: ``strike`` (JPY per USD) and ``vol``, expiry and delivery in years."""

    label: str
    expiry: float
    delivery: float
    strike: float
    vol: float

    def __post_init__(self) -> None:
        checks.positive("strike", self.strike)
        checks.in_range("vol", self.vol, 1e-4, 5.0, " (a decimal, 0.10 = 10%)")


@dataclass(frozen=True)
class RowLabel:
    """What a row fits: a tenor's ``atm``/``rr25``/``bf25``/``rr10``/``bf10``, or an option's
    ``vol``; ``source`` indexes the tenor or option."""

    kind: str
    source: int
    wing: int = -1


@dataclass(frozen=True)
class Rows:
    """``matrix @ q ≈ targets`` in vol units, one label per row."""

    matrix: np.ndarray
    targets: np.ndarray
    labels: tuple[RowLabel, ...]


def weights_fit(
    weights: np.ndarray, jumps: np.ndarray, tree: MeasureFit | None = None
) -> MeasureFit:
    """Weights and jumps as a :class:`MeasureFit` to price with (no reweighting).

    With ``tree`` (a decision tree's fit, ``nodes`` set: its leaves' jumps as of each expiry
    come from its nodes) the result is ``tree`` with the leaf weights ``weights`` instead:
    the mixture over its leaves, priced interval by interval (``jumps`` unused)."""
    if tree is not None:
        q = np.asarray(weights, dtype=float)
        return dataclasses.replace(
            tree, weights=q, forward_mismatch=float(q @ np.asarray(tree.jumps) - 1.0)
        )
    m = weights.size
    mismatch = float(weights @ jumps - 1.0)
    eye = np.eye(m)
    return MeasureFit(Measure.NONE, weights, jumps, None, mismatch, mismatch, np.zeros((m, m)), eye)


def _vegas(expiries: Expiries, rows: np.ndarray, strikes: np.ndarray, vols: np.ndarray):  # type: ignore[no-untyped-def]
    """Discounted Black vega per unit vol, ``DF·F·n(d1)·√T``."""
    f, t = expiries.forwards[rows], expiries.times[rows]
    s = vols * np.sqrt(t)
    d1 = np.log(f / strikes) / s + 0.5 * s
    return expiries.discount_factors[rows] * f * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1) * np.sqrt(t)


def _market_prices(
    expiries: Expiries, rows: np.ndarray, strikes: np.ndarray, vols: np.ndarray, calls: np.ndarray
) -> np.ndarray:
    t = expiries.times[rows]
    return black_price(
        forwards=expiries.forwards[rows],
        strikes=strikes,
        total_vars=vols * vols * t,
        discount_factors=expiries.discount_factors[rows],
        is_call=calls,
    )


@dataclass(frozen=True)
class PriceRows:
    """Price instruments: legs (expiry row, strike, call?) summed into rows with their market
    premium and vega."""

    tenor_rows: np.ndarray
    strikes: np.ndarray
    calls: np.ndarray
    row_of_leg: np.ndarray
    targets: np.ndarray  # market premium per row
    vegas: np.ndarray  # market vega per row
    labels: tuple[RowLabel, ...]


def tenor_price_rows(
    *, quotes: tuple[SmileQuote, ...], expiries: Expiries, conventions: SmileConventions
) -> PriceRows:
    """The tenor rows that are prices whatever ``q``: ATM calls and broker strangles."""
    n = len(quotes)
    atm = np.array([q.atm for q in quotes])
    t = expiries.times
    legs_row: list[int] = []
    legs_k: list[float] = []
    legs_call: list[bool] = []
    legs_of: list[int] = []
    targets: list[float] = []
    vegas: list[float] = []
    labels: list[RowLabel] = []
    atm_k = expiries.forwards * np.exp(conventions.atm_log_moneyness(total_vars=atm * atm * t))
    for i in range(n):
        legs_row.append(i)
        legs_k.append(atm_k[i])
        legs_call.append(True)
        legs_of.append(len(labels))
        labels.append(RowLabel("atm", i))
    price = _market_prices(expiries, np.arange(n), atm_k, atm, np.ones(n, bool))
    targets.extend(price.tolist())
    vegas.extend(_vegas(expiries, np.arange(n), atm_k, atm).tolist())
    if conventions.butterfly is Butterfly.BROKER:
        scales = conventions.delta_scales(
            expiries=t, foreign_discount_factors=expiries.usd_discount_factors
        )
        for j, name in enumerate(("bf25", "bf10")):
            rows = np.array([i for i, q in enumerate(quotes) if j < len(q.wings())], dtype=int)
            if rows.size == 0:
                continue
            wings = [quotes[i].wings()[j] for i in rows]
            sigma = atm[rows] + np.array([w.bf for w in wings])
            delta = np.array([w.delta for w in wings])
            strikes = strike_from_delta(
                deltas=np.stack([delta, -delta]),
                forwards=expiries.forwards[rows],
                std_devs=sigma * np.sqrt(t[rows]),
                foreign_discount_factors=scales[rows],
                is_call=np.array([[True], [False]]),
                delta_type=conventions.scaled_delta_type,
            ).strikes
            both = np.concatenate([rows, rows])
            legs = np.concatenate([strikes[0], strikes[1]])
            calls = np.repeat([True, False], rows.size)
            sigmas = np.concatenate([sigma, sigma])
            premiums = _market_prices(expiries, both, legs, sigmas, calls)
            leg_vegas = _vegas(expiries, both, legs, sigmas)
            for r, i in enumerate(rows):
                for leg in (r, r + rows.size):
                    legs_row.append(i)
                    legs_k.append(legs[leg])
                    legs_call.append(bool(calls[leg]))
                    legs_of.append(len(labels))
                targets.append(premiums[r] + premiums[r + rows.size])
                vegas.append(leg_vegas[r] + leg_vegas[r + rows.size])
                labels.append(RowLabel(name, int(i), j))
    return PriceRows(
        np.array(legs_row, dtype=int), np.array(legs_k), np.array(legs_call, dtype=bool),
        np.array(legs_of, dtype=int), np.array(targets), np.array(vegas), tuple(labels),
    )  # fmt: skip


def option_price_rows(*, options: tuple[OptionQuote, ...], expiries: Expiries) -> PriceRows:
    """Option quotes as prices (an out-of-the-money call or put at the quoted vol)."""
    k = len(options)
    rows = np.arange(k)
    strikes = np.array([o.strike for o in options], dtype=float)
    vols = np.array([o.vol for o in options], dtype=float)
    calls = strikes >= expiries.forwards
    return PriceRows(
        rows, strikes, calls, rows,
        _market_prices(expiries, rows, strikes, vols, calls) if k else np.zeros(0),
        _vegas(expiries, rows, strikes, vols) if k else np.zeros(0),
        tuple(RowLabel("vol", i) for i in range(k)),
    )  # fmt: skip


def component_prices(
    *,
    market: MarketSnapshot,
    model: VolModel,
    jumps: np.ndarray,
    expiries: Expiries,
    rows: np.ndarray,
    strikes: np.ndarray,
    calls: np.ndarray,
    tree: MeasureFit | None = None,
) -> np.ndarray:
    """Each scenario's discounted price ``[legs, m]`` of calls/puts at ``strikes`` (a tree's
    leaves as of each leg's expiry with ``tree``: see :func:`weights_fit`)."""
    m = jumps.size
    priced = price_options(
        market=market,
        model=model,
        fit=weights_fit(np.full(m, 1.0 / m), jumps, tree),
        expiries=expiries.times[rows],
        deliveries=expiries.delivery_times[rows],
        strikes=strikes,
        payoffs=np.where(calls, Payoff.CALL, Payoff.PUT),
    )
    return priced.greeks.scenario_values


def price_matrix(
    prices: PriceRows, components: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[r, m]`` and targets ``[r]`` in vol units from per-leg component prices."""
    matrix = np.zeros((len(prices.labels), m))
    np.add.at(matrix, prices.row_of_leg, components)
    return matrix / prices.vegas[:, None], prices.targets / prices.vegas


def vol_rows(
    *,
    quotes: tuple[SmileQuote, ...],
    model_quotes: SmileQuotes,
    expiries: Expiries,
    call_components: np.ndarray,
    put_components: np.ndarray,
    weights: np.ndarray,
    conventions: SmileConventions,
) -> Rows:
    """Risk reversals (and smile butterflies) linearised at the model's own wing strikes.

    ``call_components``/``put_components`` ``[n, d, m]``: each scenario's price at the
    model's call and put strikes of each tenor and wing.
    """
    matrix, targets, labels = [], [], []
    smile_fly = conventions.butterfly is Butterfly.SMILE
    for i, quote in enumerate(quotes):
        for j, wing in enumerate(quote.wings()):
            sides = []
            q = model_quotes
            for components, strike, vol in (
                (call_components[i, j], q.call_strikes[i, j], q.call_vols[i, j]),
                (put_components[i, j], q.put_strikes[i, j], q.put_vols[i, j]),
            ):
                vega = _vegas(expiries, np.array([i]), np.array([strike]), np.array([vol]))[0]
                # σ(K; q) ≈ σ_k + (C(K; q) − C(K; q_k))/vega_k = offset + coefficients·q
                sides.append((components / vega, vol - components @ weights / vega))
            (a_c, o_c), (a_p, o_p) = sides
            suffix = "25" if j == 0 else "10"
            matrix.append(a_c - a_p)
            targets.append(wing.rr - o_c + o_p)
            labels.append(RowLabel(f"rr{suffix}", i, j))
            if smile_fly:
                matrix.append(0.5 * (a_c + a_p))
                targets.append(wing.bf + quote.atm - 0.5 * (o_c + o_p))
                labels.append(RowLabel(f"bf{suffix}", i, j))
    m = weights.size
    return Rows(np.array(matrix).reshape(-1, m), np.array(targets), tuple(labels))
