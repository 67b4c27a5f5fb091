"""Strikes given in the desk's terms — ``"25D"``, ``"10D"``, ``"ATM"`` — resolved to JPY per USD.

A :class:`StrikeSpec` is parsed from the text a line gives instead of a number:

* ``"<n>D"`` with ``0 < n < 50`` (decimals allowed: ``"12.5D"``): the strike whose delta is
  ``n/100`` on the line's side — call delta ``+n/100`` for calls and digital calls, put delta
  ``−n/100`` for puts and digital puts;
* ``"ATM"``: the surface's ATM — for USD/JPY the delta-neutral straddle strike (call and put
  premium-adjusted deltas sum to zero);
* ``"ATMF"``: the outright forward to delivery (supported: the desk says "at the forward").

Conventions are the market surface's own (:class:`pricing.vol.quotes.SmileConventions`; USD/JPY's
by default, as ``scenarios/data/tariff_2025.toml`` declares): premium in USD, so deltas are
premium-adjusted; spot delta for expiries up to the 1Y pillar (``expiry ≤
spot_delta_max_expiry`` = 1.1 years, which keeps 1Y on spot delta after the date rules) and
forward delta beyond; ATM delta-neutral, premium-adjusted: ``K = F·e^{−σ(K)²T/2}``. A spot
delta is scaled by the USD discount factor to delivery from the valuation date, as the
surface's pillars were fitted; forwards and discount factors are to delivery, vol time to the
expiry (years ACT/365F). Hence a ``"25D"`` strike at a pillar is that pillar's 25-delta
strike, and its vol the one the 25Δ risk reversal and butterfly were quoted at.

The vol depends on the strike, so the strike is the fixed point ``K = g(K)`` of
:func:`pricing.fx.delta.strike_from_delta` (or :func:`pricing.fx.delta.atm_strike`) at the
smile's vol ``σ(K)`` — the surface's (:mod:`pricing.vol.surface`, with the event's variance on
its date when the quotes weigh the decision day and ``event_date`` is given) or, without a
surface, the ATM curve's flat vol. The fixed point is accelerated by Wegstein's secant on
``g(k) − k`` in ``k = ln K`` (a plain iteration contracts by ~0.4 a step on the put wing:
~40 steps for 1Δ at 2Y; this takes at most ~9). Lines are grouped by (expiry, delivery,
spec, side) and the groups solved together, so a book costs one vectorised solve over its
distinct groups plus a dictionary look-up per line; solved groups are kept per market (a
strike is a pure function of the market, the event time and its group), so a book priced
again solves nothing.

References: Clark, *Foreign Exchange Option Pricing* (2011), §3.2–3.5; Reiswich & Wystup, "FX
volatility smile construction", CPQF WP 20 (2010); Wegstein, "Accelerating convergence of
iterative processes", Comm. ACM 1 (1958) 9–13.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np

from pricing.fx.delta import atm_strike, strike_from_delta
from pricing.vol.quotes import SmileConventions
from scenarios import checks
from scenarios.dates import expiry_delivery, year_fraction
from scenarios.errors import DomainError, FieldError
from scenarios.fx.instruments import OptionKind
from scenarios.market import MarketSnapshot

_DELTA_TEXT = re.compile(r"^(\d{1,2}(?:\.\d{1,6})?)D$")
_MAX_ITERATIONS = 60
_TOLERANCE = 1e-15  # |g(k) − k| in k = ln K: the delta then holds to ~1e-13


class StrikeType(StrEnum):
    """What a desk-terms strike names."""

    DELTA = "delta"
    ATM = "atm"
    ATM_FORWARD = "atm_forward"


@dataclass(frozen=True)
class StrikeSpec:
    """A strike in desk terms: ``delta`` is the unsigned delta (0.25 for ``"25D"``), None for
    ATM; ``text`` the spelling it was given as."""

    type: StrikeType
    delta: float | None
    text: str


@dataclass(frozen=True)
class ResolvedStrike:
    """A desk-terms strike resolved on a market.

    Attributes:
        strike: JPY per USD.
        delta_convention: the delta convention the spec was read in, a
            :class:`pricing.fx.delta.DeltaType` value (``"premium_adjusted_spot"`` up to
            1Y, ``"premium_adjusted_forward"`` beyond, for the USD/JPY surface).
        vol: the market smile's vol at ``strike`` (annualised decimal).
    """

    strike: float
    delta_convention: str
    vol: float


@dataclass(frozen=True)
class ResolvedStrikes:
    """:class:`ResolvedStrike` over ``n`` lines: ``strikes``, ``vols`` ``[n]``, conventions
    a tuple of ``n`` strings."""

    strikes: np.ndarray
    delta_conventions: tuple[str, ...]
    vols: np.ndarray

    def __getitem__(self, index: int) -> ResolvedStrike:
        return ResolvedStrike(
            float(self.strikes[index]), self.delta_conventions[index], float(self.vols[index])
        )


def parse_strike_spec(text: str) -> StrikeSpec:
    """Parse ``"<n>D"`` (0 < n < 50), ``"ATM"`` or ``"ATMF"``; raise naming ``strike``."""
    return _parse(text) if isinstance(text, str) else _parse_error(text)


@lru_cache(maxsize=1024)
def _parse(text: str) -> StrikeSpec:
    if text == "ATM":
        return StrikeSpec(StrikeType.ATM, None, text)
    if text == "ATMF":
        return StrikeSpec(StrikeType.ATM_FORWARD, None, text)
    match = _DELTA_TEXT.match(text)
    if match is None:
        return _parse_error(text)
    percent = float(match.group(1))
    if not 0.0 < percent < 50.0:
        raise DomainError.field(
            "strike", f"a delta strike must lie strictly between 0D and 50D, got {text!r}"
        )
    return StrikeSpec(StrikeType.DELTA, percent / 100.0, text)


def _parse_error(text: object) -> StrikeSpec:
    raise DomainError.field(
        "strike",
        "must be a number (JPY per USD), a delta such as '25D' or '12.5D' (0 < n < 50), "
        f"'ATM' (delta-neutral) or 'ATMF' (the forward), got {text!r}",
    )


GroupKey = tuple[dt.date, dt.date, StrikeSpec, bool]
"""``(expiry, delivery, spec, is_call)``: the lines that share one strike."""

_SOLVED: dict[tuple[MarketSnapshot, float | None, GroupKey], tuple[float, float, str]] = {}
_MAX_SOLVED = 1 << 16  # a few MB; cleared when full (markets and books come and go)


_SIDES = {
    OptionKind.CALL: True,
    OptionKind.DIGITAL_CALL: True,
    OptionKind.PUT: False,
    OptionKind.DIGITAL_PUT: False,
}


def resolve_strike(
    market: MarketSnapshot,
    *,
    kind: OptionKind,
    spec: StrikeSpec | str,
    expiry: dt.date,
    delivery: dt.date | None = None,
    event_date: dt.date | None = None,
) -> ResolvedStrike:
    """The strike of one line given in desk terms; see :func:`resolve_strikes`.

    Raises:
        DomainError: naming ``strike`` (a malformed spec, a forward, no such strike),
            ``expiry`` or ``delivery``.
    """
    try:
        return resolve_strikes(
            market,
            kinds=(kind,),
            specs=(spec,),
            expiries=(expiry,),
            deliveries=(delivery,),
            event_date=event_date,
        )[0]
    except DomainError as exc:
        errors = [FieldError(e.field.removeprefix("[0]."), e.reason) for e in exc.errors]
        raise DomainError(errors, exc.kind) from None


def resolve_strikes(
    market: MarketSnapshot,
    *,
    kinds: Sequence[OptionKind],
    specs: Sequence[StrikeSpec | str],
    expiries: Sequence[dt.date],
    deliveries: Sequence[dt.date | None],
    event_date: dt.date | None = None,
) -> ResolvedStrikes:
    """Strikes of ``n`` lines given in desk terms, on ``market``'s pre-event smile.

    Args:
        market: the snapshot; its surface (or, without one, its ATM curve) gives the vols.
        kinds: call, put, digital call or digital put per line (a forward has no delta).
        specs: :class:`StrikeSpec` or its text (``"25D"``, ``"ATM"``, ``"ATMF"``) per line.
        expiries: expiry dates (vol time), after the valuation date.
        deliveries: delivery dates (forward and discounting), or None for the expiry's
            spot date (:func:`scenarios.dates.expiry_delivery`), on or after the expiry.
        event_date: the scenario set's decision date: with it, the surface carries the
            event's variance on its date when the quotes weigh the decision day
            (``MarketSurface.event_extra_days > 0``), as the valuation reads it; without it,
            or with the default weight 0, the quotes' plain total-variance interpolation.

    Returns:
        :class:`ResolvedStrikes`, line by line.

    Raises:
        DomainError: the first bad line, its field under ``[i]`` (``[3].strike``,
            ``[3].expiry``, ``[3].delivery``) for the caller to prefix (``instruments``).
    """
    n = len(kinds)
    if not len(specs) == len(expiries) == len(deliveries) == n:
        raise ValueError("kinds, specs, expiries and deliveries must have one length")
    today = market.valuation_date
    # lines repeat a few (kind, spec, expiry, delivery): validate and group each once
    seen: dict[tuple[object, ...], int] = {}
    groups: dict[GroupKey, int] = {}
    first_line: list[int] = []
    line_group = np.empty(n, dtype=np.int64)
    for i, raw in enumerate(zip(kinds, specs, expiries, deliveries, strict=True)):
        group = seen.get(raw)
        if group is None:
            key = _line_key(today, i, *raw)
            group = groups.get(key)
            if group is None:
                group = groups[key] = len(first_line)
                first_line.append(i)
            seen[raw] = group
        line_group[i] = group
    strikes, vols, conventions = _cached_groups(market, list(groups), first_line, event_date)
    return ResolvedStrikes(
        strikes=strikes[line_group],
        delta_conventions=tuple(conventions[g] for g in line_group.tolist()),
        vols=vols[line_group],
    )


def _cached_groups(
    market: MarketSnapshot,
    keys: list[GroupKey],
    first_line: list[int],
    event_date: dt.date | None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """:func:`_solve_groups` for the groups not solved before on this market (a strike is a
    pure function of the market, the event time and its group): a repeated request, or a
    book priced again, solves nothing."""
    event_time = _event_time(market, event_date)
    cached = [_SOLVED.get((market, event_time, key)) for key in keys]
    missing = [g for g, hit in enumerate(cached) if hit is None]
    if missing:
        strikes, vols, conventions = _solve_groups(
            market, [keys[g] for g in missing], [first_line[g] for g in missing], event_time
        )
        if len(_SOLVED) + len(missing) > _MAX_SOLVED:
            _SOLVED.clear()
        for j, g in enumerate(missing):
            hit = (float(strikes[j]), float(vols[j]), conventions[j])
            cached[g] = _SOLVED[(market, event_time, keys[g])] = hit
    solved = [hit for hit in cached if hit is not None]
    return (
        np.array([hit[0] for hit in solved]),
        np.array([hit[1] for hit in solved]),
        tuple(hit[2] for hit in solved),
    )


def _event_time(market: MarketSnapshot, event_date: dt.date | None) -> float | None:
    """Years to the event when the surface weighs it (else None: the same surface)."""
    today = market.valuation_date
    weighted = market.surface is not None and market.surface.event_extra_days > 0
    if event_date is None or event_date <= today or not weighted:
        return None
    return year_fraction(today, event_date)


def _line_key(
    today: dt.date,
    index: int,
    kind: OptionKind,
    spec: StrikeSpec | str,
    expiry: dt.date,
    delivery: dt.date | None,
) -> GroupKey:
    """``(expiry, delivery, spec, is_call)`` of one line, validated; fields under ``[i]``."""
    try:
        parsed = spec if isinstance(spec, StrikeSpec) else parse_strike_spec(spec)
        side = _SIDES.get(kind)
        if side is None:
            raise DomainError.field(
                "strike",
                f"a delta or ATM strike applies to calls, puts and digitals, not to a "
                f"{getattr(kind, 'value', kind)}",
            )
        if expiry <= today:
            raise DomainError.field(
                "expiry",
                f"must be after the valuation date {today.isoformat()}, got {expiry.isoformat()}",
            )
        checks.within_horizon("expiry", today, expiry)
        if delivery is None:
            delivery = expiry_delivery(expiry)
        checks.within_horizon("delivery", today, delivery)
        if delivery < expiry:
            raise DomainError.field(
                "delivery",
                f"must be on or after the expiry {expiry.isoformat()}, got {delivery.isoformat()}",
            )
    except DomainError as exc:
        raise exc.prefixed(f"[{index}]") from None
    return expiry, delivery, parsed, side


def _solve_groups(
    market: MarketSnapshot,
    keys: list[GroupKey],
    first_line: list[int],
    event_time: float | None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Strikes, vols and delta conventions ``[g]`` of the distinct groups."""
    today = market.valuation_date
    t_exp = np.array([year_fraction(today, key[0]) for key in keys])
    t_del = np.array([year_fraction(today, key[1]) for key in keys])
    forwards = np.asarray(market.forwards(t_del), dtype=float).reshape(-1)
    usd_dfs = np.asarray(market.usd_discount_factors(t_del), dtype=float).reshape(-1)
    is_call = np.array([key[3] for key in keys], dtype=bool)
    types = [key[2].type for key in keys]
    deltas = np.array([key[2].delta or 0.0 for key in keys])
    conventions = market.surface.conventions if market.surface else SmileConventions()
    surface = market.vol_surface(event_time)

    def vols_at(strikes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if surface is None:
            t = t_exp[rows]
            return np.sqrt(market.atm_vols.total_variance(t) / t), np.ones(rows.size, bool)
        read = surface.vols(expiries=t_exp[rows], strikes=strikes, forwards=forwards[rows])
        return np.where(read.valid, read.vols, np.nan), np.asarray(read.valid)

    scales = conventions.delta_scales(expiries=t_exp, foreign_discount_factors=usd_dfs)
    scaled_type = conventions.scaled_delta_type
    is_delta = np.array([t is StrikeType.DELTA for t in types])
    is_atm = np.array([t is StrikeType.ATM for t in types])

    def step(log_k: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``g(k)`` on ``rows``: the strike of the spec at the smile's vol at ``e^k``."""
        vols, valid = vols_at(np.exp(log_k), rows)
        s = np.where(valid, vols, 1.0) * np.sqrt(t_exp[rows])
        out = np.log(forwards[rows])  # ATMF: the forward, whatever the vol
        ok = valid.copy()
        d = is_delta[rows]
        if d.any():
            phi = np.where(is_call[rows][d], 1.0, -1.0)
            solution = strike_from_delta(
                deltas=phi * deltas[rows][d],
                forwards=forwards[rows][d],
                std_devs=s[d],
                foreign_discount_factors=scales[rows][d],
                is_call=is_call[rows][d],
                delta_type=scaled_type,
            )
            out[d] = np.log(np.where(solution.solved, solution.strikes, 1.0))
            ok[d] &= solution.solved
        a = is_atm[rows]
        if a.any():
            out[a] = np.log(
                atm_strike(
                    forwards=forwards[rows][a],
                    std_devs=s[a],
                    atm_type=conventions.atm_type,
                    delta_type=scaled_type,
                )
            )
        return out, ok

    log_k, failed = _wegstein(step, np.log(forwards))
    if failed.any():
        g = int(np.flatnonzero(failed)[0])
        key = keys[g]
        raise DomainError.field(
            f"[{first_line[g]}].strike",
            f"{key[2].text!r} has no strike on the market's smile for the "
            f"{'call' if key[3] else 'put'} expiring {key[0].isoformat()} (a delta beyond "
            f"the {scaled_type.value.replace('_', ' ')} range, or no positive variance there)",
        )
    strikes = np.exp(log_k)
    vols, _ = vols_at(strikes, np.arange(strikes.size))
    types_out = tuple(conventions.delta_type(float(t)).value for t in t_exp)
    return strikes, vols, types_out


Step = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(k [r], rows [r]) ↦ (g(k), ok)`` on the rows still being solved."""


def _wegstein(step: Step, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed points ``k = g(k)`` elementwise by Wegstein's secant (``q`` the secant slope of
    ``g``, clipped to [−5, 0.9] so a step never runs away): returns ``(k, failed)``, where
    the result is ``g(k)`` at the last ``k`` whose residual ``|g(k) − k|`` was below
    :data:`_TOLERANCE`."""
    size = start.size
    k = start.copy()
    g, ok = step(k, np.arange(size))
    failed = ~ok
    done = failed | (np.abs(g - k) <= _TOLERANCE)
    result = np.where(done, g, np.nan)
    previous_k, previous_g = k, g
    k = np.where(done, k, g)  # a plain first step
    for _ in range(_MAX_ITERATIONS):
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        g_rows, ok = step(k[rows], rows)
        g = np.full(size, np.nan)
        g[rows] = g_rows
        bad = rows[~ok]
        failed[bad] = True
        done[bad] = True
        settled = rows[ok & (np.abs(g_rows - k[rows]) <= _TOLERANCE)]
        result[settled] = g[settled]
        done[settled] = True
        with np.errstate(divide="ignore", invalid="ignore"):
            q = (g - previous_g) / (k - previous_k)
        q = np.clip(np.where(np.isfinite(q), q, 0.0), -5.0, 0.9)
        next_k = k + (g - k) / (1.0 - q)
        previous_k, previous_g = k.copy(), np.where(done, previous_g, g)
        k = np.where(done, k, next_k)
    failed |= ~done
    return result, failed
