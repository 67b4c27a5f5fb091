"""Building blocks shared by the schemas: strict types, dates, domain-error prefixing.

Every schema is strict (:class:`Schema`): a JSON string is not a number (``"150"`` for a
strike is refused), a bool is not a number (``false`` for a weight), a number is not a bool,
and an integer field takes no fraction (``1.5`` paths). An integer is a fine float (``150``
for a strike). FastAPI validates the parsed body in pydantic's Python mode, where strict also
refuses an ISO date string and an enum's value; so dates are :data:`Date` (an ISO
``YYYY-MM-DD`` string, between 1901-01-01 and 2199-12-31 as
:func:`scenarios.checks.in_calendar` requires) and choices :data:`Choice` (the enum's
value), which read the same in either mode.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from scenarios.checks import FIRST_DATE, LAST_DATE
from scenarios.errors import DomainError
from scenarios.positions import MAX_TAG_CHARS, MAX_TAGS, TAG_KEY_PATTERN, Side

T = TypeVar("T")

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_RANGE = f"must be between {FIRST_DATE.isoformat()} and {LAST_DATE.isoformat()}"


def _iso_date(value: Any) -> Any:
    """An ISO date string (or a date) passes on to pydantic's date parsing; anything else —
    a number, which lax parsing reads as Unix seconds, ``"20250912"`` — is refused."""
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")


def _in_calendar(value: dt.date) -> dt.date:
    if FIRST_DATE <= value <= LAST_DATE:
        return value
    raise PydanticCustomError("date_range", _DATE_RANGE)


Date = Annotated[
    dt.date, BeforeValidator(_iso_date), Field(strict=False), AfterValidator(_in_calendar)
]
"""A calendar date in a request: ``"2025-09-12"``, from 1901-01-01 to 2199-12-31."""

Choice = Annotated[T, Field(strict=False)]
"""One of an enum's values: ``Choice[OptionKind]`` takes ``"call"``."""


class Schema(BaseModel):
    """Base of every schema: unknown fields are errors, types are strict, numbers finite."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def join(prefix: str, name: str) -> str:
    """``market`` + ``spot`` → ``market.spot``; ``""`` + ``spot`` → ``spot`` (a stored
    document's own fields); an index (``[2]``) joins without a dot."""
    if not prefix:
        return name
    return f"{prefix}{name}" if name.startswith("[") else f"{prefix}.{name}"


def under(prefix: str, build: Callable[[], T]) -> T:
    """Run a domain constructor, re-raising its errors with field paths under ``prefix``."""
    try:
        return build()
    except DomainError as exc:
        raise exc.prefixed(prefix) from None


TagKey = Annotated[str, StringConstraints(pattern=TAG_KEY_PATTERN)]
TagValue = Annotated[str, StringConstraints(max_length=MAX_TAG_CHARS)]
Tags = Annotated[
    dict[TagKey, TagValue],
    Field(
        max_length=MAX_TAGS,
        description=f"Free labels to group lines by (`group_by`), e.g. "
        f'{{"desk": "g10", "trader": "x"}}: at most {MAX_TAGS}, keys of letters, digits, '
        f"'_', '.', '-' (1–64), values of at most {MAX_TAG_CHARS} characters.",
        examples=[{"desk": "g10", "trader": "x"}],
    ),
]


class PositionFields(Schema):
    """What every line of a book carries besides its contract: side and tags."""

    side: Choice[Side] = Field(
        default=Side.BUY,
        description="buy (long; for a CDS, buy protection) or sell (short). Value, position "
        "Greeks, scenario values and P&L carry the sign; the price per unit does not.",
    )
    tags: Tags = Field(default_factory=dict)

    def contract_fields(self, *exclude: str) -> dict[str, Any]:
        """The contract's own fields for its domain builder: the position's (side, tags),
        ``kind`` and ``exclude`` left out."""
        return self.model_dump(exclude={"kind", "side", "tags", *exclude})
