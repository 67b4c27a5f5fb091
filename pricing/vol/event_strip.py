"""The event's variance read off an ATM term structure, and the diffusion left without it.

Conventions: times in years ACT/365F from the valuation date; ``w`` the ATM total variance
``σ²T`` (a decimal squared, not in vol points); forward variance rates ``Δw/ΔT`` per year.

Market quotes for expiries after a decision already hold its variance. Read as

    w(T) = w_d(T) + Σ_e v_e·1[T > T_e]

with ``w_d`` the diffusion, each event's variance ``v_e`` is what the pillar interval holding
it carries beyond the diffusion's rate over that interval (the desk practice of event-day
weights: Clark, *Foreign Exchange Option Pricing*, 2011, ch. 4; Castagna, *FX Options and
Smile Risk*, 2010, §6 "event" volatility). Two ways to size the diffusion's rate there:

``term_structure`` (the default)
    The interval ``(T_{j−1}, T_j]`` holding an event runs at the forward variance rate of the
    nearest later interval holding no event — the ordinary days after the decision — and,
    past the last pillar, at the last pillar's vol squared (the ATM curve's own flat-vol
    extrapolation, :mod:`pricing.curve`). The event carries the rest:
    ``v = max(Δw_j − r·ΔT_j, 0)``, shared equally by the events of one interval.
``event_day_weight``
    The desk states how many ordinary days the decision day counts for (``1 + extra_days``):
    ``v = Δw_j·ε/(ΔT_j + ε)`` with ``ε = extra_days/365`` (one rate for diffusion and event
    days in the interval; :func:`pricing.vol.surface.event_variance_from_weight`).

An event on a pillar's own date belongs to the next interval: an option expiring on the
decision day does not hold it (as the mixture pricer). An interval whose variance falls
short of the diffusion's rate gives ``v = 0``: the quotes then price no premium for the day.

The diffusion's pillar variances are ``w_d(T_j) = w(T_j) − Σ_{T_e < T_j} v_e``: non-negative,
non-decreasing, and — interpolated linearly in total variance as the ATM curve is — equal to
``w(T_{j−1}) + r·(T − T_{j−1})`` inside an event's interval, the diffusion the pricer reads
up to the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class EventSizing(StrEnum):
    """How an event's variance is read off the term structure (module docstring)."""

    TERM_STRUCTURE = "term_structure"
    EVENT_DAY_WEIGHT = "event_day_weight"


@dataclass(frozen=True)
class EventStrip:
    """Events' variances and the diffusion left once they are removed.

    Attributes:
        event_variances: ``v_e`` ``[e]``, total variance each event adds, in the order given.
        diffusion_rates: the diffusion's forward variance rate over each event's pillar
            interval ``[e]`` (per year; NaN for an event past the last pillar).
        interval_increments: ``Δw`` of each event's interval ``[e]`` (NaN past the last).
        diffusion_variances: ``w_d(T_j)`` at the pillars ``[p]``.
        sizing: the rule used.
    """

    event_variances: np.ndarray
    diffusion_rates: np.ndarray
    interval_increments: np.ndarray
    diffusion_variances: np.ndarray
    sizing: EventSizing


def strip_events(
    *,
    pillar_times: np.ndarray,
    total_variances: np.ndarray,
    event_times: np.ndarray,
    sizing: EventSizing = EventSizing.TERM_STRUCTURE,
    extra_days: float = 0.0,
) -> EventStrip:
    """Split the ATM term structure ``total_variances`` at ``pillar_times`` ``[p]`` into the
    events at ``event_times`` ``[e]`` and the diffusion (module docstring).

    Pillars are sorted, positive and hold non-decreasing variances (the callers' snapshots
    check that); events are positive times. ``extra_days`` is read by
    :attr:`EventSizing.EVENT_DAY_WEIGHT` only.
    """
    times = np.asarray(pillar_times, dtype=float)
    w = np.asarray(total_variances, dtype=float)
    events = np.atleast_1d(np.asarray(event_times, dtype=float))
    starts = np.concatenate(([0.0], times[:-1]))
    increments = w - np.concatenate(([0.0], w[:-1]))
    rates = increments / (times - starts)
    # interval j holds the events with T_{j-1} <= T_e < T_j; j = p for events past the last
    holder = np.searchsorted(times, events, side="right")
    counts = np.bincount(holder, minlength=times.size + 1)
    v = np.zeros(events.size)
    diffusion_rates = np.full(events.size, np.nan)
    interval_increments = np.full(events.size, np.nan)
    tail_rate = w[-1] / times[-1]  # flat vol past the last pillar
    for e, j in enumerate(holder):
        if j >= times.size:
            continue  # past the last pillar: no quote holds it
        span = times[j] - starts[j]
        if sizing is EventSizing.EVENT_DAY_WEIGHT:
            epsilon = extra_days / 365.0
            share = max(increments[j], 0.0) * epsilon / (span + epsilon)
            rate = (increments[j] - share) / span
        else:
            later = [k for k in range(j + 1, times.size) if counts[k] == 0]
            rate = rates[later[0]] if later else tail_rate
            share = max(increments[j] - rate * span, 0.0)
        v[e] = share / counts[j]
        diffusion_rates[e] = rate if share > 0.0 else rates[j]
        interval_increments[e] = increments[j]
    removed = np.array([v[events < t].sum() for t in times])
    return EventStrip(
        event_variances=v,
        diffusion_rates=diffusion_rates,
        interval_increments=interval_increments,
        diffusion_variances=w - removed,
        sizing=sizing,
    )


def event_day_vol(event_variance: float) -> float:
    """The annualised vol of one day carrying ``event_variance``: ``√(365·v)``."""
    return float(np.sqrt(365.0 * event_variance))
