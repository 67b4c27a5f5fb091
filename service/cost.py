"""What a request will cost, estimated from its validated body before any domain work.

A *work unit* is about one microsecond of one core on the 2-core reference machine (the
coefficients below were measured there, ``bench/bench_path_lines.py`` and the README's
performance table). Every pricing route estimates its request, then:

* refuses it with a ``422`` naming the field that drives the cost when the estimate is over
  ``FXSCEN_MAX_WORK_UNITS`` (default 3·10⁷, about 30 s);
* values it on the event loop only below ``FXSCEN_INLINE_WORK_UNITS`` (default 2,000,
  about 2 ms), on a worker thread otherwise, and in one of the ``FXSCEN_HEAVY_WORKERS``
  heavy slots from ``FXSCEN_HEAVY_WORK_UNITS`` (default 2·10⁵, about 0.2 s).

What is counted: FX lines (per line, and per line × scenario; lines under scenario smiles
take the step-by-step path, ~0.3 ms each), CDS contracts × scenarios, Monte Carlo path × step
× (1 + α·(barriers − 1)) — the lines share one simulation, each barrier watched adds α of its
cost: one for a barrier option or touch, two for a corridor (double barriers, double touches,
KOKIs), three for a KIKO (its corridor and its knock-out) — for path lines expiring after the
event (earlier ones are closed forms, but for KOKIs, always simulated), the strike × tenor ×
scenario grid of a vol surface, quotes × scenarios × refit rounds of a calibration, and a fit to
market (``fit`` other than probabilities, or ``fit_to_market`` on ``/v1/price`` and
``/v1/vol-surface``: a calibration per least-squares evaluation; counted whole even when the
fit is cached). An estimate errs high rather than low; the request deadline bounds whatever
it misses.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pricing.paths.model import Sampling
from scenarios.calibration.modes import FitMode
from scenarios.catalog import builtin_catalog
from scenarios.dates import TENOR_PATTERN
from scenarios.errors import DomainError
from service.metrics import record_rejection
from service.schemas.calibrate import CalibrateRequest
from service.schemas.cds import CdsRequest
from service.schemas.market import ScenarioSetIn
from service.schemas.paths import PathsRequest
from service.schemas.price import CdsInstrumentIn, InstrumentIn, PriceRequest
from service.schemas.results import BUILTIN_SET
from service.schemas.vol_surface import VolSurfaceRequest
from service.settings import Settings

# coefficients, work units (≈ µs) — measured on the reference machine
REQUEST = 100.0  # parsing, resolving and rendering a small request
FX_LINE = 30.0  # validation, resolution, valuation and rendering of one FX line
FX_LINE_SCENARIO = 0.1  # the compiled mixture per line × scenario
SMILE_SET = 10_000.0  # fitting the scenarios' post-event smiles
SMILE_LINE = 1.0  # a line's extra cost under scenario smiles, compiled (bench_scenario_smiles)
CONSISTENCY_REPORT = 12_000.0  # the market-consistency report of a set not seen before
CDS_SETUP = 10_000.0  # curves bootstrapped per scenario × entity
CDS_CONTRACT_SCENARIO = 50.0
PATH_STEP = 0.012  # one path × one step, pseudo-random: simulation and the first line
SOBOL_PATH_STEP = 0.05  # the same with Sobol draws and a Brownian bridge
PATH_LINE_SHARE = 0.1  # α: each further path line adds this fraction (pseudo; a dense
SOBOL_LINE_SHARE = 0.02  # ladder of barriers where the paths go, near the worst case)
SURFACE_TENOR = 2_000.0  # quoting back one tenor (strike solves, SVI fits)
SURFACE_POINT = 5.0  # one strike × tenor × scenario of the grid
CALIBRATION = 40_000.0  # the constrained least squares on the default quotes
CALIBRATION_QUOTE_SCENARIO = 200.0
REFIT_ROUNDS = 25  # outer nonlinear rounds of a level/vol refit
FIT_ROUNDS = 20  # residual evaluations of a jump-scale / vol-factor fit (15-25 measured)
TREE_STARTS = 5  # a decision tree's node-by-node fit: solved from up to 5 starts
DEFAULT_FIT_QUOTES = 40  # the market's pillars after the event: 8 tenors × 5 quotes

WEEKDAYS_PER_YEAR = 261  # the daily grid of the path simulations
# barriers a path line watches (α is paid per barrier); any other path kind watches one
PATH_BARRIERS = {
    "double_no_touch": 2,
    "double_one_touch": 2,
    "double_barrier": 2,
    "koki": 2,
    "kiko": 3,
}
ALWAYS_SIMULATED = frozenset({"koki"})  # no closed form, even expiring by the event


@dataclass(frozen=True)
class WorkEstimate:
    """``units`` of work; ``field`` is the request field that drives most of it, ``what``
    says how it was counted (quoted in a refusal)."""

    units: float
    field: str
    what: str


def check_budget(estimate: WorkEstimate, settings: Settings, route: str) -> None:
    """Refuse a request to ``route`` estimated over ``settings.max_work_units``, naming its
    driver (and counting the refusal in ``/metrics``)."""
    if estimate.units > settings.max_work_units:
        record_rejection(route, estimate.field)
        raise DomainError.field(
            estimate.field,
            f"makes the request cost about {estimate.units:.3g} work units "
            f"({estimate.what}), over the budget of {settings.max_work_units:.3g} per request "
            "(a unit is about 1 µs); reduce it or split the request",
        )


def _context(
    scenario_set_id: str | None, inline_scenarios: int | None, event: dt.date | None
) -> tuple[int, dt.date | None]:
    """(scenario count, event date) without resolving anything; unknown ids default."""
    if inline_scenarios is not None:
        return inline_scenarios, event
    entry = builtin_catalog().get(scenario_set_id or BUILTIN_SET)
    if entry is None:
        return 1, None  # the route will answer 404
    return len(entry.scenario_set.scenarios), entry.scenario_set.event_date


def _scenario_count(scenario_set_id: str | None, inline_set: ScenarioSetIn | None) -> int:
    return _context(scenario_set_id, inline_set.scenario_count if inline_set else None, None)[0]


def _is_tree(scenario_set_id: str | None, inline_set: ScenarioSetIn | None) -> bool:
    """Whether the request's set is a decision tree (inline, or a built-in one)."""
    if inline_set is not None:
        return inline_set.tree is not None
    entry = builtin_catalog().get(scenario_set_id or BUILTIN_SET)
    return entry is not None and entry.scenario_set.tree is not None


def _valuation_date(scenario_set_id: str | None, market_date: dt.date | None) -> dt.date | None:
    if market_date is not None:
        return market_date
    entry = builtin_catalog().get(scenario_set_id or BUILTIN_SET)
    return entry.market.valuation_date if entry is not None else None


def fit_work(m: int, quotes: int = DEFAULT_FIT_QUOTES) -> float:
    """A fit to market of ``m`` scenarios on ``quotes`` quotes: a calibration per evaluation."""
    return (CALIBRATION + CALIBRATION_QUOTE_SCENARIO * quotes * m) * FIT_ROUNDS


def tenor_years(tenor: str | None) -> float:
    """Years of a tenor string (``ON``, ``3M``, ``2Y`` …), 0 if it does not parse."""
    match = TENOR_PATTERN.match(tenor) if isinstance(tenor, str) else None
    if match is None:
        return 0.0
    if match.group(1) == "ON":
        return 1 / 365
    count, unit = int(match.group(2)), match.group(3)
    return {"D": count / 365, "W": count * 7 / 365, "M": count / 12, "Y": float(count)}[unit]


def _years(start: dt.date | None, expiry: dt.date | None, tenor: str | None) -> float:
    if tenor is not None:
        return tenor_years(tenor)
    if start is None or expiry is None:
        return 0.0
    return max((expiry - start).days, 0) / 365.0


def _steps(years: float, steps_per_year: int | None) -> float:
    per_year = steps_per_year if steps_per_year else WEEKDAYS_PER_YEAR
    return max(math.ceil(years * per_year), 1)


def price_work(request: PriceRequest) -> WorkEstimate:
    """The estimate for ``POST /v1/price``."""
    inline_set = request.scenario_set
    m, event = _context(
        request.scenario_set_id,
        inline_set.scenario_count if inline_set else None,
        inline_set.first_date if inline_set else None,
    )
    today = _valuation_date(
        request.scenario_set_id, request.market.valuation_date if request.market else None
    )
    smiles = inline_set is not None and inline_set.has_smiles
    fx = cds = barriers = 0
    path_years: list[float] = []
    event_years = _years(today, event, None) if event is not None else 0.0
    for line in request.instruments:
        family = type(line)
        if family is InstrumentIn:
            fx += 1
        elif family is CdsInstrumentIn:
            cds += 1
        else:
            years = _years(today, getattr(line, "expiry", None), getattr(line, "tenor", None))
            kind = getattr(line, "kind", "")
            # expiring by the event: a closed form (but for a KOKI)
            if years > event_years or kind in ALWAYS_SIMULATED:
                path_years.append(years)
                barriers += PATH_BARRIERS.get(kind, 1)
    units = REQUEST + fx * (FX_LINE + FX_LINE_SCENARIO * m)
    if inline_set is not None or request.market is not None:
        units += CONSISTENCY_REPORT  # a set or market of its own: its report not yet cached
    if smiles and fx:
        units += SMILE_SET + fx * SMILE_LINE
    if cds:
        units += CDS_SETUP + cds * (FX_LINE + CDS_CONTRACT_SCENARIO * (m + 1))
    driver, what = "instruments", f"{len(request.instruments)} lines × {m} scenarios"
    if path_years:
        settings = request.paths
        steps = _steps(max(path_years), settings.steps_per_year)
        lines = len(path_years)
        sobol = settings.sampling == Sampling.SOBOL
        step, share = (SOBOL_PATH_STEP, SOBOL_LINE_SHARE) if sobol else (PATH_STEP, PATH_LINE_SHARE)
        simulation = max(settings.n_paths, 0) * steps * step * (1 + share * (barriers - 1))
        units += simulation + lines * FX_LINE
        if simulation > units / 2:
            driver = "paths.n_paths"
            what = (
                f"{settings.n_paths} paths × {steps} steps, {lines} path lines "
                f"({barriers} barriers) simulated together"
            )
    if request.fit_to_market is not None:
        fitting = fit_work(m)
        units += fitting
        if fitting > units / 2:
            driver, what = "fit_to_market", f"a fit to market of {m} scenarios"
    return WorkEstimate(units, driver, what)


def paths_work(request: PathsRequest) -> WorkEstimate:
    """The estimate for ``POST /v1/paths``."""
    today = _valuation_date(
        request.scenario_set_id, request.market.valuation_date if request.market else None
    )
    steps = _steps(_years(today, request.horizon, request.tenor), request.steps_per_year)
    step = SOBOL_PATH_STEP if request.sampling == Sampling.SOBOL else PATH_STEP
    units = REQUEST + max(request.n_paths, 0) * steps * step * 1.5  # + the quantile passes
    what = f"{request.n_paths} paths × {steps} steps"
    return WorkEstimate(units, "n_paths", what)


def cds_work(request: CdsRequest) -> WorkEstimate:
    """The estimate for ``POST /v1/cds``."""
    m = _scenario_count(request.scenario_set_id, request.scenario_set)
    n = len(request.contracts)
    units = REQUEST + CDS_SETUP + n * (FX_LINE + CDS_CONTRACT_SCENARIO * (m + 1))
    return WorkEstimate(units, "contracts", f"{n} contracts × {m + 1} curves")


def vol_surface_work(request: VolSurfaceRequest) -> WorkEstimate:
    """The estimate for ``POST /v1/vol-surface``."""
    m = _scenario_count(request.scenario_set_id, request.scenario_set)
    tenors = len(request.tenors)
    strikes = len(request.strikes) if request.strikes is not None else 51
    units = REQUEST + tenors * (SURFACE_TENOR * (m + 2) + SURFACE_POINT * strikes * (m + 2))
    if request.fit_to_market is not None:
        units += fit_work(m)
    return WorkEstimate(units, "tenors", f"{tenors} tenors × {strikes} strikes × {m} scenarios")


def calibrate_work(request: CalibrateRequest) -> WorkEstimate:
    """The estimate for ``POST /v1/calibrate``."""
    m = _scenario_count(request.scenario_set_id, request.scenario_set)
    quotes = 5 * (len(request.quotes) if request.quotes else 8) + len(request.options)
    units = CALIBRATION + CALIBRATION_QUOTE_SCENARIO * quotes * m
    if request.refit_levels or request.refit_vols:
        units *= REFIT_ROUNDS
    elif request.fit is not FitMode.PROBABILITIES:
        units *= FIT_ROUNDS
    elif _is_tree(request.scenario_set_id, request.scenario_set):
        units *= TREE_STARTS
    return WorkEstimate(units, "quotes", f"{quotes} quotes × {m} scenarios")
