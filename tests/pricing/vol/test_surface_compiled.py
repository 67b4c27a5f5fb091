"""The compiled surface read against the documented formulas, evaluated in mpmath.

Witness: raw SVI (Gatheral 2006, eq. 3.1) and the surface's documented interpolation — the
diffusive variance ``w_j(k) − E(T_j)`` linear in ``T`` between pillars, from 0 before the
first, ∝ ``T`` after the last, plus ``E(T) = Σ v_e·1[T > T_e]`` — written out here per point
in 40-digit arithmetic; ``∂w/∂k``, ``∂²w/∂k²`` and ``dσ/dK`` are numerical derivatives
(``mpmath.diff``) of that reference, so the closed forms are checked too. Tolerances are
rounding bounds: a few ε times the sum of the magnitudes of the terms.

Test data (assumptions): four USD/JPY-like pillars (1W, 1M, 3M, 1Y) with hand-set raw SVI
parameters, events before the first pillar, between pillars (the 2025-07-09 deadline, 26 days
out) and after the last.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from pricing.fx.normalised_black import PARALLEL_THRESHOLD
from pricing.vol.quotes import SmileConventions
from pricing.vol.surface import EventVariance, VolSurface, build_surface
from pricing.vol.svi import SviParams, SviSmiles, svi_variance

EPS = float(np.finfo(float).eps)
PILLARS = np.array([7, 32, 94, 367]) / 365.0
PARAMS = np.array(  # a, b, ρ, m, s per pillar
    [
        [0.00015, 0.0040, -0.30, 0.002, 0.030],
        [0.00080, 0.0120, -0.28, 0.004, 0.060],
        [0.00220, 0.0260, -0.32, 0.010, 0.090],
        [0.00700, 0.0600, -0.35, 0.020, 0.150],
    ]
)
EVENTS = ((3 / 365, 2e-5), (26 / 365, 9e-5), (1.5, 4e-4))
FORWARD = 144.1


@pytest.fixture(autouse=True)
def forty_digits():
    with mp.workdps(40):
        yield


def make_surface(params: np.ndarray = PARAMS, events=EVENTS) -> VolSurface:
    n = params.shape[0]
    smiles = SviSmiles(
        PILLARS[:n],
        np.full(n, FORWARD),
        np.ones(n),
        SviParams(*(params[:, i].copy() for i in range(5))),
        SmileConventions(),
    )
    return build_surface(smiles=smiles, events=[EventVariance(t, v) for t, v in events])


def svi_mp(params: np.ndarray, k: mp.mpf) -> mp.mpf:
    a, b, rho, m, s = (mp.mpf(float(x)) for x in params)
    z = k - m
    return a + b * (rho * z + mp.sqrt(z * z + s * s))


def events_before(t: float, events=EVENTS) -> mp.mpf:
    return mp.fsum(mp.mpf(v) for time, v in events if t > time)


def reference_variance(t: float, k: mp.mpf, params: np.ndarray = PARAMS, events=EVENTS) -> mp.mpf:
    pillars = [float(p) for p in PILLARS[: params.shape[0]]]
    diffusive = [
        svi_mp(p, k) - events_before(T, events) for p, T in zip(params, pillars, strict=True)
    ]
    tm = mp.mpf(t)
    if t <= pillars[0]:
        w = diffusive[0] * tm / pillars[0]
    elif t > pillars[-1]:
        w = diffusive[-1] * tm / pillars[-1]
    else:
        j = next(j for j in range(1, len(pillars)) if t <= pillars[j])
        weight = (tm - pillars[j - 1]) / (mp.mpf(pillars[j]) - pillars[j - 1])
        w = diffusive[j - 1] + (diffusive[j] - diffusive[j - 1]) * weight
    return w + events_before(t, events)


def magnitudes(t: float, k: float) -> tuple[float, float]:
    """Scales of the rounding error of ``w`` and ``w'``: Σ|terms| over the pillars used."""
    a, b, rho, m, s = PARAMS.T
    z = np.abs(k - m)
    spread = max(1.0, t / PILLARS[-1])
    w_scale = np.max(np.abs(a) + b * (np.abs(rho) * z + np.hypot(z, s))) + sum(v for _, v in EVENTS)
    return float(w_scale * spread), float(np.max(b * (np.abs(rho) + 1.0)) * spread)


def special_expiries() -> np.ndarray:
    times = [t for t, _ in EVENTS] + list(PILLARS)
    around = [np.nextafter(t, d) for t in times for d in (0.0, 10.0)]
    return np.array([1e-6, 1 / 365, *times, *around, 0.8, 2.0, 3.0])


def sample_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(26)
    special = special_expiries()
    t = np.concatenate([np.repeat(special, 2), rng.uniform(1e-3, 2.5, 40)])
    k = np.concatenate([np.tile([0.0, -0.25], special.size), rng.uniform(-1.2, 1.2, 40)])
    return t, k


def test_svi_variance_matches_mpmath() -> None:
    rng = np.random.default_rng(2004)
    params = np.vstack([PARAMS, [[-0.041, 0.1331, 0.306, 0.3586, 0.4153]]])  # + G&J Ex. 3.1
    rows = rng.integers(0, params.shape[0], 60)
    k = np.concatenate([rng.uniform(-3.0, 3.0, 55), [-40.0, -1e-12, 0.0, 1e-12, 40.0]])
    got = svi_variance(log_moneyness=k, params=SviParams(*params[rows].T))
    for i in range(k.size):
        a, b, rho, m, s = params[rows[i]]
        z = abs(k[i] - m)
        scale = abs(a) + b * (abs(rho) * z + math.hypot(z, s))
        km = mp.mpf(float(k[i]))
        w = svi_mp(params[rows[i]], km)
        w1 = mp.diff(lambda x, p=params[rows[i]]: svi_mp(p, x), km, 1)
        w2 = mp.diff(lambda x, p=params[rows[i]]: svi_mp(p, x), km, 2)
        assert abs(got[0][i] - w) <= 16 * EPS * scale
        assert abs(got[1][i] - w1) <= 16 * EPS * b * (abs(rho) + 1.0)
        assert abs(got[2][i] - w2) <= 16 * EPS * w2


def test_surface_derivatives_match_the_documented_interpolation() -> None:
    surface = make_surface()
    t, k = sample_points()
    w, w1, w2 = surface.derivatives(expiries=t, log_moneyness=k)
    for i in range(t.size):
        km = mp.mpf(float(k[i]))
        w_scale, w1_scale = magnitudes(t[i], k[i])
        reference = reference_variance(t[i], km)
        slope = mp.diff(lambda x, ti=t[i]: reference_variance(ti, x), km, 1)
        curvature = mp.diff(lambda x, ti=t[i]: reference_variance(ti, x), km, 2)
        assert abs(w[i] - reference) <= 32 * EPS * w_scale, (t[i], k[i])
        assert abs(w1[i] - slope) <= 32 * EPS * w1_scale, (t[i], k[i])
        assert abs(w2[i] - curvature) <= 32 * EPS * curvature, (t[i], k[i])


def test_event_variance_is_added_strictly_after_its_date() -> None:
    surface = make_surface()
    times = special_expiries()
    expected = [sum(v for time, v in EVENTS if t > time) for t in times]
    np.testing.assert_allclose(surface.event_variance(times), expected, rtol=4 * EPS, atol=0)
    for time, variance in EVENTS:
        on, after = surface.derivatives(
            expiries=np.array([time, np.nextafter(time, 10.0)]), log_moneyness=0.0
        )[0]
        assert after - on == pytest.approx(variance, rel=1e-9)


def test_surface_vols_and_slopes_match_mpmath() -> None:
    surface = make_surface()
    t, k = sample_points()
    strikes = FORWARD * np.exp(k) * (1 + 1e-3)  # k = ln(K/F) is rounded, as in use
    vols = surface.vols(expiries=t, strikes=strikes, forwards=FORWARD)
    assert vols.valid.all()
    for i in range(t.size):
        forward, strike = mp.mpf(FORWARD), mp.mpf(float(strikes[i]))

        def sigma(x: mp.mpf, ti: float = t[i], forward: mp.mpf = forward) -> mp.mpf:
            return mp.sqrt(reference_variance(ti, mp.log(x / forward)) / ti)

        km = mp.log(strike / forward)
        w = reference_variance(t[i], km)
        w1 = mp.diff(lambda x, ti=t[i]: reference_variance(ti, x), km, 1)
        w2 = mp.diff(lambda x, ti=t[i]: reference_variance(ti, x), km, 2)
        w_scale, w1_scale = magnitudes(t[i], float(km))
        k_error = 4 * EPS * (1 + abs(float(km)))  # K/F and the log, rounded
        vol, slope = sigma(strike), mp.diff(sigma, strike)
        vol_tol = vol * ((32 * EPS * w_scale + k_error * abs(w1)) / (2 * w) + 4 * EPS)
        slope_tol = (
            32 * EPS * w1_scale + k_error * abs(w2) + abs(w1) * (vol_tol / vol + 4 * EPS)
        ) / (2 * vol * t[i] * strike)
        assert abs(vols.vols[i] - vol) <= vol_tol, (t[i], k[i])
        assert abs(vols.vol_slopes[i] - slope) <= slope_tol, (t[i], k[i])


def test_one_option_read_broadcasts_like_the_pricer() -> None:
    # the pricer's shape: expiry and strike [1, 1] against 5 scenario forwards [1, 5]
    surface = make_surface()
    forwards = FORWARD * np.array([[0.93, 0.97, 1.0, 1.02, 1.06]])
    vols = surface.vols(expiries=np.array([[0.3]]), strikes=np.array([[145.0]]), forwards=forwards)
    assert vols.vols.shape == vols.vol_slopes.shape == vols.valid.shape == (1, 5)
    for j in range(5):
        km = mp.log(mp.mpf(145.0) / mp.mpf(float(forwards[0, j])))
        expected = mp.sqrt(reference_variance(0.3, km) / mp.mpf(0.3))
        assert vols.vols[0, j] == pytest.approx(float(expected), rel=1e-13)


def test_broadcasting_and_scalars_match_elementwise_reads() -> None:
    surface = make_surface()
    t = np.array([0.01, 0.05, 0.2, 0.9, 2.0])
    k = np.linspace(-0.4, 0.4, 7)
    w, w1, w2 = surface.derivatives(expiries=t[:, None], log_moneyness=k[None, :])
    assert w.shape == w1.shape == w2.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            point = surface.derivatives(expiries=t[i], log_moneyness=k[j])
            assert all(np.shape(x) == () for x in point)
            assert (w[i, j], w1[i, j], w2[i, j]) == tuple(point)
    transposed = surface.derivatives(expiries=t[None, :], log_moneyness=k[:, None])
    for a, b in zip(transposed, (w, w1, w2), strict=True):
        np.testing.assert_array_equal(a, b.T)
    strided = surface.derivatives(expiries=np.repeat(t, 2)[::2], log_moneyness=k[::3][:, None])
    np.testing.assert_array_equal(strided[0], w[:, ::3].T)
    strikes = FORWARD * np.exp(k)
    vols = surface.vols(expiries=t[:, None], strikes=strikes, forwards=FORWARD)
    assert vols.vols.shape == vols.valid.shape == (5, 7)
    one = surface.vols(expiries=t[2], strikes=strikes[3], forwards=FORWARD)
    assert np.shape(one.vols) == np.shape(one.vol_slopes) == np.shape(one.valid) == ()
    assert (one.vols, one.vol_slopes) == (vols.vols[2, 3], vols.vol_slopes[2, 3])


def test_threaded_read_equals_small_reads() -> None:
    surface = make_surface()
    rng = np.random.default_rng(9)
    t = rng.uniform(1e-3, 3.0, PARALLEL_THRESHOLD + 7)
    k = rng.uniform(-1.0, 1.0, t.size)
    big = surface.derivatives(expiries=t, log_moneyness=k)
    chunks = [
        surface.derivatives(expiries=a, log_moneyness=b)
        for a, b in zip(np.array_split(t, 50), np.array_split(k, 50), strict=True)
    ]
    for n in range(3):
        np.testing.assert_array_equal(big[n], np.concatenate([c[n] for c in chunks]))
    strikes = FORWARD * np.exp(k)
    big_vols = surface.vols(expiries=t, strikes=strikes, forwards=FORWARD)
    small = [
        surface.vols(expiries=a, strikes=b, forwards=FORWARD)
        for a, b in zip(np.array_split(t, 50), np.array_split(strikes, 50), strict=True)
    ]
    np.testing.assert_array_equal(big_vols.vols, np.concatenate([s.vols for s in small]))
    np.testing.assert_array_equal(
        big_vols.vol_slopes, np.concatenate([s.vol_slopes for s in small])
    )


def test_non_positive_total_variance_is_flagged_and_nan() -> None:
    # a = −0.01, b·s = 0.005: w(k) = −0.01 + 0.1·√(k² + 0.05²) is negative for |k| < 0.0866
    params = np.array([[-0.01, 0.1, 0.0, 0.0, 0.05]])
    surface = make_surface(params, events=())
    k = np.array([-0.3, -0.1, -0.05, 0.0, 0.05, 0.1, 0.3])
    vols = surface.vols(expiries=1.0, strikes=FORWARD * np.exp(k), forwards=FORWARD)
    positive = np.array([reference_variance(1.0, mp.mpf(float(x)), params, ()) > 0 for x in k])
    assert positive.tolist() == [True, True, False, False, False, True, True]
    np.testing.assert_array_equal(vols.valid, positive)
    assert np.isnan(vols.vols[~positive]).all() and np.isnan(vols.vol_slopes[~positive]).all()
    assert np.isfinite(vols.vols[positive]).all() and np.isfinite(vols.vol_slopes[positive]).all()
    # w = −0.25 + 0.5·√(0 + 0.5²) = 0 exactly at the money: not positive, so not valid
    zero = make_surface(np.array([[-0.25, 0.5, 0.0, 0.0, 0.5]]), events=())
    assert zero.derivatives(expiries=PILLARS[0], log_moneyness=0.0)[0] == 0.0
    at_the_money = zero.vols(expiries=PILLARS[0], strikes=FORWARD, forwards=FORWARD)
    assert not at_the_money.valid and math.isnan(at_the_money.vols)


@pytest.mark.parametrize("bad", [0.0, -0.5, math.nan])
@pytest.mark.parametrize("size", [3, PARALLEL_THRESHOLD + 1])
def test_non_positive_expiries_raise(bad: float, size: int) -> None:
    surface = make_surface()
    t = np.full(size, 0.5)
    t[size // 2] = bad
    with pytest.raises(ValueError, match="expiries must be positive"):
        surface.derivatives(expiries=t, log_moneyness=0.0)
    with pytest.raises(ValueError, match="expiries must be positive"):
        surface.vols(expiries=t, strikes=FORWARD, forwards=FORWARD)
    # an empty broadcast reads nothing, so nothing is wrong with it
    assert surface.derivatives(expiries=bad, log_moneyness=np.zeros(0))[0].shape == (0,)
