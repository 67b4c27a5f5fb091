"""Positions: which side of a line the book holds, and the tags it is grouped by.

One convention for every kind of line (FX options, digitals, forwards, barriers, touches,
CDS): ``side`` is ``buy`` (long: the holder of the contract; for a CDS, the protection buyer)
or ``sell`` (short), and ``notional`` is always positive. A line's *price* is per unit of
notional and unsigned — what the contract is worth to its buyer. Everything the book holds
carries the sign: ``value = sign × price × notional``, the position's Greeks, its value in
each scenario and its scenario P&L, with ``sign = +1`` for ``buy`` and ``−1`` for ``sell``.
A sold line is exactly minus the bought one (the sign is a multiplication by ±1.0, exact in
floating point).
"""

from __future__ import annotations

from enum import StrEnum

MAX_TAGS = 16  # per line
MAX_TAG_CHARS = 100  # per tag value
TAG_KEY_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


class Side(StrEnum):
    BUY = "buy"  # long the line; a CDS: buy protection (pay the coupon, receive 1 − R)
    SELL = "sell"

    @property
    def sign(self) -> float:
        """+1.0 for buy, −1.0 for sell: what values, Greeks and P&L are multiplied by."""
        return 1.0 if self is Side.BUY else -1.0
