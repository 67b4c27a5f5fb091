"""A batch run's results file: one row per priced line, the same columns for every kind.

Columns (the units of ``POST /v1/price``'s results; a field a kind does not have is null):

* ``row`` — the line's position in the book (0 = the first line after the header);
  ``label``, ``kind``, ``side``, ``notional``, ``tag.<key>`` as in the book;
  ``currency`` — of ``price`` and ``value`` (JPY; USD for CDS).
* ``strike`` (JPY per USD, resolved when given in desk terms), ``strike_spec``,
  ``strike_delta_convention`` and ``strike_vol`` (how a desk-terms strike was read), ``expiry``,
  ``delivery``, ``tenor``, ``payout_currency``, ``after_event``, ``forward``.
* ``price`` — per unit of notional, unsigned; ``value`` = ±price × notional (sell: −);
  ``standard_error`` of a Monte Carlo price (0 for closed forms).
* ``delta`` … ``rho_usd`` — per unit of notional, per 1.00 (vanillas, digitals, forwards);
  ``position.<greek>`` — the position's desk Greeks (delta_usd, … rho_usd_per_bp).
* ``implied_vol``, ``implied_vol_status`` — the mixture price's Black vol (vanillas).
* ``entity``, ``maturity``, ``coupon_bp``, ``cds.<figure>`` (par_spread_bp, clean_upfront,
  dirty_upfront, accrued, risky_pv01, jump_to_default: the mixture's, as ``POST /v1/price``
  reports under ``mixture``) for CDS lines; ``method`` (closed_form, monte_carlo) and
  ``monitoring`` for barrier and touch lines (their Monte Carlo settings are the run's, in
  the totals file).
* ``scenario_price.<scenario>`` — the price if that scenario happens (= ∂price/∂q);
  ``scenario_value.<scenario>`` — ±that × notional (the line's column of the book's
  scenario matrix); ``dprice_dlevel.<level>`` — ∂price/∂L per JPY of each post-event level
  (a tree's branches), FX European lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from scenarios.book_totals import DESK_GREEKS

GREEKS = ("delta", "delta_premium_adjusted", "gamma", "vega", "theta", "rho_jpy", "rho_usd")
CDS_FIGURES = (
    "par_spread_bp",
    "clean_upfront",
    "dirty_upfront",
    "accrued",
    "risky_pv01",
    "jump_to_default",
)

_F = pa.float64()
_S = pa.string()
_D = pa.date32()
_FIXED: tuple[tuple[str, pa.DataType], ...] = (
    ("row", pa.int64()),
    ("label", _S),
    ("kind", _S),
    ("side", _S),
    ("notional", _F),
    ("currency", _S),
    ("strike", _F),
    ("strike_spec", _S),
    ("strike_delta_convention", _S),
    ("strike_vol", _F),
    ("expiry", _D),
    ("delivery", _D),
    ("tenor", _S),
    ("payout_currency", _S),
    ("after_event", pa.bool_()),
    ("forward", _F),
    ("price", _F),
    ("value", _F),
    ("standard_error", _F),
    *((g, _F) for g in GREEKS),
    *((f"position.{g}", _F) for g in DESK_GREEKS),
    ("implied_vol", _F),
    ("implied_vol_status", _S),
    ("entity", _S),
    ("maturity", _D),
    ("coupon_bp", _F),
    *((f"cds.{f}", _F) for f in CDS_FIGURES),
    ("method", _S),
    ("monitoring", _S),
)


def results_schema(
    scenarios: Sequence[str], levels: Sequence[str], tag_keys: Sequence[str]
) -> pa.Schema:
    """The results file's columns for a run with these scenario, level and tag names."""
    fields = [pa.field(name, t) for name, t in _FIXED]
    fields += [pa.field(f"scenario_price.{s}", _F) for s in scenarios]
    fields += [pa.field(f"scenario_value.{s}", _F) for s in scenarios]
    fields += [pa.field(f"dprice_dlevel.{lv}", _F) for lv in levels]
    fields += [pa.field(f"tag.{k}", _S) for k in tag_keys]
    return pa.schema(fields)


def table_of(schema: pa.Schema, columns: dict[str, Any], n: int) -> pa.Table:
    """A table of ``n`` rows in ``schema``: each column from ``columns`` (a numpy array, an
    Arrow array or a list; None values null), absent ones all null."""
    arrays = []
    for f in schema:
        given = columns.get(f.name)
        if given is None:
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(given, pa.Array | pa.ChunkedArray):
            arrays.append(given.cast(f.type))
        elif isinstance(given, np.ndarray) and given.dtype != object:
            arrays.append(pa.array(given, type=f.type))
        else:
            arrays.append(pa.array(list(given), type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def flatten_result(result: dict[str, Any], row: int) -> dict[str, Any]:
    """One line of ``POST /v1/price``'s ``results`` as the results file's columns."""
    out: dict[str, Any] = {"row": row}
    for key, value in result.items():
        if key == "greeks":
            out.update(value)
        elif key == "position":
            out.update({f"position.{g}": v for g, v in value.items()})
        elif key == "scenario_prices":
            out.update({f"scenario_price.{s}": v for s, v in value.items()})
        elif key == "dprice_dlevel":
            out.update({f"dprice_dlevel.{lv}": v for lv, v in value.items()})
        elif key == "tags":
            out.update({f"tag.{k}": v for k, v in value.items()})
        elif key == "mixture" and result.get("kind") == "cds":
            out.update({f"cds.{f}": value[f] for f in CDS_FIGURES})
        elif not isinstance(value, dict | list):
            out[key] = value
    return out


def rows_table(schema: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
    """A table in ``schema`` from flattened result rows (missing keys null)."""
    columns: dict[str, Any] = {}
    for f in schema:
        values = [r.get(f.name) for r in rows]
        if pa.types.is_date(f.type):  # the API's ISO dates
            values = [None if v is None else dt.date.fromisoformat(v) for v in values]
        columns[f.name] = values
    return table_of(schema, columns, len(rows))
