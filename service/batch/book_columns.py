"""A book file's columns: one schema for every line kind, and each column read as text.

A book file (CSV or Parquet) has one line per row and one column per field of a line of
``POST /v1/price``; a line uses the columns of its kind and leaves the others empty:

=====================  ==========================================  =========================
column                 meaning                                     kinds
=====================  ==========================================  =========================
``kind``               call, put, digital_call, digital_put,       every line (required)
                       forward; barrier, one_touch, no_touch,
                       double_no_touch, double_one_touch,
                       double_barrier, kiko, koki; cds
``side``               buy (default) or sell                       every line
``notional``           > 0 (default 1): USD, JPY for JPY digitals  every line
``label``              the desk's name for the line                every line
``tag.<key>``          a tag ``key`` = the cell (one column a key)  every line
``strike``             JPY per USD, or desk terms 25D, ATM, ATMF   FX, barrier, kiko
``expiry``             a date, YYYY-MM-DD                          FX, barrier kinds
``tenor``              ON, 1W … 2Y (FX) / 6M … 30Y (CDS)           FX, barrier kinds, cds
``delivery``           a date (default: the expiry's spot date)    FX
``payout_currency``    JPY or USD                                  digitals, touches
``option_type``        call or put                                 barrier, kiko
``barrier_type``       up_and_out, down_and_in, … / knock_out …    barrier, double_barrier
``barrier``            JPY per USD                                 barrier, touches
``rebate``             JPY per USD (default 0)                     barrier
``rebate_at_hit``      true/false                                  barrier
``direction``          up or down                                  touches
``cash``               paid per unit of notional                   touches
``pay_at_hit``         true/false                                  one-touch kinds
``lower_barrier``,     JPY per USD                                 double kinds
``upper_barrier``
``knock_in_barrier``,  JPY per USD                                 kiko, koki
``knock_out_barrier``
``entity``             toyota, nissan, honda, …                    cds
``maturity``           a roll date (in place of ``tenor``)         cds
``coupon_bp``          running coupon (default: the entity's)      cds
=====================  ==========================================  =========================

A column not in this table (other than ``tag.*``) stops the run before any line is
priced: a misspelt column would otherwise be read as an empty field. Parquet columns may be
typed (numbers, dates, booleans) or text; CSV cells are read as text. A text cell is parsed
line by line (:func:`numbers`, :func:`dates`, :func:`booleans`), so one malformed cell makes
one bad line, not a failed file; an empty cell is a missing field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scenarios.errors import DomainError

TAG_PREFIX = "tag."

NUMBER_COLUMNS = (
    "notional",
    "barrier",
    "rebate",
    "cash",
    "lower_barrier",
    "upper_barrier",
    "knock_in_barrier",
    "knock_out_barrier",
    "coupon_bp",
)
DATE_COLUMNS = ("expiry", "delivery", "maturity")
BOOL_COLUMNS = ("rebate_at_hit", "pay_at_hit")
TEXT_COLUMNS = (
    "kind",
    "side",
    "label",
    "strike",  # a number or a strike in desk terms: parsed per line
    "tenor",
    "payout_currency",
    "option_type",
    "barrier_type",
    "direction",
    "entity",
)
BOOK_COLUMNS = (*TEXT_COLUMNS, *NUMBER_COLUMNS, *DATE_COLUMNS, *BOOL_COLUMNS)
"""Every column a book file may have besides ``tag.<key>``."""

FX_KINDS = frozenset({"call", "put", "digital_call", "digital_put", "forward"})

_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def check_columns(names: Sequence[str]) -> list[str]:
    """The tag keys of a book with columns ``names``; a whole-run error naming an unknown or
    repeated column, or a book without ``kind``."""
    known = set(BOOK_COLUMNS)
    seen: set[str] = set()
    tags = []
    for name in names:
        if name in seen:
            raise DomainError.field(f"book.{name}", "appears twice in the book's header")
        seen.add(name)
        if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
            tags.append(name[len(TAG_PREFIX) :])
        elif name not in known:
            raise DomainError.field(
                f"book.{name}",
                "is not a book column: the columns are "
                + ", ".join(BOOK_COLUMNS)
                + " and tag.<key> (see the README's book file schema)",
            )
    if "kind" not in seen:
        raise DomainError.field("book.kind", "is required: every line names its kind")
    return tags


@dataclass(frozen=True)
class Parsed:
    """A text column parsed: ``values`` [n] and ``bad`` [n] (present but malformed)."""

    values: np.ndarray
    present: np.ndarray
    bad: np.ndarray


def _text(column: pa.Array) -> pa.Array:
    """Text cells with empty ones as missing (CSV has no other way to say so)."""
    text = column.cast(pa.string())
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _is_text(column: pa.Array) -> bool:
    t = column.type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t))


def _absent(n: int, values: np.ndarray) -> Parsed:
    return Parsed(values, np.zeros(n, bool), np.zeros(n, bool))


def numbers(column: pa.Array | None, n: int) -> Parsed:
    """Numbers as float64 (NaN where missing or malformed): a numeric column as it is, a text
    one parsed as decimals (Arrow's parser: the double nearest the text, as Python's)."""
    if column is None:
        return _absent(n, np.full(n, np.nan))
    if not _is_text(column):
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            return numbers(_text(column), n)
        present = column.is_valid().to_numpy(zero_copy_only=False)
        values = pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        return Parsed(values, present, np.zeros(n, bool))
    text = _text(column)
    present = text.is_valid().to_numpy(zero_copy_only=False)
    ok = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    cleaned = pc.utf8_trim_whitespace(pc.if_else(ok, text, pa.scalar(None, pa.string())))
    values = pc.fill_null(cleaned.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
    okn = ok.to_numpy(zero_copy_only=False)
    return Parsed(values, present, present & ~okn)


def dates(column: pa.Array | None, n: int) -> Parsed:
    """Dates as days since 1970-01-01 (int64; 0 where missing or malformed): a date or
    timestamp column as it is, a text one parsed as YYYY-MM-DD."""
    if column is None:
        return _absent(n, np.zeros(n, np.int64))
    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        days = column.cast(pa.date32())
        present = days.is_valid().to_numpy(zero_copy_only=False)
        values = pc.fill_null(days.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
        return Parsed(values.astype(np.int64), present, np.zeros(n, bool))
    text = _text(column)
    present = text.is_valid().to_numpy(zero_copy_only=False)
    shaped = pc.fill_null(pc.match_substring_regex(text, _DATE), False)
    stamps = pc.strptime(
        pc.if_else(shaped, text, pa.scalar(None, pa.string())),
        format="%Y-%m-%d",
        unit="s",
        error_is_null=True,
    )
    days = pc.cast(stamps, pa.date32())
    ok = days.is_valid().to_numpy(zero_copy_only=False)
    values = pc.fill_null(days.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
    return Parsed(values.astype(np.int64), present, present & ~ok)


def booleans(column: pa.Array | None, n: int) -> Parsed:
    """Booleans: a boolean column as it is; text true/false (also 1/0, yes/no, any case)."""
    if column is None:
        return _absent(n, np.zeros(n, bool))
    if pa.types.is_boolean(column.type):
        present = column.is_valid().to_numpy(zero_copy_only=False)
        values = pc.fill_null(column, False).to_numpy(zero_copy_only=False)
        return Parsed(values, present, np.zeros(n, bool))
    lower = pc.utf8_lower(pc.utf8_trim_whitespace(_text(column)))
    true = pc.fill_null(pc.is_in(lower, pa.array(_TRUE)), False).to_numpy(zero_copy_only=False)
    false = pc.fill_null(pc.is_in(lower, pa.array(_FALSE)), False).to_numpy(zero_copy_only=False)
    present = lower.is_valid().to_numpy(zero_copy_only=False)
    return Parsed(true, present, present & ~(true | false))


def text(column: pa.Array | None, n: int) -> pa.Array:
    """A column as text cells (null where missing or empty)."""
    if column is None:
        return pa.nulls(n, pa.string())
    if pa.types.is_floating(column.type):  # a number written where text may be (strike)
        return _text(pa.array([None if v is None else repr(v) for v in column.to_pylist()]))
    return _text(column)
