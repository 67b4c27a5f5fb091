"""The FX European lines of a chunk, read and checked as columns: the fast path of a batch run.

Most of a desk's book is calls, puts, digitals and forwards with a strike in JPY: a batch
run reads them here as arrays, without a Python object per line, and values them with the
same compiled kernel ``POST /v1/price`` uses (:func:`pricing.fx.book.value_fx_options`) on
the same inputs, so every figure is the one the API gives for that line, bit for bit.

A line takes this path only when it is *clean*: every check :func:`build_fx_option` and the
request schema make passes, worked out per distinct tenor and date (a book has a few
hundred). Any other line — another kind, a strike in desk terms, a missing or malformed
field, a field its kind does not take — goes to the line-by-line path
(:mod:`service.batch.chunk`), which prices it, or names its field and reason, exactly as
``POST /v1/price`` would.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pricing.fx.black import Payoff
from scenarios import checks
from scenarios.dates import expiry_delivery, tenor_dates
from scenarios.errors import DomainError
from scenarios.positions import MAX_TAG_CHARS
from service.batch import book_columns as bc

_EPOCH = dt.date(1970, 1, 1)
_FX_KINDS = ("call", "put", "digital_call", "digital_put", "forward")
_CURRENCIES = ("JPY", "USD")
# payoff by (kind code, payout code + 1): non-digitals take no currency (code -1 → column 0)
_PAYOFF = np.full((5, 3), -1, dtype=np.int64)
_PAYOFF[0, 0], _PAYOFF[1, 0], _PAYOFF[4, 0] = Payoff.CALL, Payoff.PUT, Payoff.FORWARD
_PAYOFF[2, 1], _PAYOFF[2, 2] = Payoff.DIGITAL_CALL_JPY, Payoff.DIGITAL_CALL_USD
_PAYOFF[3, 1], _PAYOFF[3, 2] = Payoff.DIGITAL_PUT_JPY, Payoff.DIGITAL_PUT_USD
# the columns an FX line may fill; any other one filled sends it down the line-by-line path
_FX_FIELDS = frozenset(
    {"kind", "side", "notional", "label", "strike", "expiry", "tenor", "delivery"}
    | {"payout_currency"}
)


@dataclass(frozen=True)
class FxColumns:
    """The chunk's FX candidates, parsed once (independent of the market).

    ``candidate`` [n]: an FX kind, every field well formed and none foreign to its kind;
    the other arrays are read only where it holds.
    """

    candidate: np.ndarray
    kind: np.ndarray  # index into _FX_KINDS
    payoff: np.ndarray  # pricing.fx.black.Payoff codes
    strike: np.ndarray
    notional: np.ndarray
    sell: np.ndarray
    jpy_paid: np.ndarray
    expiry: bc.Parsed
    delivery: bc.Parsed
    tenor: pa.Array


def read_fx_columns(columns: dict[str, pa.Array], n: int) -> FxColumns:
    """Parse the FX fields of a chunk's ``columns`` (name → Arrow array, ``n`` rows)."""
    kind = pc.fill_null(pc.index_in(bc.text(columns.get("kind"), n), pa.array(_FX_KINDS)), -1)
    kind_code = kind.to_numpy(zero_copy_only=False).astype(np.int64)
    candidate = kind_code >= 0
    side = bc.text(columns.get("side"), n)
    sell = pc.fill_null(pc.equal(side, "sell"), False).to_numpy(zero_copy_only=False)
    buy = pc.fill_null(pc.equal(side, "buy"), False).to_numpy(zero_copy_only=False)
    candidate &= sell | buy | ~side.is_valid().to_numpy(zero_copy_only=False)
    strike = bc.numbers(columns.get("strike"), n)
    candidate &= strike.present & ~strike.bad & (strike.values > 0.0) & np.isfinite(strike.values)
    notional = bc.numbers(columns.get("notional"), n)
    candidate &= ~notional.bad
    notionals = np.where(notional.present, notional.values, 1.0)
    candidate &= (notionals > 0.0) & (notionals <= checks.MAX_NOTIONAL)
    payout = bc.text(columns.get("payout_currency"), n)
    payout_code = pc.fill_null(pc.index_in(payout, pa.array(_CURRENCIES)), -1)
    payout_code = payout_code.to_numpy(zero_copy_only=False).astype(np.int64)
    candidate &= (payout_code >= 0) | ~payout.is_valid().to_numpy(zero_copy_only=False)
    payoff = _PAYOFF[np.maximum(kind_code, 0), payout_code + 1]
    candidate &= payoff >= 0  # a digital without its currency, or another kind with one
    label = bc.text(columns.get("label"), n)
    long_label = pc.fill_null(pc.greater(pc.utf8_length(label), 200), False)
    candidate &= ~long_label.to_numpy(zero_copy_only=False)
    for name, column in columns.items():
        if name.startswith(bc.TAG_PREFIX):
            long = pc.fill_null(
                pc.greater(pc.utf8_length(bc.text(column, n)), MAX_TAG_CHARS), False
            )
            candidate &= ~long.to_numpy(zero_copy_only=False)
        elif name not in _FX_FIELDS:
            candidate &= ~bc.text(column, n).is_valid().to_numpy(zero_copy_only=False)
    expiry = bc.dates(columns.get("expiry"), n)
    delivery = bc.dates(columns.get("delivery"), n)
    tenor = bc.text(columns.get("tenor"), n)
    has_tenor = tenor.is_valid().to_numpy(zero_copy_only=False)
    candidate &= ~expiry.bad & ~delivery.bad & (expiry.present != has_tenor)
    return FxColumns(
        candidate=candidate,
        kind=kind_code,
        payoff=payoff,
        strike=strike.values,
        notional=notionals,
        sell=sell,
        jpy_paid=payout_code == 0,
        expiry=expiry,
        delivery=delivery,
        tenor=tenor,
    )


@dataclass(frozen=True)
class FxDates:
    """Expiry and delivery (days since 1970-01-01) of each candidate as of one valuation
    date, and ``ok``: the dates pass every check of :func:`build_fx_option`."""

    expiry: np.ndarray
    delivery: np.ndarray
    ok: np.ndarray


def fx_dates(fx: FxColumns, valuation_date: dt.date) -> FxDates:
    """Resolve tenors and default deliveries per distinct value, then check every line."""
    today = (valuation_date - _EPOCH).days
    limit = _days(checks._years_after(valuation_date, checks.MAX_EXPIRY_YEARS))
    expiry = np.where(fx.expiry.present, fx.expiry.values, 0)
    delivery = np.where(fx.delivery.present, fx.delivery.values, 0)
    ok = fx.candidate.copy()
    has_tenor = fx.tenor.is_valid().to_numpy(zero_copy_only=False)
    if has_tenor.any():
        encoded = pc.dictionary_encode(fx.tenor)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        resolved = np.zeros((len(encoded.dictionary), 3), dtype=np.int64)  # ok, expiry, rule
        for j, tenor in enumerate(encoded.dictionary.to_pylist()):
            try:
                e, d = tenor_dates("tenor", valuation_date, tenor)
            except DomainError:
                continue
            resolved[j] = (1, _days(e), _days(d))
        at = np.maximum(codes, 0)
        ok &= ~has_tenor | (resolved[at, 0] == 1)
        expiry = np.where(has_tenor, resolved[at, 1], expiry)
        delivery = np.where(has_tenor & ~fx.delivery.present, resolved[at, 2], delivery)
    dated = ~has_tenor & ~fx.delivery.present & ok
    if dated.any():  # the expiry's spot date, per distinct expiry
        days, inverse = np.unique(expiry[dated], return_inverse=True)
        spot_dates = np.zeros(days.shape[0], dtype=np.int64)
        for j, d in enumerate(days.tolist()):
            try:
                spot_dates[j] = _days(expiry_delivery(_EPOCH + dt.timedelta(days=d)))
            except (DomainError, OverflowError):
                spot_dates[j] = -1
        delivery[dated] = spot_dates[inverse]
    first, last = _days(checks.FIRST_DATE), _days(checks.LAST_DATE)
    ok &= (expiry > today) & (expiry <= limit) & (delivery >= expiry) & (delivery <= limit)
    ok &= (expiry >= first) & (delivery <= last)
    return FxDates(expiry, delivery, ok)


def _days(date: dt.date) -> int:
    return (date - _EPOCH).days


def near_spot(strike: np.ndarray, spot: float) -> np.ndarray:
    """[n] True where a strike is within the factor of spot the kernel takes."""
    return (spot / checks.SPOT_FACTOR <= strike) & (strike <= spot * checks.SPOT_FACTOR)


def day_dates(days: np.ndarray) -> pa.Array:
    """Days since 1970-01-01 as an Arrow date32 column."""
    return pa.array(days.astype(np.int32), type=pa.date32())
