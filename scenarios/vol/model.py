"""The vols the mixture prices with: the market's pre-event smile and each scenario's after.

Conventions: strikes and forwards JPY per USD; vols annualised decimals; times in years
ACT/365F from the valuation date; ``T_e`` the event; ``k = ln(K/F(T))`` with ``F(T)`` the
market forward to the option's delivery.

**Pre-event diffusion.** The market surface is read as diffusion plus the event:
``w(T, k) = w_d(T, k) + v_e·1[T > T_e]`` (:mod:`pricing.vol.surface`), with ``v_e`` sized from
how the quotes weigh the decision day (``MarketSurface.event_extra_days``;
:func:`pricing.vol.surface.event_variance_from_weight`). The pre-event part of an option's
variance is the diffusive part to ``T_pre = min(T, T_e)``, read at the moneyness the
pre-event move must reach::

    T ≤ T_e:   v_pre(K)   = w_d(T, ln(K/F(T)))                the market's smile as quoted
    T > T_e:   v_pre,i(K) = w_d(T_e, ln(K/(F(T)·J_i)))        per scenario

(after the jump ``J_i`` the option pays where ``S_{T_e}·J_i`` ends beyond ``K``, so the
pre-event smile is read at ``K/J_i``). The event's variance is left out: the scenarios carry
it. With the default weight 0, ``w_d`` is the plain total-variance interpolation of the
quotes — the ATM curve's own rule, which keeps a share of the event premium in the diffusion
(the ASSUMPTION of the built-in data). Without a surface, ``v_pre`` is the ATM curve's total
variance, flat in K, one per option: exactly the foundation's prices.

**Post-event.** Scenario ``i``'s surface is read in the time since the event ``τ = T − T_e``
at its own forward ``F(T)·J_i``::

    v_i(K) = v_pre,i(K) + w_i(τ, ln(K/(F(T)·J_i))),      w_i = σ_i²·τ without a smile.

Kernel inputs: ``pre_vols = √(v_pre/T_pre)`` per option ``[n]`` (ATM curve) or per option ×
scenario ``[n, m]`` (surface), ``vols[:, i] = √(w_i/τ)``, and the slopes ``dσ/dK`` for the
digitals' slope term (:mod:`pricing.mixture.digital_slope`). Greeks hold the vols at each strike
fixed (sticky strike).

**Decision trees.** A tree set's components are its leaves (:mod:`scenarios.tree`): the
diffusion runs to the root's date (``T_e``, the set's ``event_date``; the event stripped
there), and a leaf's post-event variance is piecewise, each branch's vol from its node's date
to the next node on the path: :attr:`VolModel.tree` holds it per interval between the node
dates (:mod:`pricing.mixture.tree_tables`), and :meth:`VolModel.inputs` reads the row of each
expiry's interval (``post_times`` then the time into that interval, the accrued variances
beside). The pre-event smile is read at ``K/J_ℓ(T)``, the leaf's cumulative jump as of the
expiry. Branches hold flat vols: a tree set with a scenario smile is refused.

A scenario smile given as quotes has tenors counted from the event date, fitted with the USD
discount factors from the event to each delivery; one given as a shift moves every pillar
of the market's surface (its tenors then read as post-event tenors), or of the flat ATM curve
when the market has no surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, lru_cache

import numpy as np

from pricing.mixture.tree_tables import VolTables, interval_rows, segment_times, vol_tables
from pricing.vol.quotes import SmileConventions
from pricing.vol.surface import VolSurface, build_surface
from scenarios.dates import year_fraction
from scenarios.errors import DomainError
from scenarios.market import AtmVolCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet
from scenarios.vol.smiles import (
    ScenarioSmile,
    SmileQuote,
    check_quotes,
    fit_quotes,
    year_fractions,
)

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


class SmileSource(StrEnum):
    """Where a scenario's post-event vols come from."""

    FLAT = "flat"
    QUOTES = "quotes"
    SHIFT = "shift"


@dataclass(frozen=True)
class PostEventSmile:
    """One scenario's post-event vols: a surface in ``τ = T − T_e``, or ``vol`` flat; every
    vol multiplied by ``scale`` (a calibration's refit; 1 otherwise)."""

    source: SmileSource
    vol: float
    surface: VolSurface | None
    scale: float = 1.0


@dataclass(frozen=True)
class VolInputs:
    """Kernel vol inputs for ``n`` options and ``m`` scenarios.

    Attributes:
        pre_times, post_times: ``min(T, T_e)`` and ``max(T − T_e, 0)`` ``[n]`` (a tree's
            ``post_times``: the time into the expiry's interval between node dates).
        pre_vols, pre_vol_slopes: ``σ_pre`` and ``dσ_pre/dK`` at each strike, ``[n]`` (flat
            ATM curve) or per component ``[n, m]`` (market surface).
        vols: post-event vols, ``[m]`` (all flat) or ``[n, m]`` (at each strike).
        vol_slopes: ``dσ_i/dK`` ``[n, m]``, or None when every scenario is flat.
        valid: ``[n]`` False where a surface gives no positive variance (calendar
            arbitrage of the quotes); the vols there are placeholders.
        accrued_variances, accrued_vol_times: a tree's ``[n, L]`` ``Σ σ²·length`` and
            ``Σ σ·length`` each leaf accrued after the root before the expiry's interval
            (``vols`` then ``[n, L]``, the open segment's); None for a flat set.
    """

    pre_times: np.ndarray
    post_times: np.ndarray
    pre_vols: np.ndarray
    pre_vol_slopes: np.ndarray
    vols: np.ndarray
    vol_slopes: np.ndarray | None
    valid: np.ndarray
    accrued_variances: np.ndarray | None = None
    accrued_vol_times: np.ndarray | None = None

    @property
    def has_slopes(self) -> bool:
        post = self.vol_slopes is not None and bool(np.any(self.vol_slopes))
        return post or bool(np.any(self.pre_vol_slopes))


@dataclass(frozen=True)
class VolModel:
    """The market's pre-event vols and each scenario's post-event smile (a tree's leaves:
    ``tree``, their piecewise vols per interval between node dates, each leaf's smile its
    last branch's flat vol)."""

    event_time: float
    atm_vols: AtmVolCurve
    market_surface: VolSurface | None
    smiles: tuple[PostEventSmile, ...]
    diffusion_atm: AtmVolCurve | None = None  # the ATM curve less the event; atm_vols if None
    tree: VolTables | None = None

    @property
    def pre_atm(self) -> AtmVolCurve:
        """The ATM curve the diffusion reads before the event (the event's variance out)."""
        return self.diffusion_atm if self.diffusion_atm is not None else self.atm_vols

    @property
    def decision_times(self) -> np.ndarray:
        """``[d]`` the distinct decision times (years, sorted): a tree's node times, or the
        event's alone."""
        return self.tree.times if self.tree is not None else np.array([self.event_time])

    @cached_property
    def has_scenario_smiles(self) -> bool:
        return any(s.surface is not None for s in self.smiles)

    def rescaled(self, factors: np.ndarray) -> VolModel:
        """The same model with scenario ``i``'s post-event vols multiplied by ``factors[i]``
        (a tree's leaf ``i``: every vol of its path after the root)."""
        smiles = tuple(
            PostEventSmile(s.source, s.vol, s.surface, s.scale * float(f))
            for s, f in zip(self.smiles, factors, strict=True)
        )
        tree = None if self.tree is None else self.tree.scaled(np.asarray(factors, dtype=float))
        return VolModel(
            self.event_time, self.atm_vols, self.market_surface, smiles, self.diffusion_atm, tree
        )

    def market_variance(self, *, times: np.ndarray, log_moneyness: np.ndarray) -> Triple:
        """``(w, ∂w/∂k, ∂²w/∂k²)`` of the market: its surface (event included after
        ``T_e``) or the flat ATM curve. Arrays broadcast; ``times > 0``."""
        t, k = np.broadcast_arrays(np.asarray(times, float), np.asarray(log_moneyness, float))
        if self.market_surface is not None:
            return self.market_surface.derivatives(expiries=t, log_moneyness=k)
        zeros = np.zeros(k.shape)
        return self.atm_vols.total_variance(t), zeros, zeros

    def diffusion_variance(self, *, times: np.ndarray, log_moneyness: np.ndarray) -> Triple:
        """``(w_d, w_d', w_d'')`` of the diffusion to ``times ≤ T_e``: the market surface's
        diffusive part, or the event-stripped ATM curve flat in ``k``."""
        if self.market_surface is not None:
            return self.market_variance(times=times, log_moneyness=log_moneyness)
        t, k = np.broadcast_arrays(np.asarray(times, float), np.asarray(log_moneyness, float))
        zeros = np.zeros(k.shape)
        return self.pre_atm.total_variance(t), zeros, zeros

    def post_variance(self, index: int, *, times: np.ndarray, log_moneyness: np.ndarray) -> Triple:
        """Scenario ``index``'s post-event ``(w, w', w'')`` at ``τ = times > 0``."""
        t, k = np.broadcast_arrays(np.asarray(times, float), np.asarray(log_moneyness, float))
        smile = self.smiles[index]
        squared = smile.scale * smile.scale
        if smile.surface is not None:
            w, w1, w2 = smile.surface.derivatives(expiries=t, log_moneyness=k)
            return squared * w, squared * w1, squared * w2
        zeros = np.zeros(k.shape)
        return squared * smile.vol * smile.vol * t, zeros, zeros

    def component_variance(
        self, index: int, *, expiries: np.ndarray, log_moneyness: np.ndarray
    ) -> Triple:
        """Total variance to ``T`` of scenario ``index``'s lognormal at its own ``k_i``.

        ``k_i = ln(K/(F·J_i))``; before the event there is no jump and the component is the
        market. Arrays broadcast; the triple is ``(W, W', W'')`` in ``k_i``.
        """
        t, k = np.broadcast_arrays(np.asarray(expiries, float), np.asarray(log_moneyness, float))
        pre_t = np.minimum(t, self.event_time)
        post_t = t - pre_t
        pre = self.diffusion_variance(times=pre_t, log_moneyness=k)
        after = post_t > 0
        if not after.any():
            return pre
        if self.tree is not None:  # leaf ``index``: accrued segments plus its open one
            rows = interval_rows(self.tree.times, t)
            open_vols = self.tree.vols[rows, index]
            w = self.tree.variances[rows, index] + open_vols**2 * segment_times(self.tree.times, t)
            return pre[0] + np.where(after, w, 0.0), pre[1], pre[2]
        post = self.post_variance(index, times=np.where(after, post_t, 1.0), log_moneyness=k)
        return tuple(p + np.where(after, q, 0.0) for p, q in zip(pre, post, strict=True))  # type: ignore[return-value]

    def inputs(
        self,
        *,
        expiries: np.ndarray,
        forwards: np.ndarray,
        strikes: np.ndarray,
        jumps: np.ndarray,
    ) -> VolInputs:
        """Vols and slopes at each option's strike (``[n]`` arrays; ``jumps`` ``[m]``, or a
        tree's ``[n, L]``: each leaf's cumulative jump as of each expiry)."""
        t = np.asarray(expiries, dtype=float)
        pre_t = np.minimum(t, self.event_time)
        post_t = np.maximum(t - self.event_time, 0.0)
        n = t.shape[0]
        valid = np.ones(n, dtype=bool)
        after = post_t > 0
        jumps = np.asarray(jumps, dtype=float)
        if self.market_surface is None:
            pre_vols = np.sqrt(self.pre_atm.total_variance(pre_t) / pre_t)
            pre_slopes = np.zeros(n)
        else:
            # the pre-event smile at K/J_i after the event, at K before it
            per_option = jumps if jumps.ndim == 2 else jumps[None, :]
            shifted = forwards[:, None] * np.where(after[:, None], per_option, 1.0)
            pre = self.market_surface.vols(
                expiries=pre_t[:, None], strikes=strikes[:, None], forwards=shifted
            )
            valid &= pre.valid.all(axis=1)
            pre_vols = np.where(pre.valid, pre.vols, 1.0)
            pre_slopes = np.where(pre.valid, pre.vol_slopes, 0.0)
        if self.tree is not None:  # each leaf's row of its expiry's interval
            rows = interval_rows(self.tree.times, t)
            return VolInputs(
                pre_t,
                segment_times(self.tree.times, t),
                pre_vols,
                pre_slopes,
                self.tree.vols[rows],
                None,
                valid,
                self.tree.variances[rows],
                self.tree.vol_times[rows],
            )
        flat = np.array([s.vol * s.scale for s in self.smiles])
        if not self.has_scenario_smiles:
            return VolInputs(pre_t, post_t, pre_vols, pre_slopes, flat, None, valid)
        tau = np.where(after, post_t, 1.0)
        vols = np.repeat(flat[None, :], n, axis=0)
        slopes = np.zeros((n, flat.size))
        for j, smile in enumerate(self.smiles):
            if smile.surface is None:
                continue
            post = smile.surface.vols(expiries=tau, strikes=strikes, forwards=forwards * jumps[j])
            valid &= post.valid | ~after
            vols[:, j] = np.where(post.valid, post.vols * smile.scale, smile.vol)
            slopes[:, j] = np.where(post.valid, post.vol_slopes * smile.scale, 0.0)
        return VolInputs(pre_t, post_t, pre_vols, pre_slopes, vols, slopes, valid)


@lru_cache(maxsize=128)
def build_vol_model(market: MarketSnapshot, scenario_set: ScenarioSet) -> VolModel:
    """The vol model of ``scenario_set`` on ``market``; scenario smiles fitted here.

    Raises:
        DomainError: a scenario smile no SVI slice matches, named under
            ``scenario_set.scenarios[i].smile``; a smile on a tree set's leaf (not
            supported: branches hold flat vols); a tree the market refuses
            (:meth:`scenarios.scenario.ScenarioSet.check_against`).
    """
    event_time = year_fraction(market.valuation_date, scenario_set.event_date)
    # every decision's variance out of the quotes (a tree's later nodes too)
    decisions = scenario_set.event_times(market.valuation_date)
    tree = None
    if scenario_set.tree is not None:
        for i, scenario in enumerate(scenario_set.scenarios):
            if scenario.smile is not None:
                raise DomainError.field(
                    f"scenario_set.scenarios[{i}].smile",
                    "is not supported under a decision tree: each branch holds a flat vol "
                    "(scenario_set.tree.nodes[i].branches[j].vol)",
                )
        tree = _tree_vols(market, scenario_set)
    smiles = tuple(
        _post_event(market, scenario_set, i, scenario)
        for i, scenario in enumerate(scenario_set.scenarios)
    )
    return VolModel(
        event_time,
        market.atm_vols,
        market.vol_surface(decisions),
        smiles,
        market.diffusion_atm(decisions),
        tree,
    )


def _tree_vols(market: MarketSnapshot, scenario_set: ScenarioSet) -> VolTables:
    """A tree set's leaf vols per interval between its node dates (leaf ``ℓ`` is
    ``scenario_set.scenarios[ℓ]``: both depth first in branch order)."""
    tree = scenario_set.tree
    assert tree is not None
    scenario_set.check_against(market.valuation_date, market.spot)
    inputs = tree.inputs(valuation_date=market.valuation_date, spot=market.spot)
    shape = inputs.shape
    if shape.paths.shape[0] != len(scenario_set.scenarios):
        raise ValueError("the tree's leaves are not the set's scenarios")
    return vol_tables(
        times=np.unique(shape.node_times),
        paths=shape.paths,
        path_times=shape.path_times,
        branch_vols=inputs.vols,
    )


def _post_event(
    market: MarketSnapshot, scenario_set: ScenarioSet, index: int, scenario: Scenario
) -> PostEventSmile:
    smile = scenario.smile
    if smile is None:
        return PostEventSmile(SmileSource.FLAT, scenario.vol, None)
    path = f"scenario_set.scenarios[{index}].smile"
    try:
        if smile.quotes:
            surface = _from_quotes(market, scenario_set, scenario, smile)
        else:
            surface = _from_shift(market, scenario, smile)
    except DomainError as exc:
        raise exc.prefixed(path) from None
    source = SmileSource.QUOTES if smile.quotes else SmileSource.SHIFT
    return PostEventSmile(source, scenario.vol, surface)


def _from_quotes(
    market: MarketSnapshot, scenario_set: ScenarioSet, scenario: Scenario, smile: ScenarioSmile
) -> VolSurface:
    """Quotes with tenors from the event date: USD discounting from the event to delivery."""
    event = scenario_set.event_date
    try:
        check_quotes(smile.quotes, event)
    except DomainError as exc:
        raise exc.prefixed("quotes") from None
    t_event = year_fraction(market.valuation_date, event)
    deliveries = t_event + year_fractions(event, tuple(q.delivery for q in smile.quotes))
    usd = market.usd_discount_factors(deliveries) / market.usd_discount_factors(t_event)
    carry = market.forwards(deliveries) / market.forwards(np.array(t_event))
    try:
        fitted = fit_quotes(
            quotes=smile.quotes,
            expiries=year_fractions(event, tuple(q.expiry for q in smile.quotes)),
            forwards=scenario.level * carry,
            foreign_discount_factors=usd,
            conventions=_conventions(market),
        )
    except DomainError as exc:
        raise exc.prefixed("quotes") from None
    return build_surface(smiles=fitted)


def _from_shift(market: MarketSnapshot, scenario: Scenario, smile: ScenarioSmile) -> VolSurface:
    """The market's pillars (or the ATM curve's, flat) moved by the shift, as post-event
    tenors of the same length."""
    shift = smile.shift
    assert shift is not None
    today = market.valuation_date
    if market.surface is not None:
        base = market.surface.quotes
    else:
        dates = market.atm_vols.pillar_dates
        base = tuple(
            SmileQuote(d, d, vol, 0.0, 0.0)
            for d, vol in zip(dates, market.atm_vols.vols, strict=True)
        )
    if (shift.rr10 or shift.bf10) and not all(q.has_10d for q in base):
        name = "rr10" if shift.rr10 else "bf10"
        raise DomainError.field(
            f"shift.{name}", "the market's surface has no 10-delta quotes to shift"
        )
    shifted = []
    for quote in base:
        try:
            shifted.append(shift.applied(quote))
        except DomainError as exc:
            reason = f"moves the {_label(quote)} pillar out of range: {exc.errors[0].reason}"
            raise DomainError.field(f"shift.{exc.errors[0].field}", reason) from None
    deliveries = year_fractions(today, tuple(q.delivery for q in base))
    try:
        fitted = fit_quotes(
            quotes=tuple(shifted),
            expiries=year_fractions(today, tuple(q.expiry for q in base)),
            forwards=market.forwards(deliveries) * scenario.level / market.spot,
            foreign_discount_factors=market.usd_discount_factors(deliveries),
            conventions=_conventions(market),
        )
    except DomainError as exc:
        error = exc.errors[0]
        index, _, name = error.field.partition("].")
        failed = base[int(index.lstrip("["))] if index.lstrip("[").isdigit() else None
        where = f" at the {_label(failed)} pillar" if failed is not None else ""
        raise DomainError.field(f"shift.{name or 'atm'}", f"{error.reason}{where}") from None
    return build_surface(smiles=fitted)


def _label(quote: SmileQuote) -> str:
    return quote.tenor or quote.expiry.isoformat()


def _conventions(market: MarketSnapshot) -> SmileConventions:
    return market.surface.conventions if market.surface is not None else SmileConventions()
