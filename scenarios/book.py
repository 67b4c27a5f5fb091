"""A mixed book — FX options, path-dependent FX options and CDS — under one scenario set.

The one call ``/v1/price`` makes. Each family is valued by its own module
(:mod:`scenarios.fx.valuation`, :mod:`scenarios.paths.valuation`, :mod:`scenarios.credit.valuation`)
with the same pricing measure,
and the rows come back in request order so the service can build the scenario × instrument
matrix. Errors found while valuing a family name the request's ``instruments[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricing.mixture.measure import Measure
from scenarios.credit.curves import CreditMarket, ScenarioCredit
from scenarios.credit.valuation import CdsBookValuation, CdsContract, value_cds_book
from scenarios.errors import DomainError
from scenarios.fx.instruments import FxOption
from scenarios.fx.valuation import BookValuation, value_book
from scenarios.market import MarketSnapshot
from scenarios.paths.instruments import PathInstrument
from scenarios.paths.simulation import PathLimits, PathMeasure, SimulationSettings
from scenarios.paths.valuation import PathBookValuation, value_path_book
from scenarios.scenario import ScenarioSet


@dataclass(slots=True)  # built per request and read only: slots build ~4× faster than frozen
class MixedBook:
    """Instruments by family, with each one's position in the request (``rows``).

    ``signs`` [N] in request order: +1 bought, −1 sold (:mod:`scenarios.positions`); a CDS
    contract carries its own side, which its valuation applies.
    """

    options: tuple[FxOption, ...] = ()
    option_rows: tuple[int, ...] = ()
    cds: tuple[CdsContract, ...] = ()
    cds_rows: tuple[int, ...] = ()
    credit: CreditMarket | None = None
    scenario_credit: ScenarioCredit | None = None
    paths: tuple[PathInstrument, ...] = ()
    path_rows: tuple[int, ...] = ()
    path_settings: SimulationSettings = SimulationSettings()  # noqa: RUF009 (frozen)
    path_measure: PathMeasure = PathMeasure.RISK_NEUTRAL
    path_limits: PathLimits = PathLimits()  # noqa: RUF009 (frozen)
    signs: np.ndarray | None = None  # None: every line bought

    @property
    def size(self) -> int:
        return len(self.option_rows) + len(self.cds_rows) + len(self.path_rows)


@dataclass(slots=True)  # a fresh result (see pricing.mixture.european.MixtureResult)
class MixedValuation:
    """Per-family valuations and the book's scenario matrix in request order.

    ``scenario_values`` [N, m] is ±value × notional if each scenario happens and ``values``
    [N] today's mixture value (signed by side: :mod:`scenarios.positions`), each in the
    instrument's own currency (``currencies``). The families' own figures stay per unit and
    unsigned.
    """

    fx: BookValuation | None
    cds: CdsBookValuation | None
    paths: PathBookValuation | None
    scenario_values: np.ndarray
    values: np.ndarray
    currencies: tuple[str, ...]


def value_mixed_book(
    *, market: MarketSnapshot, scenario_set: ScenarioSet, book: MixedBook, measure: Measure
) -> MixedValuation:
    """Value every family of ``book`` under ``scenario_set`` on ``market`` with ``measure``."""
    m = len(scenario_set.scenarios)
    fx: BookValuation | None
    cds: CdsBookValuation | None
    paths: PathBookValuation | None
    if not book.cds and not book.paths and book.options:  # FX only, in request order
        try:
            fx = value_book(
                market=market, scenario_set=scenario_set, options=book.options, measure=measure
            )
        except DomainError as exc:
            raise exc.renumbered("instruments", book.option_rows) from None
        # No overflow to check: every figure per unit is finite (value_book refuses others)
        # and below ~1e17 — a scenario's forward is at most 1e6 (spot) × 1e6 (a jump under
        # 'scale') × e^10 (rates ≤ 100% over ≤ 10 years) — so × notional ≤ 1e15 stays far
        # below _MAX_VALUE.
        notionals = np.array([o.notional for o in book.options])
        if book.signs is not None:
            notionals = notionals * book.signs  # ±1.0: exact, a sold line is minus a bought
        scenario_values = fx.greeks.scenario_values * notionals[:, None]
        values = fx.greeks.price * notionals
        return MixedValuation(fx, None, None, scenario_values, values, ("JPY",) * book.size)
    scenario_values = np.zeros((book.size, m))
    values = np.zeros(book.size)
    currencies = [""] * book.size
    fx = cds = paths = None
    if book.options:
        fx = _value_fx(market, scenario_set, book, measure)
        rows = list(book.option_rows)
        notionals = np.array([o.notional for o in book.options]) * _signs(book, rows)
        with np.errstate(over="ignore"):  # an overflow is refused below, by name
            scenario_values[rows] = fx.greeks.scenario_values * notionals[:, None]
            values[rows] = fx.greeks.price * notionals
        for r in rows:
            currencies[r] = "JPY"
    if book.cds:
        if book.credit is None:
            raise DomainError.field("credit", "is required to price CDS contracts")
        try:
            cds = value_cds_book(
                market=market,
                scenario_set=scenario_set,
                credit=book.credit,
                contracts=book.cds,
                measure=measure,
                scenario_credit=book.scenario_credit,
            )
        except DomainError as exc:
            raise exc.renumbered("contracts", book.cds_rows) from None
        rows = list(book.cds_rows)
        scenario_values[rows] = cds.scenario_values
        values[rows] = cds.mixture_values
        for r, contract in zip(rows, book.cds, strict=True):
            currencies[r] = contract.currency
    if book.paths:
        try:
            paths = value_path_book(
                market=market,
                scenario_set=scenario_set,
                contracts=book.paths,
                measure=book.path_measure,
                settings=book.path_settings,
                adjustment=measure,
                limits=book.path_limits,
                settings_path="paths",
            )
        except DomainError as exc:
            raise exc.renumbered("instruments", book.path_rows) from None
        rows = list(book.path_rows)
        signs = _signs(book, rows)
        # NaN marks a scenario no simulated path fell in; the service shows it as null
        scenario_values[rows] = paths.scenario_values * signs[:, None]
        values[rows] = paths.values * signs
        for r in rows:
            currencies[r] = "JPY"
    _check_magnitude(values, scenario_values)
    return MixedValuation(fx, cds, paths, scenario_values, values, tuple(currencies))


def _signs(book: MixedBook, rows: list[int]) -> np.ndarray:
    return np.ones(len(rows)) if book.signs is None else book.signs[rows]


def _value_fx(
    market: MarketSnapshot, scenario_set: ScenarioSet, book: MixedBook, measure: Measure
) -> BookValuation:
    try:
        return value_book(
            market=market, scenario_set=scenario_set, options=book.options, measure=measure
        )
    except DomainError as exc:
        raise exc.renumbered("instruments", book.option_rows) from None


_MAX_VALUE = 1e300  # values and their differences (the P&L matrix) stay finite below this


def _check_magnitude(values: np.ndarray, scenario_values: np.ndarray) -> None:
    """Refuse a line whose value (price × notional) leaves double precision.

    NaN in ``scenario_values`` is a path scenario no simulated path reached (shown as null).
    """
    # NaN compares False: only a finite figure beyond the bound, or ±inf, is flagged
    bad = ~(np.abs(values) <= _MAX_VALUE) | (np.abs(scenario_values) > _MAX_VALUE).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DomainError.field(
            f"instruments[{i}]",
            "its value (price × notional) is beyond 1e300 and cannot be reported in double "
            "precision: lower the notional or bring the strike nearer the market",
        )
