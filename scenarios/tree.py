"""Decision trees: dated decisions whose branches end or lead to a later decision.

The news has more than one date (a G7 bilateral, the 07-09 deadline, a tariff taking effect on
08-01), so a set of scenarios may be a tree (DESIGN.md, "Decision trees"). A
:class:`DecisionNode` is a decision on a ``date``; each of its :class:`Branch` es is an
outcome with a subjective probability ``p`` (the analyst's, given the node is reached), a move
of spot, a post-event vol, and either ends the path or leads (``next``) to a later node.

**The move.** A branch's jump ratio ``J`` is applied multiplicatively to wherever spot is at
the node's date, so after the decisions ``b_0 … b_k`` of a path the forward is
``F(T)·J_0·…·J_k``. It is given either as ``jump`` (the ratio itself) or as ``level``: the
USD/JPY level (JPY per USD) the decision alone would move spot to *from today's spot* ``S0``,
``J = level / S0`` — exactly the flat :class:`scenarios.scenario.Scenario`'s convention, at
every depth. A child's ``level`` is therefore not the cumulative level of its path: that is
``S0·Π J`` (:attr:`Leaf.jump` times spot).

**The vol.** A branch's ``vol`` (annualised) is the diffusion vol from its node's date until
the next node on the path, or for good if the path ends there; before the first decision
the market's pre-event diffusion vol holds (:mod:`scenarios.vol.model`). A branch with
``jump = 1`` under a one-branch node changes only the vol.

**Rules** (checked when built; each error names the field, e.g.
``nodes[1].branches[0].probability``): probabilities in [0, 1] summing to 1 at every node;
branch names unique within a node, node ids unique; ``next`` names a node; no cycles; every
node reachable from ``root``; a child dated strictly after its parent; at most
:data:`MAX_DEPTH` decision levels and :data:`MAX_LEAVES` root-to-leaf paths. A node may be the
``next`` of several branches (one decision reached by different routes): the leaves are the
paths. A flat :class:`scenarios.scenario.ScenarioSet` is a one-node tree
(:func:`scenarios.scenario.one_node_tree`).

:class:`Branch` and :class:`DecisionNode` validate themselves with paths relative to
themselves (``probability``, ``branches[0].name``); :meth:`DecisionTree.build` builds a tree
from plain mappings with every path under ``nodes[i]``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, TypeVar

import numpy as np

from pricing.mixture.measure import Measure, MeasureFit, NodeFit
from pricing.mixture.tree import NoRiskNeutralMeasureAtNode, TreeMeasureFit, TreeShape, tree_measure
from pricing.mixture.tree_tables import leaf_fit
from scenarios import checks
from scenarios.checks import PROBABILITY_TOLERANCE
from scenarios.dates import year_fraction
from scenarios.errors import DomainError, ErrorKind, FieldError

LEAF_SEPARATOR = "/"  # a leaf is named by its branch names joined with it
MAX_DEPTH = 4  # decision levels on a path
MAX_LEAVES = 256  # root-to-leaf paths
MAX_NODES = 128
MAX_BRANCHES = 64  # per node
MAX_ID_CHARS = 64
JUMP_FACTOR = 1e3  # a jump ratio, and a path's cumulative one, within [1/1000, 1000]

T = TypeVar("T")


def _name(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_CHARS:
        raise DomainError.field(
            field, f"must be a non-empty string of at most {MAX_ID_CHARS} characters, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class Branch:
    """One outcome of a decision.

    Attributes:
        name: unique within its node.
        probability: subjective, in [0, 1], given the node is reached.
        vol: post-event diffusion vol (annualised) until the next node on the path.
        jump: the jump ratio ``J`` (> 0); give this or ``level``.
        level: JPY per USD the decision alone would move today's spot to: ``J = level/S0``.
        next: the id of the node this branch leads to, or None where the path ends.
        description: free text.
    """

    name: str
    probability: float
    vol: float
    jump: float | None = None
    level: float | None = None
    next: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _name("name", self.name)
        checks.in_range("probability", self.probability, 0.0, 1.0)
        checks.in_range("vol", self.vol, 1e-4, 5.0, " (a decimal, 0.10 = 10%)")
        if (self.jump is None) == (self.level is None):
            got = "both" if self.jump is not None else "neither"
            raise DomainError.field("jump", f"give exactly one of jump and level, got {got}")
        if self.jump is not None:
            checks.in_range("jump", self.jump, 1.0 / JUMP_FACTOR, JUMP_FACTOR, " (a ratio)")
        if self.level is not None:
            checks.positive("level", self.level)
        if self.next is not None:
            _name("next", self.next)
        if not isinstance(self.description, str):
            raise DomainError.field("description", f"must be a string, got {self.description!r}")

    @property
    def move_field(self) -> str:
        """``jump`` or ``level``: the field that gives the move."""
        return "jump" if self.jump is not None else "level"

    def jump_ratio(self, spot: float | None = None) -> float:
        """``J``: ``jump``, or ``level / spot`` (``spot`` S0 in JPY per USD, needed then)."""
        if self.jump is not None:
            return float(self.jump)
        if spot is None:
            raise ValueError(f"branch {self.name!r} gives a level: its jump needs the spot")
        assert self.level is not None
        return float(self.level) / float(spot)


@dataclass(frozen=True)
class DecisionNode:
    """A decision on ``date`` with its ``branches`` (probabilities summing to 1)."""

    id: str
    date: dt.date
    branches: tuple[Branch, ...]

    def __post_init__(self) -> None:
        _name("id", self.id)
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            raise DomainError.field("date", f"must be a date, got {self.date!r}")
        checks.in_calendar("date", self.date)
        branches = tuple(self.branches) if isinstance(self.branches, list | tuple) else None
        if not branches or not all(isinstance(b, Branch) for b in branches):
            raise DomainError.field("branches", "must hold at least one branch")
        if len(branches) > MAX_BRANCHES:
            raise DomainError.field(
                "branches", f"must hold at most {MAX_BRANCHES} branches, got {len(branches)}"
            )
        object.__setattr__(self, "branches", branches)
        seen: dict[str, int] = {}
        for j, branch in enumerate(branches):
            if branch.name in seen:
                raise DomainError.field(
                    f"branches[{j}].name",
                    f"must be unique within the node, {branch.name!r} is also "
                    f"branches[{seen[branch.name]}]",
                )
            seen[branch.name] = j
        total = math.fsum(b.probability for b in branches)
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            raise DomainError.field(
                "branches",
                f"probabilities must sum to 1 (within {PROBABILITY_TOLERANCE:g}), got {total!r}",
            )


@dataclass(frozen=True)
class Leaf:
    """One root-to-leaf path.

    Attributes:
        steps: ``(node date, branch)`` at each decision along the path, in date order.
        node_ids: the id of each step's node.
        probability: ``Π p`` (subjective).
        jump: ``Π J`` (the path's cumulative jump ratio; ``S0·jump`` is its final level).
    """

    steps: tuple[tuple[dt.date, Branch], ...]
    node_ids: tuple[str, ...]
    probability: float
    jump: float

    @property
    def names(self) -> tuple[str, ...]:
        """The branch names along the path."""
        return tuple(branch.name for _, branch in self.steps)


@dataclass(frozen=True)
class TreeInputs:
    """A tree as the pricing arrays of :mod:`pricing.mixture.tree`.

    Attributes:
        shape: node times (years ACT/365F from the valuation date) and links.
        probabilities, jumps, vols: ``[b]`` per branch, branches flattened node by node in
            the tree's order.
        branch_fields: ``[b]`` each branch's field path, ``nodes[i].branches[j]``.
    """

    shape: TreeShape
    probabilities: np.ndarray
    jumps: np.ndarray
    vols: np.ndarray
    branch_fields: tuple[str, ...]


@dataclass(frozen=True)
class DecisionTree:
    """Dated decisions from ``root``; see the module docstring for the rules."""

    root: str
    nodes: tuple[DecisionNode, ...]

    def __post_init__(self) -> None:
        nodes = tuple(self.nodes) if isinstance(self.nodes, list | tuple) else None
        if not nodes or not all(isinstance(n, DecisionNode) for n in nodes):
            raise DomainError.field("nodes", "must hold at least one decision node")
        if len(nodes) > MAX_NODES:
            raise DomainError.field(
                "nodes", f"must hold at most {MAX_NODES} nodes, got {len(nodes)}"
            )
        object.__setattr__(self, "nodes", nodes)
        index: dict[str, int] = {}
        for i, node in enumerate(nodes):
            if node.id in index:
                raise DomainError.field(
                    f"nodes[{i}].id", f"must be unique, {node.id!r} is also nodes[{index[node.id]}]"
                )
            index[node.id] = i
        if not isinstance(self.root, str) or self.root not in index:
            raise DomainError.field("root", f"must be the id of a node, got {self.root!r}")
        for i, node in enumerate(nodes):
            for j, branch in enumerate(node.branches):
                if branch.next is not None and branch.next not in index:
                    raise DomainError.field(
                        f"nodes[{i}].branches[{j}].next",
                        f"must be the id of a node, got {branch.next!r}",
                    )
        object.__setattr__(self, "_index", index)
        self._check_acyclic()
        self._check_reachable()
        self._check_dates()
        self._check_size()

    def _children(self, i: int) -> list[tuple[int, int]]:
        """``(branch index, child node index)`` of node ``i``'s branches that lead on."""
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        return [
            (j, index[b.next]) for j, b in enumerate(self.nodes[i].branches) if b.next is not None
        ]

    def _check_acyclic(self) -> None:
        state = [0] * len(self.nodes)  # 0 unseen, 1 on the current walk, 2 done
        trail: list[int] = []

        def walk(i: int) -> None:
            state[i] = 1
            trail.append(i)
            for j, child in self._children(i):
                if state[child] == 1:
                    loop = [self.nodes[k].id for k in trail[trail.index(child) :]]
                    cycle = " -> ".join(repr(x) for x in [*loop, self.nodes[child].id])
                    raise DomainError.field(
                        f"nodes[{i}].branches[{j}].next", f"must not close a cycle, got {cycle}"
                    )
                if state[child] == 0:
                    walk(child)
            trail.pop()
            state[i] = 2

        for i in range(len(self.nodes)):
            if state[i] == 0:
                walk(i)

    def _check_reachable(self) -> None:
        root = self._index[self.root]  # type: ignore[attr-defined]
        seen, todo = {root}, [root]
        while todo:
            for _, child in self._children(todo.pop()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        for i, node in enumerate(self.nodes):
            if i not in seen:
                raise DomainError.field(
                    f"nodes[{i}].id",
                    f"must be reachable from the root {self.root!r}: no branch leads to "
                    f"{node.id!r}",
                )

    def _check_dates(self) -> None:
        for i, node in enumerate(self.nodes):
            for j, child in self._children(i):
                if self.nodes[child].date <= node.date:
                    raise DomainError.field(
                        f"nodes[{child}].date",
                        f"must be after {node.date.isoformat()}, the date of its parent "
                        f"{node.id!r} (nodes[{i}].branches[{j}] leads to it), got "
                        f"{self.nodes[child].date.isoformat()}",
                    )

    def _check_size(self) -> None:
        # dates strictly increase along every branch: the graph is acyclic, walk it in
        # reverse date order to count levels and paths below each node
        depth = [1] * len(self.nodes)
        paths = [0] * len(self.nodes)
        for i in sorted(range(len(self.nodes)), key=lambda i: self.nodes[i].date, reverse=True):
            children = dict(self._children(i))
            depth[i] = 1 + max((depth[c] for c in children.values()), default=0)
            paths[i] = sum(
                paths[children[j]] if j in children else 1
                for j in range(len(self.nodes[i].branches))
            )
        root = self._index[self.root]  # type: ignore[attr-defined]
        if depth[root] > MAX_DEPTH:
            i, level = root, 1
            while True:  # down the deepest route to the branch that opens level MAX_DEPTH + 1
                j, child = max(self._children(i), key=lambda jc: depth[jc[1]])
                level += 1
                if level > MAX_DEPTH:
                    raise DomainError.field(
                        f"nodes[{i}].branches[{j}].next",
                        f"must not open decision level {level} (at most {MAX_DEPTH} on a "
                        f"path), got {self.nodes[child].id!r}",
                    )
                i = child
        if paths[root] > MAX_LEAVES:
            raise DomainError.field(
                "nodes", f"must form at most {MAX_LEAVES} root-to-leaf paths, got {paths[root]}"
            )

    @property
    def root_node(self) -> DecisionNode:
        return self.nodes[self._index[self.root]]  # type: ignore[attr-defined]

    def node(self, node_id: str) -> DecisionNode:
        """The node called ``node_id`` (KeyError if none)."""
        return self.nodes[self._index[node_id]]  # type: ignore[attr-defined]

    def node_index(self, node_id: str) -> int:
        """The position of ``node_id`` in :attr:`nodes` (KeyError if none)."""
        return int(self._index[node_id])  # type: ignore[attr-defined]

    def leaves(self, spot: float | None = None) -> tuple[Leaf, ...]:
        """Every root-to-leaf path, depth first in branch order.

        Args:
            spot: S0 in JPY per USD, needed when a branch gives a ``level``.
        """
        out: list[Leaf] = []

        def walk(i: int, steps: tuple[tuple[dt.date, Branch], ...], ids: tuple[str, ...]) -> None:
            node = self.nodes[i]
            for branch in node.branches:
                here, path = (*steps, (node.date, branch)), (*ids, node.id)
                if branch.next is None:
                    probability = math.prod(b.probability for _, b in here)
                    jump = math.prod(b.jump_ratio(spot) for _, b in here)
                    out.append(Leaf(here, path, probability, jump))
                else:
                    walk(self._index[branch.next], here, path)  # type: ignore[attr-defined]

        walk(self._index[self.root], (), ())  # type: ignore[attr-defined]
        return tuple(out)

    def check_against(self, valuation_date: dt.date, spot: float) -> None:
        """Against the market it is priced on: every decision after ``valuation_date`` and
        within the horizon; every ``level`` within a factor of 1,000 of ``spot``; and every
        path's cumulative jump within a factor of 1,000."""
        for i, node in enumerate(self.nodes):
            if node.date <= valuation_date:
                raise DomainError.field(
                    f"nodes[{i}].date",
                    f"must be after the valuation date {valuation_date.isoformat()}, "
                    f"got {node.date.isoformat()}",
                )
            checks.within_horizon(f"nodes[{i}].date", valuation_date, node.date)
            for j, branch in enumerate(node.branches):
                if branch.level is not None:
                    checks.near_spot(f"nodes[{i}].branches[{j}].level", branch.level, spot)
        for leaf in self.leaves(spot):
            if not 1.0 / JUMP_FACTOR <= leaf.jump <= JUMP_FACTOR:
                node_id, (_, last) = leaf.node_ids[-1], leaf.steps[-1]
                i = self.node_index(node_id)
                j = self.nodes[i].branches.index(last)
                route = " -> ".join(leaf.names)
                raise DomainError.field(
                    f"nodes[{i}].branches[{j}].{last.move_field}",
                    f"must keep the path {route} within a factor of {JUMP_FACTOR:g} of spot, "
                    f"got a cumulative jump ratio {leaf.jump:.6g}",
                )

    def inputs(self, *, valuation_date: dt.date, spot: float) -> TreeInputs:
        """The pricing arrays on a market of ``valuation_date`` and ``spot`` (checked
        against it first). Node ``i`` of the arrays is :attr:`nodes` ``[i]``."""
        self.check_against(valuation_date, spot)
        times = np.array([year_fraction(valuation_date, n.date) for n in self.nodes])
        owner, children, p, j, vols, paths = [], [], [], [], [], []
        for i, node in enumerate(self.nodes):
            for k, branch in enumerate(node.branches):
                owner.append(i)
                children.append(-1 if branch.next is None else self.node_index(branch.next))
                p.append(branch.probability)
                j.append(branch.jump_ratio(spot))
                vols.append(branch.vol)
                paths.append(f"nodes[{i}].branches[{k}]")
        shape = TreeShape(
            node_times=times,
            branch_nodes=np.array(owner, dtype=np.int64),
            branch_children=np.array(children, dtype=np.int64),
            root=self.node_index(self.root),
        )
        return TreeInputs(shape, np.array(p), np.array(j), np.array(vols), tuple(paths))

    @classmethod
    def build(cls, *, root: str, nodes: Sequence[Mapping[str, Any]]) -> DecisionTree:
        """A tree from plain mappings, every error under its full path.

        Each node is ``{"id", "date", "branches"}`` (``date`` a :class:`datetime.date` or an
        ISO string) and each branch a mapping of :class:`Branch`'s fields.
        """
        built = []
        for i, spec in enumerate(nodes):
            where = f"nodes[{i}]"
            _keys(where, spec, {"id", "date", "branches"}, {"id", "date", "branches"})
            branch_specs = spec["branches"]
            if not isinstance(branch_specs, Sequence) or isinstance(branch_specs, str):
                raise DomainError.field(f"{where}.branches", "must be a list of branches")
            branches = []
            for j, branch in enumerate(branch_specs):
                at = f"{where}.branches[{j}]"
                _keys(at, branch, _BRANCH_FIELDS, {"name", "probability", "vol"})
                branches.append(_under(at, partial(Branch, **branch)))
            date = _date(f"{where}.date", spec["date"])
            built.append(_under(where, partial(_node, spec, date, branches)))
        return cls(root, tuple(built))


_BRANCH_FIELDS = frozenset(f.name for f in fields(Branch))


def _node(spec: Mapping[str, Any], date: dt.date, branches: list[Branch]) -> DecisionNode:
    return DecisionNode(spec["id"], date, tuple(branches))


def _keys(where: str, spec: object, allowed: set[str] | frozenset[str], needed: set[str]) -> None:
    if not isinstance(spec, Mapping):
        raise DomainError.field(where, f"must be a mapping, got {spec!r}")
    errors = [
        FieldError(f"{where}.{key}", "is not a field here") for key in spec if key not in allowed
    ]
    errors += [FieldError(f"{where}.{key}", "is required") for key in sorted(needed - set(spec))]
    if errors:
        raise DomainError(errors)


def _date(field: str, value: object) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise DomainError.field(field, f"must be an ISO date, got {value!r}") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise DomainError.field(field, f"must be a date, got {value!r}")


def _under(prefix: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except DomainError as exc:
        raise exc.prefixed(prefix) from None


def fit_tree_measure(
    tree: DecisionTree,
    *,
    valuation_date: dt.date,
    spot: float,
    measure: Measure = Measure.TILT,
    node_measures: Mapping[str, Measure] | None = None,
) -> tuple[TreeInputs, TreeMeasureFit]:
    """The tree's pricing arrays and its measure, node by node.

    Args:
        tree: the decisions.
        valuation_date, spot: the market's (spot S0 in JPY per USD).
        measure: the choice at every node …
        node_measures: … unless overridden here by node id.

    Raises:
        DomainError: ``node_measures`` naming no node; or (kind ``no_measure``) a tilted node
            whose jumps all lie on one side of 1, named ``nodes[i].branches``.
    """
    overrides = dict(node_measures or {})
    ids = {node.id for node in tree.nodes}
    for node_id in overrides:
        if node_id not in ids:
            raise DomainError.field(
                f"node_measures.{node_id}", f"must name a node of the tree, got {node_id!r}"
            )
    inputs = tree.inputs(valuation_date=valuation_date, spot=spot)
    choices = [overrides.get(n.id, measure) for n in tree.nodes]
    try:
        fit = tree_measure(
            shape=inputs.shape,
            probabilities=inputs.probabilities,
            jumps=inputs.jumps,
            measures=choices,
        )
    except NoRiskNeutralMeasureAtNode as exc:
        node = tree.nodes[exc.node]
        raise DomainError.field(
            f"nodes[{exc.node}].branches",
            f"must straddle the forward for the tilt at node {node.id!r}: every jump with "
            f"probability lies on one side of 1 ({exc}); add a branch on the other side, or "
            f"use measure 'scale' or 'none' there",
            ErrorKind.NO_MEASURE,
        ) from exc
    return inputs, fit


def branch_names(tree: DecisionTree) -> tuple[str, ...]:
    """``[B]`` every branch as ``<node id>/<branch name>``, node by node in the tree's order
    (the order of :meth:`DecisionTree.inputs` and of a tree fit's ``d_weights`` columns)."""
    return tuple(f"{n.id}{LEAF_SEPARATOR}{b.name}" for n in tree.nodes for b in n.branches)


def tree_measure_fit(
    tree: DecisionTree,
    *,
    valuation_date: dt.date,
    spot: float,
    measure: Measure = Measure.TILT,
    node_measures: Mapping[str, Measure] | None = None,
) -> MeasureFit:
    """The tree's measure over its leaves, each node's fit in ``nodes``
    (:func:`pricing.mixture.tree_tables.leaf_fit`): leaf ``ℓ`` of the result is leaf ``ℓ``
    of :meth:`DecisionTree.leaves` (and of :func:`tree_scenario_set`), column ``b`` of its
    derivatives the ``b``-th of :func:`branch_names`.

    Raises:
        DomainError: as :func:`fit_tree_measure`.
    """
    inputs, fit = fit_tree_measure(
        tree,
        valuation_date=valuation_date,
        spot=spot,
        measure=measure,
        node_measures=node_measures,
    )
    shape = inputs.shape
    nodes = tuple(
        NodeFit(
            id=node.id,
            date=node.date,
            time=float(shape.node_times[k]),
            branch_names=tuple(b.name for b in node.branches),
            branches=np.flatnonzero(shape.branch_nodes == k),
            fit=fit.node_fits[k],
        )
        for k, node in enumerate(tree.nodes)
    )
    root_measure = (node_measures or {}).get(tree.root, measure)
    return leaf_fit(
        measure=root_measure,
        nodes=nodes,
        paths=fit.paths,
        probabilities=inputs.probabilities,
        jumps=inputs.jumps,
    )
