"""FX instruments the foundation prices: vanillas, cash-or-nothing digitals, forwards.

An instrument's expiry is a date or a tenor (``ON``, ``1W`` … ``2Y``, resolved by the USD/JPY
date rules of :mod:`scenarios.dates`). Delivery defaults to the USD/JPY spot date of the
expiry for a dated expiry (T+2 on the New York/Tokyo calendar,
:func:`scenarios.dates.expiry_delivery`) and to the FX rule for a tenor; a given delivery
wins, on or after the expiry. Vanillas and forwards settle, and digitals pay, on the
delivery. Premiums are JPY per unit of notional: per USD for vanillas, forwards and digitals
paying USD; per JPY of payout for digitals paying JPY (a discounted probability).
``notional`` scales ``value`` only.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum

from pricing.fx.black import Payoff
from scenarios import checks
from scenarios.dates import expiry_delivery, tenor_dates
from scenarios.errors import DomainError


class OptionKind(StrEnum):
    CALL = "call"
    PUT = "put"
    DIGITAL_CALL = "digital_call"
    DIGITAL_PUT = "digital_put"
    FORWARD = "forward"


class Currency(StrEnum):
    JPY = "JPY"
    USD = "USD"


_PAYOFFS = {
    (OptionKind.CALL, None): Payoff.CALL,
    (OptionKind.PUT, None): Payoff.PUT,
    (OptionKind.FORWARD, None): Payoff.FORWARD,
    (OptionKind.DIGITAL_CALL, Currency.JPY): Payoff.DIGITAL_CALL_JPY,
    (OptionKind.DIGITAL_PUT, Currency.JPY): Payoff.DIGITAL_PUT_JPY,
    (OptionKind.DIGITAL_CALL, Currency.USD): Payoff.DIGITAL_CALL_USD,
    (OptionKind.DIGITAL_PUT, Currency.USD): Payoff.DIGITAL_PUT_USD,
}


@dataclass(frozen=True)
class FxOption:
    """A European USD/JPY payoff, resolved to dates against a valuation date.

    Attributes:
        kind: call/put (on USD, struck in JPY per USD), digital call/put, or forward.
        strike: JPY per USD.
        expiry: the date the option is decided (vol time).
        delivery: the date the payoff settles (discounting and forward time).
        payout_currency: for digitals, the currency of the fixed payout; None otherwise.
        notional: units of notional (USD, or JPY for JPY digitals).
        label: the client's name for the line, echoed back.
        tenor: the tenor it was given as, if any.
    """

    kind: OptionKind
    strike: float
    expiry: dt.date
    delivery: dt.date
    payout_currency: Currency | None = None
    notional: float = 1.0
    label: str | None = None
    tenor: str | None = None

    @property
    def payoff(self) -> Payoff:
        return _PAYOFFS[(self.kind, self.payout_currency)]


def build_fx_option(
    *,
    valuation_date: dt.date,
    kind: OptionKind,
    strike: float,
    expiry: dt.date | None = None,
    tenor: str | None = None,
    delivery: dt.date | None = None,
    payout_currency: Currency | None = None,
    notional: float = 1.0,
    label: str | None = None,
) -> FxOption:
    """Validate one instrument and resolve its dates; raise naming the field."""
    checks.positive("strike", strike)
    checks.notional("notional", notional)
    if not math.isfinite(strike):
        raise DomainError.field("strike", f"must be finite, got {strike!r}")
    is_digital = kind in (OptionKind.DIGITAL_CALL, OptionKind.DIGITAL_PUT)
    if is_digital and payout_currency is None:
        raise DomainError.field("payout_currency", "is required for a digital: JPY or USD")
    if not is_digital and payout_currency is not None:
        raise DomainError.field(
            "payout_currency", f"applies to digitals only, not to a {kind.value}"
        )
    if (expiry is None) == (tenor is None):
        raise DomainError.field("expiry", "give exactly one of expiry (a date) or tenor")
    if tenor is not None:
        expiry, rule_delivery = tenor_dates("tenor", valuation_date, tenor)
        delivery = delivery or rule_delivery
    assert expiry is not None
    if expiry <= valuation_date:
        raise DomainError.field(
            "expiry" if tenor is None else "tenor",
            f"must be after the valuation date {valuation_date.isoformat()}, "
            f"got {expiry.isoformat()}",
        )
    checks.within_horizon("expiry" if tenor is None else "tenor", valuation_date, expiry)
    # an implied delivery past the horizon is the expiry's fault
    delivery_field = "delivery" if delivery is not None else "expiry"
    delivery = delivery or expiry_delivery(expiry, delivery_field)
    checks.within_horizon(delivery_field, valuation_date, delivery)
    if delivery < expiry:
        raise DomainError.field(
            "delivery",
            f"must be on or after the expiry {expiry.isoformat()}, got {delivery.isoformat()}",
        )
    return FxOption(kind, float(strike), expiry, delivery, payout_currency, notional, label, tenor)
