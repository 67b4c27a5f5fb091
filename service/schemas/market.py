"""Market and scenario-set schemas, and their translation to domain objects."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated

from pydantic import Field, model_validator

from pricing.curve import CurveInterpolation
from scenarios import checks
from scenarios.dates import pillar_date
from scenarios.errors import DomainError
from scenarios.market import AtmVolCurve, DiscountCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet, tree_scenario_set
from scenarios.tree import MAX_DEPTH, MAX_LEAVES, DecisionTree
from scenarios.vol.smiles import MarketSurface
from service.schemas.common import (
    Choice,
    Date,
    FiniteFloat,
    PositiveFloat,
    Schema,
    join,
    under,
)
from service.schemas.smiles import (
    ScenarioSmileIn,
    SmileQuoteIn,
    SurfaceConventionsIn,
    quotes_to_domain,
)


class Pillar(Schema):
    """A curve point at a ``tenor`` (ON, 1D, 1W, 1M, 1Y …) or a ``date``; one of the two."""

    tenor: str | None = Field(default=None, examples=["1Y"])
    date: Date | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Pillar:
        if (self.tenor is None) == (self.date is None):
            raise ValueError("give exactly one of tenor or date")
        return self

    def resolve(self, valuation_date: dt.date, field: str) -> dt.date:
        if self.date is not None:
            return self.date
        assert self.tenor is not None
        return pillar_date(f"{field}.tenor", valuation_date, self.tenor)


class RatePillar(Pillar):
    rate: FiniteFloat = Field(description="Zero rate, continuously compounded decimal (ACT/365F).")


class VolPillar(Pillar):
    vol: PositiveFloat = Field(description="Pre-event ATM vol, annualised decimal (0.115 = 11.5%).")


class MarketIn(Schema):
    """A market snapshot. ``spot`` is JPY per USD for value on the valuation date."""

    valuation_date: Date
    spot: PositiveFloat
    usd_curve: Annotated[list[RatePillar], Field(min_length=1, max_length=200)]
    jpy_curve: Annotated[list[RatePillar], Field(min_length=1, max_length=200)]
    atm_vols: Annotated[list[VolPillar], Field(min_length=1, max_length=200)]
    curve_interpolation: Choice[CurveInterpolation] = CurveInterpolation.LOG_LINEAR_DISCOUNT
    surface: Annotated[list[SmileQuoteIn], Field(min_length=1, max_length=40)] | None = Field(
        default=None,
        description="Smile quotes per tenor (ATM, 25Δ RR/BF, optional 10Δ), sorted by expiry. "
        "When given, the surface (not atm_vols) sets the pre-event vols of /v1/price, "
        "/v1/vol-surface and /v1/calibrate, read at each strike; without it the ATM curve "
        "applies, flat in strike. /v1/paths reads atm_vols either way.",
    )
    surface_conventions: SurfaceConventionsIn = Field(default_factory=SurfaceConventionsIn)

    def to_domain(self, prefix: str = "market") -> MarketSnapshot:
        v = under(prefix, lambda: checks.in_calendar("valuation_date", self.valuation_date))

        def curve(name: str, rows: list[RatePillar]) -> DiscountCurve:
            dates = tuple(r.resolve(v, join(prefix, f"{name}[{i}]")) for i, r in enumerate(rows))
            return under(
                join(prefix, name),
                lambda: DiscountCurve(
                    v, dates, tuple(r.rate for r in rows), self.curve_interpolation
                ),
            )

        usd = curve("usd_curve", self.usd_curve)
        jpy = curve("jpy_curve", self.jpy_curve)
        vol_dates = tuple(
            r.resolve(v, join(prefix, f"atm_vols[{i}]")) for i, r in enumerate(self.atm_vols)
        )
        atm = under(
            join(prefix, "atm_vols"),
            lambda: AtmVolCurve(v, vol_dates, tuple(r.vol for r in self.atm_vols)),
        )
        surface = None
        if self.surface is not None:
            conventions = self.surface_conventions
            quotes = quotes_to_domain(self.surface, v, join(prefix, "surface"))
            surface = under(
                prefix,
                lambda: MarketSurface(
                    quotes, conventions.to_domain(), conventions.event_extra_days
                ),
            )
        return under(prefix, lambda: MarketSnapshot(v, self.spot, usd, jpy, atm, surface))


class ScenarioIn(Schema):
    name: str = Field(min_length=1, max_length=100, examples=["comprehensive_deal"])
    probability: FiniteFloat = Field(ge=0, le=1, description="Subjective probability p.")
    level: PositiveFloat = Field(description="Post-event USD/JPY level L, JPY per USD.")
    vol: PositiveFloat = Field(description="Post-event vol, annualised decimal.")
    description: str = ""
    drivers: dict[str, FiniteFloat] = Field(
        default_factory=dict,
        max_length=16,
        description="Policy levels in percent (auto_tariff_pct, reciprocal_tariff_pct), >= 0; "
        "they move the CDS curves through the credit market's sensitivities.",
        examples=[{"auto_tariff_pct": 25.0, "reciprocal_tariff_pct": 24.0}],
    )
    smile: ScenarioSmileIn | None = Field(
        default=None,
        description="Post-event smile: quotes per tenor from the event date, or a shift of "
        "the market's surface; without it the post-event vol is `vol` at every strike.",
    )

    def to_domain(self, event_date: dt.date) -> Scenario:
        """The domain scenario, its smile's tenors counted from ``event_date``."""
        return Scenario(
            self.name,
            self.probability,
            self.level,
            self.vol,
            self.description,
            drivers=self.drivers,
            smile=self.smile.to_domain(event_date) if self.smile else None,
        )


class BranchIn(Schema):
    """One outcome of a decision: it ends the path or leads (``next``) to a later node."""

    name: str = Field(min_length=1, max_length=64, examples=["extension"])
    probability: FiniteFloat = Field(
        ge=0, le=1, description="Subjective probability p, given the node is reached."
    )
    level: PositiveFloat | None = Field(
        default=None,
        description="JPY per USD the decision alone would move today's spot to: J = level/S0 "
        "(as a flat scenario's level). Give this or jump.",
    )
    jump: PositiveFloat | None = Field(
        default=None,
        description="Jump ratio J applied to spot at the node's date (1 = no move). Give this "
        "or level.",
    )
    vol: PositiveFloat = Field(
        description="Vol (annualised decimal) from the node's date to the next node on the "
        "path, or for good where the path ends."
    )
    next: str | None = Field(default=None, description="Id of the node this branch leads to.")
    description: str = ""


class NodeIn(Schema):
    """A dated decision and its branches (probabilities sum to 1)."""

    id: str = Field(min_length=1, max_length=64, examples=["deadline"])
    date: Date
    branches: Annotated[list[BranchIn], Field(min_length=1, max_length=64)]


class TreeIn(Schema):
    """Dated decisions from ``root``: a branch ends or leads to a later node."""

    root: str = Field(min_length=1, max_length=64, examples=["deadline"])
    nodes: Annotated[list[NodeIn], Field(min_length=1, max_length=128)]

    @classmethod
    def from_domain(cls, tree: DecisionTree | None) -> TreeIn | None:
        if tree is None:
            return None
        return cls(
            root=tree.root,
            nodes=[
                NodeIn(
                    id=n.id,
                    date=n.date,
                    branches=[
                        BranchIn(
                            name=b.name,
                            probability=b.probability,
                            level=b.level,
                            jump=b.jump,
                            vol=b.vol,
                            next=b.next,
                            description=b.description,
                        )
                        for b in n.branches
                    ],
                )
                for n in tree.nodes
            ],
        )

    def leaf_count(self) -> int:
        """Root-to-leaf paths, counted without validating (capped: a cycle stops at the cap)."""
        by_id = {n.id: n for n in self.nodes}
        cap = MAX_LEAVES + 1

        def count(node_id: str, depth: int) -> int:
            node = by_id.get(node_id)
            if node is None or depth > MAX_DEPTH:
                return 1
            total = 0
            for b in node.branches:
                total += count(b.next, depth + 1) if b.next is not None else 1
                if total >= cap:
                    return cap
            return max(total, 1)

        return count(self.root, 1)

    def to_domain(self) -> DecisionTree:
        return DecisionTree.build(
            root=self.root,
            nodes=[
                {
                    "id": n.id,
                    "date": n.date,
                    "branches": [b.model_dump(exclude_none=True) for b in n.branches],
                }
                for n in self.nodes
            ],
        )


class ScenarioSetIn(Schema):
    """Scenarios of one decision on ``event_date`` (probabilities sum to 1), or a ``tree`` of
    dated decisions whose leaves are the scenarios."""

    id: str = Field(default="inline", max_length=100)
    name: str = Field(default="inline scenario set", max_length=200)
    event_date: Date | None = Field(
        default=None,
        description="The decision's date; required with scenarios, the root's date with a tree.",
    )
    scenarios: Annotated[list[ScenarioIn], Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="The outcomes of one decision; give this or tree."
    )
    tree: TreeIn | None = Field(
        default=None,
        description="Dated decisions (e.g. 07-09: deal / no deal / extension → 08-01: deal / "
        "tariffs take effect); the leaves are the scenarios, named by their branches joined "
        "with '/'. Give this or scenarios.",
    )
    description: str = ""

    @property
    def scenario_count(self) -> int:
        """Scenarios, or a tree's leaves (bounded by the tree rules), before any validation."""
        if self.scenarios is not None:
            return len(self.scenarios)
        return self.tree.leaf_count() if self.tree is not None else 1

    @property
    def first_date(self) -> dt.date | None:
        """The event date, or a tree's earliest node date."""
        if self.tree is not None and self.tree.nodes:
            return min(n.date for n in self.tree.nodes)
        return self.event_date

    @property
    def has_smiles(self) -> bool:
        return any(s.smile is not None for s in self.scenarios or ())

    def to_domain(self, prefix: str = "scenario_set", spot: float | None = None) -> ScenarioSet:
        """The domain set; a tree's leaves are read at ``spot`` (the market's, JPY per USD)."""
        if (self.scenarios is None) == (self.tree is None):
            raise DomainError.field(prefix, "give exactly one of scenarios or tree")
        if self.tree is not None:
            return self._tree_set(prefix, spot)
        if self.event_date is None:
            raise DomainError.field(join(prefix, "event_date"), "is required with scenarios")
        assert self.scenarios is not None
        event_date = self.event_date
        scenarios = tuple(
            under(join(prefix, f"scenarios[{i}]"), partial(s.to_domain, event_date))
            for i, s in enumerate(self.scenarios)
        )
        return under(
            prefix,
            lambda: ScenarioSet(self.id, self.name, event_date, scenarios, self.description),
        )

    def _tree_set(self, prefix: str, spot: float | None) -> ScenarioSet:
        assert self.tree is not None and spot is not None
        tree = under(join(prefix, "tree"), self.tree.to_domain)
        if self.event_date is not None and self.event_date != tree.root_node.date:
            raise DomainError.field(
                join(prefix, "event_date"),
                f"must be the root node's date {tree.root_node.date.isoformat()} with a tree, "
                f"got {self.event_date.isoformat()}",
            )
        return under(
            join(prefix, "tree"),
            lambda: tree_scenario_set(
                id=self.id, name=self.name, tree=tree, spot=spot, description=self.description
            ),
        )
