"""The event's variance read off an ATM term structure (pricing.vol.event_strip).

Witnesses: term structures built by hand from a known diffusion and known events (the
decomposition ``w(T) = w_d(T) + Σ v_e·1[T > T_e]`` of Clark, *Foreign Exchange Option
Pricing*, 2011, ch. 4), flat vol (no premium anywhere), and the event-day weight formula
``v = Δw·ε/(ΔT + ε)`` worked by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from pricing.curve import atm_total_variance
from pricing.vol.event_strip import EventSizing, event_day_vol, strip_events

PILLARS = np.array([7, 32, 94, 183, 365]) / 365.0


def _built(rates: list[float], events: list[tuple[float, float]]) -> np.ndarray:
    """Total variance at PILLARS of a piecewise-constant diffusion (``rates`` per interval)
    plus the ``(time, variance)`` events."""
    starts = np.concatenate(([0.0], PILLARS[:-1]))
    w = np.cumsum(np.array(rates) * (PILLARS - starts))
    return w + np.array([sum(v for t, v in events if t < p) for p in PILLARS])


def test_one_event_is_recovered_when_its_interval_runs_at_the_next_intervals_rate() -> None:
    rates = [0.0144, 0.0110, 0.0110, 0.0105, 0.0100]
    event = (20 / 365.0, 0.00021)
    strip = strip_events(
        pillar_times=PILLARS, total_variances=_built(rates, [event]), event_times=[event[0]]
    )
    assert strip.event_variances[0] == pytest.approx(event[1], rel=1e-12)
    assert strip.diffusion_rates[0] == pytest.approx(0.0110, rel=1e-12)
    np.testing.assert_allclose(strip.diffusion_variances, _built(rates, []), rtol=1e-12)
    # inside the event's interval the diffusion, interpolated in total variance, is linear
    w_d = atm_total_variance(
        pillar_times=PILLARS,
        vols=np.sqrt(strip.diffusion_variances / PILLARS),
        times=np.array(event[0]),
    )
    assert float(w_d) == pytest.approx(_built(rates, [])[0] + 0.0110 * (event[0] - PILLARS[0]))


def test_flat_vol_holds_no_event_premium() -> None:
    w = 0.105**2 * PILLARS
    strip = strip_events(pillar_times=PILLARS, total_variances=w, event_times=[0.05, 0.6])
    np.testing.assert_allclose(strip.event_variances, 0.0, atol=1e-18)
    np.testing.assert_allclose(strip.diffusion_variances, w, rtol=1e-15)


def test_events_in_two_intervals_are_each_recovered() -> None:
    """Two decision dates (the news: 07-09, then 08-01) in two pillar intervals; each runs at
    the rate of the next event-free interval."""
    rates = [0.0144, 0.0110, 0.0110, 0.0110, 0.0100]
    events = [(20 / 365.0, 0.00015), (60 / 365.0, 0.00008)]
    w = _built(rates, events)
    strip = strip_events(
        pillar_times=PILLARS, total_variances=w, event_times=[t for t, _ in events]
    )
    np.testing.assert_allclose(strip.event_variances, [0.00015, 0.00008], rtol=1e-11)


def test_two_events_in_one_interval_share_its_excess_equally() -> None:
    rates = [0.0144, 0.0110, 0.0110, 0.0105, 0.0100]
    w = _built(rates, [(15 / 365.0, 0.0001), (25 / 365.0, 0.0003)])
    strip = strip_events(pillar_times=PILLARS, total_variances=w, event_times=[15 / 365, 25 / 365])
    np.testing.assert_allclose(strip.event_variances, [0.0002, 0.0002], rtol=1e-11)


def test_an_event_on_a_pillar_date_belongs_to_the_next_interval() -> None:
    """An option expiring on the decision day does not hold the decision."""
    rates = [0.0144, 0.0120, 0.0110, 0.0110, 0.0100]
    w = _built(rates, [(PILLARS[1] + 1e-9, 0.0002)])  # just after the 1M pillar
    strip = strip_events(pillar_times=PILLARS, total_variances=w, event_times=[PILLARS[1]])
    assert strip.event_variances[0] == pytest.approx(0.0002, rel=1e-9)
    assert strip.diffusion_variances[1] == pytest.approx(w[1], rel=1e-15)


def test_the_last_interval_runs_at_the_flat_extrapolation_rate() -> None:
    """Past the last pillar the ATM curve holds the last vol flat (pricing.curve): an event in
    the last interval is measured against ``σ_n²``."""
    times = np.array([30, 90]) / 365.0
    w = np.array([0.10**2 * times[0], 0.10**2 * times[1] + 0.0004])
    strip = strip_events(pillar_times=times, total_variances=w, event_times=[60 / 365])
    sigma_n2 = w[1] / times[1]
    expected = (w[1] - w[0]) - sigma_n2 * (times[1] - times[0])
    assert strip.event_variances[0] == pytest.approx(expected, rel=1e-12)


def test_an_event_past_the_last_pillar_or_short_of_the_diffusion_carries_nothing() -> None:
    w = np.array([0.12, 0.10, 0.11, 0.11, 0.11]) ** 2 * PILLARS  # 1W→1M forward below 3M's
    strip = strip_events(pillar_times=PILLARS, total_variances=w, event_times=[20 / 365, 2.0])
    assert strip.event_variances[0] == 0.0 and strip.event_variances[1] == 0.0
    assert np.isnan(strip.diffusion_rates[1])
    np.testing.assert_allclose(strip.diffusion_variances, w)


def test_event_day_weight_shares_the_interval_at_one_rate() -> None:
    """``1 + N`` ordinary days: ``v = Δw·ε/(ΔT + ε)``, ``ε = N/365`` (worked by hand)."""
    w = np.array([0.12, 0.115, 0.108, 0.105, 0.103]) ** 2 * PILLARS
    strip = strip_events(
        pillar_times=PILLARS,
        total_variances=w,
        event_times=[26 / 365],
        sizing=EventSizing.EVENT_DAY_WEIGHT,
        extra_days=3.0,
    )
    dw, dt, eps = w[1] - w[0], PILLARS[1] - PILLARS[0], 3 / 365
    assert strip.event_variances[0] == pytest.approx(dw * eps / (dt + eps), rel=1e-13)
    assert strip.diffusion_rates[0] == pytest.approx(dw / (dt + eps), rel=1e-12)


def test_event_day_vol_is_one_day_annualised() -> None:
    assert event_day_vol(0.2**2 / 365) == pytest.approx(0.2, rel=1e-15)
