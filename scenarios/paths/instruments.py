"""Path-dependent USD/JPY contracts: barrier options, one-touches and no-touches, double
barriers, double one-touches and double no-touches, KIKOs and KOKIs.

* :class:`BarrierOption` — a call or put on USD struck in JPY per USD that knocks in or out
  when spot touches ``barrier`` (``up_and_out``, ``up_and_in``, ``down_and_out``,
  ``down_and_in``), with an optional ``rebate`` (JPY per USD of notional) paid when a
  knock-out is knocked out (at the hit if ``rebate_at_hit``, else at expiry) or when a
  knock-in never knocks in (at expiry).
* :class:`TouchOption` — a one-touch pays ``cash`` if spot touches ``barrier`` before
  expiry (at the hit if ``pay_at_hit``, else at expiry); a no-touch pays it at expiry if spot
  never does. ``direction`` says on which side of spot the barrier lies.
* :class:`DoubleBarrierOption` — a call or put that knocks out (``knock_out``) if spot
  touches either of ``lower_barrier`` and ``upper_barrier``, or knocks in (``knock_in``:
  the vanilla less the knock-out); no rebate.
* :class:`DoubleNoTouch` — pays ``cash`` at expiry if spot stays strictly between
  ``lower_barrier`` and ``upper_barrier``; :class:`DoubleOneTouch` — pays it if spot touches
  either (at the hit if ``pay_at_hit``, else at expiry).
* :class:`KnockInKnockOut` — a call or put with a knock-in barrier on one side of spot and a
  knock-out barrier on the other; pays the vanilla at expiry if knocked in and not knocked
  out. ``kiko``: the knock-out is alive the whole life (touching it after the knock-in still
  kills the option); ``koki``: the knock-out is alive only until the knock-in (after it the
  option is a vanilla).

Touch cash (``cash``, per unit of notional) is in ``payout_currency``: JPY, or USD — worth
its spot in JPY when paid (the touched barrier at the hit, spot at expiry). Barriers are
monitored continuously (the path engine's bridge or shift, see :mod:`pricing.paths.options`).
A contract settles on its expiry date (no spot lag: the spot at expiry is the settlement
rate), and expiries given as tenors take the USD/JPY expiry rule of :mod:`scenarios.dates`.
Premiums are JPY per unit of notional: per USD for options, per unit of cash for touches.
Contracts already triggered at inception are refused (a barrier on the wrong side of spot),
so every contract is live on the valuation date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np

from pricing.paths.options import PathContracts, PathPayoff
from scenarios import checks
from scenarios.dates import tenor_dates
from scenarios.errors import DomainError
from scenarios.fx.instruments import Currency

StrEnumT = TypeVar("StrEnumT", bound=StrEnum)


class OptionType(StrEnum):
    CALL = "call"
    PUT = "put"


class BarrierType(StrEnum):
    UP_AND_OUT = "up_and_out"
    UP_AND_IN = "up_and_in"
    DOWN_AND_OUT = "down_and_out"
    DOWN_AND_IN = "down_and_in"

    @property
    def up(self) -> bool:
        return self.value.startswith("up")

    @property
    def knock_out(self) -> bool:
        return self.value.endswith("out")


class TouchType(StrEnum):
    ONE_TOUCH = "one_touch"
    NO_TOUCH = "no_touch"


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class DoubleBarrierType(StrEnum):
    KNOCK_OUT = "knock_out"
    KNOCK_IN = "knock_in"


class KnockInKnockOutStyle(StrEnum):
    KIKO = "kiko"  # the knock-out alive the whole life
    KOKI = "koki"  # the knock-out alive until the knock-in


@dataclass(frozen=True)
class BarrierOption:
    option_type: OptionType
    barrier_type: BarrierType
    strike: float
    barrier: float
    expiry: dt.date
    rebate: float = 0.0
    rebate_at_hit: bool = False
    notional: float = 1.0
    label: str | None = None
    tenor: str | None = None

    @property
    def payoff(self) -> PathPayoff:
        return {
            BarrierType.UP_AND_OUT: PathPayoff.UP_OUT,
            BarrierType.UP_AND_IN: PathPayoff.UP_IN,
            BarrierType.DOWN_AND_OUT: PathPayoff.DOWN_OUT,
            BarrierType.DOWN_AND_IN: PathPayoff.DOWN_IN,
        }[self.barrier_type]


@dataclass(frozen=True)
class TouchOption:
    touch_type: TouchType
    direction: Direction
    barrier: float
    cash: float
    expiry: dt.date
    pay_at_hit: bool = False
    payout_currency: Currency = Currency.JPY
    notional: float = 1.0
    label: str | None = None
    tenor: str | None = None

    @property
    def payoff(self) -> PathPayoff:
        up = self.direction == Direction.UP
        if self.touch_type == TouchType.ONE_TOUCH:
            return PathPayoff.ONE_TOUCH_UP if up else PathPayoff.ONE_TOUCH_DOWN
        return PathPayoff.NO_TOUCH_UP if up else PathPayoff.NO_TOUCH_DOWN


@dataclass(frozen=True)
class DoubleNoTouch:
    lower_barrier: float
    upper_barrier: float
    cash: float
    expiry: dt.date
    payout_currency: Currency = Currency.JPY
    notional: float = 1.0
    label: str | None = None
    tenor: str | None = None

    @property
    def payoff(self) -> PathPayoff:
        return PathPayoff.DOUBLE_NO_TOUCH


@dataclass(frozen=True)
class DoubleOneTouch:
    lower_barrier: float
    upper_barrier: float
    cash: float
    expiry: dt.date
    pay_at_hit: bool = False
    payout_currency: Currency = Currency.JPY
    notional: float = 1.0
    label: str | None = None
    tenor: str | None = None

    @property
    def payoff(self) -> PathPayoff:
        return PathPayoff.DOUBLE_ONE_TOUCH


@dataclass(frozen=True)
class DoubleBarrierOption:
    option_type: OptionType
    barrier_type: DoubleBarrierType
    strike: float
    lower_barrier: float
    upper_barrier: float
    expiry: dt.date
    notional: float = 1.0
    label: str | None = None
    tenor: str | None = None

    @property
    def payoff(self) -> PathPayoff:
        if self.barrier_type == DoubleBarrierType.KNOCK_OUT:
            return PathPayoff.DOUBLE_KNOCK_OUT
        return PathPayoff.DOUBLE_KNOCK_IN


@dataclass(frozen=True)
class KnockInKnockOut:
    """``knock_in_barrier`` and ``knock_out_barrier`` lie on opposite sides of spot."""

    style: KnockInKnockOutStyle
    option_type: OptionType
    strike: float
    knock_in_barrier: float
    knock_out_barrier: float
    expiry: dt.date
    notional: float = 1.0
    label: str | None = None
    tenor: str | None = None

    @property
    def knock_in_below(self) -> bool:
        return self.knock_in_barrier < self.knock_out_barrier

    @property
    def lower_barrier(self) -> float:
        return min(self.knock_in_barrier, self.knock_out_barrier)

    @property
    def upper_barrier(self) -> float:
        return max(self.knock_in_barrier, self.knock_out_barrier)

    @property
    def payoff(self) -> PathPayoff:
        below = self.knock_in_below
        if self.style == KnockInKnockOutStyle.KIKO:
            return PathPayoff.KIKO_DOWN_IN if below else PathPayoff.KIKO_UP_IN
        return PathPayoff.KOKI_DOWN_IN if below else PathPayoff.KOKI_UP_IN


PathInstrument = (
    BarrierOption
    | TouchOption
    | DoubleNoTouch
    | DoubleOneTouch
    | DoubleBarrierOption
    | KnockInKnockOut
)


def _expiry(valuation_date: dt.date, expiry: dt.date | None, tenor: str | None) -> dt.date:
    if (expiry is None) == (tenor is None):
        raise DomainError.field("expiry", "give exactly one of expiry (a date) or tenor")
    if tenor is not None:
        expiry, _ = tenor_dates("tenor", valuation_date, tenor)
    assert expiry is not None
    if expiry <= valuation_date:
        raise DomainError.field(
            "expiry" if tenor is None else "tenor",
            f"must be after the valuation date {valuation_date.isoformat()}, "
            f"got {expiry.isoformat()}",
        )
    return checks.within_horizon("expiry" if tenor is None else "tenor", valuation_date, expiry)


def _side(field: str, barrier: float, spot: float, up: bool, kind: str) -> None:
    """An up barrier lies above spot, a down barrier below (else it is triggered today), and
    within a factor of 1,000 of it (:func:`scenarios.checks.near_spot`)."""
    checks.positive(field, barrier)
    checks.near_spot(field, barrier, spot)
    if barrier <= spot if up else barrier >= spot:
        where = "above" if up else "below"
        raise DomainError.field(field, f"must be {where} spot {spot:g} ({kind}), got {barrier:g}")


def build_barrier_option(
    *,
    valuation_date: dt.date,
    spot: float,
    option_type: OptionType,
    barrier_type: BarrierType,
    strike: float,
    barrier: float,
    expiry: dt.date | None = None,
    tenor: str | None = None,
    rebate: float = 0.0,
    rebate_at_hit: bool = False,
    notional: float = 1.0,
    label: str | None = None,
) -> BarrierOption:
    """Validate a barrier option against the valuation date and spot; raise naming the field."""
    checks.positive("strike", strike)
    checks.near_spot("strike", strike, spot)
    up = barrier_type.up
    _side("barrier", barrier, spot, up, barrier_type.value)
    checks.finite("rebate", rebate)
    if rebate < 0.0:
        raise DomainError.field("rebate", f"must be >= 0, got {rebate!r}")
    if rebate > 0.0:
        checks.notional("rebate", rebate)  # the bound of every cash amount: at most 1e15
    if rebate_at_hit and not barrier_type.knock_out:
        raise DomainError.field(
            "rebate_at_hit", "applies to knock-outs only: a knock-in's rebate is paid at expiry"
        )
    checks.notional("notional", notional)
    date = _expiry(valuation_date, expiry, tenor)
    return BarrierOption(
        option_type,
        barrier_type,
        float(strike),
        float(barrier),
        date,
        float(rebate),
        rebate_at_hit,
        float(notional),
        label,
        tenor,
    )


def _choice(field: str, kind: type[StrEnumT], value: object) -> StrEnumT:
    """``value`` as one of ``kind``'s members (a member or its value), else a named error."""
    try:
        # an Enum call looks the value up (ValueError if no member has it): typeshed types
        # the call as StrEnum.__new__, which takes a str
        return kind(value)  # type: ignore[arg-type]
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise DomainError.field(field, f"must be one of {allowed}, got {value!r}") from None


def _cash(cash: float, payout_currency: object) -> Currency:
    checks.notional("cash", cash)  # > 0 and at most 1e15, in either currency
    return _choice("payout_currency", Currency, payout_currency)


def _corridor(lower_barrier: float, upper_barrier: float, spot: float, kind: str) -> None:
    """``lower < spot < upper``, each within a factor of 1,000 of spot."""
    checks.positive("lower_barrier", lower_barrier)
    checks.positive("upper_barrier", upper_barrier)
    if lower_barrier >= upper_barrier:
        raise DomainError.field(
            "lower_barrier",
            f"must be below upper_barrier {upper_barrier:g}, got {lower_barrier:g}",
        )
    _side("lower_barrier", lower_barrier, spot, False, kind)
    _side("upper_barrier", upper_barrier, spot, True, kind)


def build_touch_option(
    *,
    valuation_date: dt.date,
    spot: float,
    touch_type: TouchType,
    direction: Direction,
    barrier: float,
    cash: float,
    expiry: dt.date | None = None,
    tenor: str | None = None,
    pay_at_hit: bool = False,
    payout_currency: Currency = Currency.JPY,
    notional: float = 1.0,
    label: str | None = None,
) -> TouchOption:
    """Validate a one-touch or no-touch; raise naming the field."""
    _side(
        "barrier", barrier, spot, direction == Direction.UP, f"{direction.value} {touch_type.value}"
    )
    currency = _cash(cash, payout_currency)
    if pay_at_hit and touch_type == TouchType.NO_TOUCH:
        raise DomainError.field(
            "pay_at_hit", "applies to one-touches only: a no-touch pays at expiry"
        )
    checks.notional("notional", notional)
    date = _expiry(valuation_date, expiry, tenor)
    return TouchOption(
        touch_type,
        direction,
        float(barrier),
        float(cash),
        date,
        pay_at_hit=pay_at_hit,
        payout_currency=currency,
        notional=float(notional),
        label=label,
        tenor=tenor,
    )


def build_double_no_touch(
    *,
    valuation_date: dt.date,
    spot: float,
    lower_barrier: float,
    upper_barrier: float,
    cash: float,
    expiry: dt.date | None = None,
    tenor: str | None = None,
    payout_currency: Currency = Currency.JPY,
    notional: float = 1.0,
    label: str | None = None,
) -> DoubleNoTouch:
    """Validate a double no-touch (lower < spot < upper); raise naming the field."""
    _corridor(lower_barrier, upper_barrier, spot, "double_no_touch")
    currency = _cash(cash, payout_currency)
    checks.notional("notional", notional)
    date = _expiry(valuation_date, expiry, tenor)
    return DoubleNoTouch(
        float(lower_barrier),
        float(upper_barrier),
        float(cash),
        date,
        payout_currency=currency,
        notional=float(notional),
        label=label,
        tenor=tenor,
    )


def build_double_one_touch(
    *,
    valuation_date: dt.date,
    spot: float,
    lower_barrier: float,
    upper_barrier: float,
    cash: float,
    expiry: dt.date | None = None,
    tenor: str | None = None,
    pay_at_hit: bool = False,
    payout_currency: Currency = Currency.JPY,
    notional: float = 1.0,
    label: str | None = None,
) -> DoubleOneTouch:
    """Validate a double one-touch (lower < spot < upper); raise naming the field."""
    _corridor(lower_barrier, upper_barrier, spot, "double_one_touch")
    currency = _cash(cash, payout_currency)
    checks.notional("notional", notional)
    date = _expiry(valuation_date, expiry, tenor)
    return DoubleOneTouch(
        float(lower_barrier),
        float(upper_barrier),
        float(cash),
        date,
        pay_at_hit=pay_at_hit,
        payout_currency=currency,
        notional=float(notional),
        label=label,
        tenor=tenor,
    )


def build_double_barrier_option(
    *,
    valuation_date: dt.date,
    spot: float,
    option_type: OptionType,
    barrier_type: DoubleBarrierType,
    strike: float,
    lower_barrier: float,
    upper_barrier: float,
    expiry: dt.date | None = None,
    tenor: str | None = None,
    notional: float = 1.0,
    label: str | None = None,
) -> DoubleBarrierOption:
    """Validate a double knock-out or knock-in (lower < spot < upper); raise naming the
    field."""
    kind = _choice("option_type", OptionType, option_type)
    barriers = _choice("barrier_type", DoubleBarrierType, barrier_type)
    checks.positive("strike", strike)
    checks.near_spot("strike", strike, spot)
    _corridor(lower_barrier, upper_barrier, spot, f"double {barriers.value}")
    checks.notional("notional", notional)
    date = _expiry(valuation_date, expiry, tenor)
    return DoubleBarrierOption(
        kind,
        barriers,
        float(strike),
        float(lower_barrier),
        float(upper_barrier),
        date,
        notional=float(notional),
        label=label,
        tenor=tenor,
    )


def build_knock_in_knock_out(
    *,
    valuation_date: dt.date,
    spot: float,
    style: KnockInKnockOutStyle,
    option_type: OptionType,
    strike: float,
    knock_in_barrier: float,
    knock_out_barrier: float,
    expiry: dt.date | None = None,
    tenor: str | None = None,
    notional: float = 1.0,
    label: str | None = None,
) -> KnockInKnockOut:
    """Validate a KIKO or KOKI: the knock-in barrier on one side of spot, the knock-out on
    the other; raise naming the field."""
    kind = _choice("style", KnockInKnockOutStyle, style)
    option = _choice("option_type", OptionType, option_type)
    checks.positive("strike", strike)
    checks.near_spot("strike", strike, spot)
    checks.positive("knock_in_barrier", knock_in_barrier)
    checks.near_spot("knock_in_barrier", knock_in_barrier, spot)
    if knock_in_barrier == spot:
        raise DomainError.field(
            "knock_in_barrier", f"must be above or below spot {spot:g} (knocked in today)"
        )
    up = knock_in_barrier > spot
    where = "above" if up else "below"
    context = f"{kind.value}: knock_in_barrier {knock_in_barrier:g} is {where} spot"
    _side("knock_out_barrier", knock_out_barrier, spot, not up, context)
    checks.notional("notional", notional)
    date = _expiry(valuation_date, expiry, tenor)
    return KnockInKnockOut(
        kind,
        option,
        float(strike),
        float(knock_in_barrier),
        float(knock_out_barrier),
        date,
        notional=float(notional),
        label=label,
        tenor=tenor,
    )


def path_contracts(
    instruments: tuple[PathInstrument, ...], expiry_indices: np.ndarray
) -> PathContracts:
    """The pricing layer's arrays ``[n]`` for ``instruments`` expiring at grid
    ``expiry_indices``; unused barriers are NaN."""
    n = len(instruments)
    columns: dict[str, np.ndarray] = {
        "strikes": np.zeros(n),
        "lower_barriers": np.full(n, np.nan),
        "upper_barriers": np.full(n, np.nan),
        "cash": np.zeros(n),
    }
    is_call = np.zeros(n, dtype=bool)
    at_hit = np.zeros(n, dtype=bool)
    usd = np.zeros(n, dtype=bool)
    for i, inst in enumerate(instruments):
        if isinstance(inst, BarrierOption):
            is_call[i] = inst.option_type == OptionType.CALL
            columns["strikes"][i] = inst.strike
            side = "upper_barriers" if inst.barrier_type.up else "lower_barriers"
            columns[side][i] = inst.barrier
            columns["cash"][i], at_hit[i] = inst.rebate, inst.rebate_at_hit
            continue
        if isinstance(inst, TouchOption):
            side = "upper_barriers" if inst.direction == Direction.UP else "lower_barriers"
            columns[side][i] = inst.barrier
        else:
            columns["lower_barriers"][i] = inst.lower_barrier
            columns["upper_barriers"][i] = inst.upper_barrier
        if isinstance(inst, DoubleBarrierOption | KnockInKnockOut):
            is_call[i] = inst.option_type == OptionType.CALL
            columns["strikes"][i] = inst.strike
        else:  # touches: cash in JPY or USD
            columns["cash"][i] = inst.cash
            at_hit[i] = getattr(inst, "pay_at_hit", False)
            usd[i] = inst.payout_currency == Currency.USD
    return PathContracts(
        payoffs=np.array([int(inst.payoff) for inst in instruments], dtype=np.intp),
        is_call=is_call,
        strikes=columns["strikes"],
        lower_barriers=columns["lower_barriers"],
        upper_barriers=columns["upper_barriers"],
        cash=columns["cash"],
        pay_at_hit=at_hit,
        expiry_indices=np.asarray(expiry_indices, dtype=np.intp),
        payout_usd=usd,
    )
