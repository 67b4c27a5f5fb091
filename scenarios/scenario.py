"""Scenarios of the decision and the set they form around one event date.

A scenario is a named outcome with a subjective probability ``p`` (real-world, the
analyst's), the USD/JPY level ``L`` expected just after the decision (JPY per USD) and the
post-event vol. The jump ratio ``J = L / S0`` is applied multiplicatively to wherever spot
is at the event (DESIGN.md), so the scenario's forward for a later expiry is ``F(T)·J``.
Optional ``drivers`` are the outcome's policy levels in percent (``auto_tariff_pct``,
``reciprocal_tariff_pct``); :mod:`scenarios.credit.curves` maps them to CDS spreads. An optional
``smile`` (:class:`scenarios.vol.smiles.ScenarioSmile`) gives the post-event vols a smile; without
one the post-event vol is ``vol`` at every strike.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from scenarios import checks
from scenarios.dates import year_fraction
from scenarios.errors import DomainError, FieldError
from scenarios.read_only import read_only
from scenarios.tree import LEAF_SEPARATOR, Branch, DecisionNode, DecisionTree
from scenarios.vol.smiles import ScenarioSmile

PROBABILITY_TOLERANCE = checks.PROBABILITY_TOLERANCE
MAX_SCENARIOS = 64
MAX_DRIVERS = 16
_DRIVER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Scenario:
    """One outcome: ``probability`` in [0, 1], ``level`` JPY per USD, ``vol`` annualised."""

    name: str
    probability: float
    level: float
    vol: float
    description: str = ""
    drivers: Mapping[str, float] = field(default_factory=dict, hash=False)
    smile: ScenarioSmile | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DomainError.field("name", f"must be a non-empty string, got {self.name!r}")
        checks.in_range("probability", self.probability, 0.0, 1.0)
        checks.positive("level", self.level)
        checks.in_range("vol", self.vol, 1e-4, 5.0, " (a decimal, 0.10 = 10%)")
        object.__setattr__(self, "drivers", _drivers(self.drivers))


def _drivers(drivers: Mapping[str, float]) -> Mapping[str, float]:
    """Driver levels (percent): snake_case names, finite values ≥ 0; read-only."""
    if not isinstance(drivers, Mapping) or len(drivers) > MAX_DRIVERS:
        raise DomainError.field("drivers", f"must map at most {MAX_DRIVERS} names to levels")
    for name, level in drivers.items():
        if not isinstance(name, str) or not _DRIVER_NAME.match(name):
            raise DomainError.field(
                "drivers", f"names must be snake_case such as auto_tariff_pct, got {name!r}"
            )
        if checks.finite(f"drivers.{name}", level) < 0.0:
            raise DomainError.field(f"drivers.{name}", f"must be >= 0, got {level!r}")
    return read_only({name: float(level) for name, level in drivers.items()})


@dataclass(frozen=True)
class ScenarioSet:
    """Scenarios around one decision on ``event_date``; probabilities sum to 1.

    A set may be a tree of dated decisions (:mod:`scenarios.tree`): ``tree`` then holds the
    decisions, ``event_date`` is the first decision's date and ``scenarios`` are the tree's
    leaves, built by :func:`tree_scenario_set` for the spot ``tree_spot``
    (a leaf's level is ``S0·Π J`` along its path, so it depends on the spot the branches'
    levels are read against). A flat set is a one-node tree (``tree`` None).
    """

    id: str
    name: str
    event_date: dt.date
    scenarios: tuple[Scenario, ...]
    description: str = ""
    tree: DecisionTree | None = None
    tree_spot: float | None = None

    def __post_init__(self) -> None:
        if not self.scenarios:
            raise DomainError.field("scenarios", "must hold at least one scenario")
        if len(self.scenarios) > MAX_SCENARIOS:
            raise DomainError.field(
                "scenarios",
                f"must hold at most {MAX_SCENARIOS} scenarios, got {len(self.scenarios)}",
            )
        seen: dict[str, int] = {}
        for i, scenario in enumerate(self.scenarios):
            if scenario.name in seen:
                raise DomainError.field(
                    f"scenarios[{i}].name",
                    f"must be unique, {scenario.name!r} is also scenarios[{seen[scenario.name]}]",
                )
            seen[scenario.name] = i
        total = math.fsum(s.probability for s in self.scenarios)
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            raise DomainError(
                [
                    FieldError(
                        "scenarios",
                        f"probabilities must sum to 1 (within {PROBABILITY_TOLERANCE:g}), "
                        f"got {total!r}",
                    )
                ]
            )
        # hashed once: the lru caches keyed on a set otherwise re-hash every scenario
        fields = (
            self.id,
            self.name,
            self.event_date,
            self.scenarios,
            self.description,
            self.tree,
            self.tree_spot,
        )
        object.__setattr__(self, "_hash", hash(fields))
        object.__setattr__(self, "_passed", set())  # (valuation date, spot) checked already

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    @property
    def event_dates(self) -> tuple[dt.date, ...]:
        """The dated decisions whose variance the market's quotes hold and the jumps carry,
        in order: the event date, or the distinct dates of a tree's nodes with more than one
        branch (a node of one branch decides nothing; the root's date if none has two).
        The ex-event diffusion takes each one's variance out of the quotes
        (:meth:`scenarios.market.MarketSnapshot.event_strip`)."""
        if self.tree is None:
            return (self.event_date,)
        dates = sorted({n.date for n in self.tree.nodes if len(n.branches) > 1})
        return tuple(dates) or (self.event_date,)

    def event_times(self, valuation_date: dt.date) -> tuple[float, ...]:
        """:attr:`event_dates` in years ACT/365F from ``valuation_date``."""
        return tuple(year_fraction(valuation_date, d) for d in self.event_dates)

    def check_against(self, valuation_date: dt.date, spot: float | None = None) -> None:
        """The event must lie after the valuation date of the market it is priced on, and
        each post-event level within a factor of 1,000 of that market's ``spot`` (beyond it
        the jump is no scenario, and the arithmetic leaves double precision)."""
        passed = self._passed  # type: ignore[attr-defined]
        if (valuation_date, spot) in passed:  # every request checks a built-in set again
            return
        if self.tree is not None:
            tree_spot = self.tree_spot if spot is None else spot
            assert tree_spot is not None  # a tree set is built at its spot (tree_scenario_set)
            self.tree.check_against(valuation_date, tree_spot)
        if self.event_date <= valuation_date:
            raise DomainError.field(
                "event_date",
                f"must be after the valuation date {valuation_date.isoformat()}, "
                f"got {self.event_date.isoformat()}",
            )
        checks.within_horizon("event_date", valuation_date, self.event_date)
        if spot is None:
            return
        for i, scenario in enumerate(self.scenarios):
            checks.near_spot(f"scenarios[{i}].level", scenario.level, spot)
        if len(passed) >= 64:  # markets come and go: keep the memory bounded
            passed.clear()
        passed.add((valuation_date, spot))


def one_node_tree(scenario_set: ScenarioSet, node_id: str = "event") -> DecisionTree:
    """The flat set as a tree of one decision on its event date, every branch a leaf.

    Each scenario becomes a branch with its name, probability, ``level`` (so ``J = L/S0`` as
    before), ``vol`` and description. A scenario's ``drivers`` and ``smile`` are not carried:
    branches hold flat post-event vols.
    """
    branches = tuple(
        Branch(s.name, s.probability, s.vol, level=s.level, description=s.description)
        for s in scenario_set.scenarios
    )
    return DecisionTree(node_id, (DecisionNode(node_id, scenario_set.event_date, branches),))


def tree_scenario_set(
    *, id: str, name: str, tree: DecisionTree, spot: float, description: str = ""
) -> ScenarioSet:
    """The set of ``tree``'s leaves read at spot ``spot`` (JPY per USD).

    Leaf ``ℓ`` is a scenario named by its branch names joined with ``/`` (``extension/
    late_deal``), with probability ``Π p``, level ``S0·Π J`` and the last branch's vol and
    description; ``event_date`` is the root's date. The set carries the tree, so the pricer
    reads each leaf's jumps and vols segment by segment.
    """
    scenarios = tuple(
        Scenario(
            name=LEAF_SEPARATOR.join(leaf.names),
            probability=min(max(leaf.probability, 0.0), 1.0),
            level=spot * leaf.jump,
            vol=leaf.steps[-1][1].vol,
            description=leaf.steps[-1][1].description,
        )
        for leaf in tree.leaves(spot)
    )
    return ScenarioSet(
        id=id,
        name=name,
        event_date=tree.root_node.date,
        scenarios=scenarios,
        description=description,
        tree=tree,
        tree_spot=spot,
    )
