"""The desk's page in a real browser: Debian's Chromium driven by Playwright, on a real server.

Witnesses: the API itself, asked the same request the page makes — each chart's data (read
back from the chart, not its pixels) must be the API's figures; the what-if price after a
slider move must be the API's price with that override; an impossible view must show the
API's own 422 message. Screenshots of each view go to ``tests/artifacts/page/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.service.served import Server, served

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "page"
CHROMIUM = "/usr/bin/chromium"  # Debian's (scripts/ensure-chromium installs it)
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SET = "us-japan-tariff-2025-07-09"
TIMEOUT = 60_000  # ms


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('page')}/page.sqlite"
    with served(env={"FXSCEN_DATABASE_URL": url, "FXSCEN_AUTH": "off"}) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Opened:
    def __init__(self, page: Page, errors: list[str], requests: list[str]) -> None:
        self.page, self.errors, self.requests = page, errors, requests

    def state(self, path: str) -> Any:
        return self.page.evaluate(f"() => window.fxscen.{path}")

    def chart(self, id: str) -> list[dict[str, Any]]:
        return self.page.evaluate(
            f"() => document.getElementById('{id}').data.map(t => ({{name: t.name, x: t.x, y: t.y}}))"
        )


def open_page(browser: Browser, server: Server, width: int = 1280, height: int = 800) -> Opened:
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{server.url}/", timeout=TIMEOUT)
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    return Opened(page, errors, requests)


def api(server: Server, path: str, body: dict[str, Any]) -> Any:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


DEFAULT_BOOK = [
    {"kind": "call", "strike": 150.0, "tenor": "3M", "notional": 1e6, "label": "3M 150 call"},
    {"kind": "put", "strike": 140.0, "tenor": "3M", "notional": 1e6, "side": "sell", "label": "3M 140 put (sold)"},
    {"kind": "digital_call", "strike": 155.0, "tenor": "1M", "payout_currency": "JPY", "notional": 1e7, "label": "1M 155 digital"},
]  # fmt: skip


def test_the_page_loads_offline_with_no_console_error(browser: Browser, server: Server) -> None:
    opened = open_page(browser, server)
    assert opened.errors == []
    hosts = {urlparse(u).hostname for u in opened.requests}
    assert hosts == {"127.0.0.1"}, hosts  # every script, style and call on loopback
    assert any(u.endswith("/page/v1/plotly-basic.min.js") for u in opened.requests)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.page.screenshot(path=str(ARTIFACTS / "page-1280x800.png"), full_page=True)
    opened.page.close()


def test_each_chart_holds_the_apis_figures(browser: Browser, server: Server) -> None:
    opened = open_page(browser, server)
    price = api(
        server,
        "/v1/price",
        {"scenario_set_id": SET, "measure": "tilt", "instruments": DEFAULT_BOOK},
    )
    pnl = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in opened.chart("pnl")}
    assert pnl["value if it happens"] == price["totals"]["scenario_values"]
    assert pnl["P&L"] == price["totals"]["scenario_pnl"]
    assert (
        float(opened.page.get_attribute("#book-value", "data-value") or "nan")
        == price["totals"]["value"]
    )
    rows = opened.page.locator("#scenarios tbody tr")
    assert rows.count() == len(price["measure"]["weights"])
    q = {
        r: float(rows.nth(i).locator("td").nth(1).inner_text())
        for i, r in enumerate(price["measure"]["weights"])
    }
    assert q == pytest.approx(price["measure"]["weights"], abs=5e-5)  # shown to 4 places
    paths = api(server, "/v1/paths", {"scenario_set_id": SET, "tenor": "3M", "n_paths": 20000,
                                      "n_sample_paths": 5, "seed": 7,
                                      "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95]})  # fmt: skip
    fan = {t["name"]: t["y"] for t in opened.chart("fan")}
    assert fan["median"] == next(b["values"] for b in paths["bands"] if b["quantile"] == 0.5)
    surface = api(server, "/v1/vol-surface", {"scenario_set_id": SET, "measure": "tilt"})
    i = int(opened.page.input_value("#expiry"))
    density = {t["name"]: t["y"] for t in opened.chart("density")}
    assert density["market"] == surface["market"]["densities"][i]
    assert density["mixture"] == surface["mixture"]["densities"][i]
    smile = {t["name"]: t["y"] for t in opened.chart("smile")}
    assert smile["mixture-implied"] == surface["mixture"]["vols"][i]
    term = {t["name"]: t["y"] for t in opened.chart("term")}
    assert term["market ATM"] == [q["atm_vol"] for q in surface["market"]["quotes"]]
    cds = api(
        server,
        "/v1/cds",
        {
            "scenario_set_id": SET,
            "contracts": [
                {"entity": e, "tenor": "5Y", "label": f"{e} 5Y"}
                for e in ("toyota", "honda", "nissan")
            ],
        },
    )
    bars = {t["name"]: t["y"] for t in opened.chart("cds")}
    assert bars["mixture"] == [r["mixture"]["par_spread_bp"] for r in cds["results"]]
    assert bars["no_deal"] == [r["scenarios"]["no_deal"]["par_spread_bp"] for r in cds["results"]]
    opened.page.close()


def test_moving_the_no_deal_probability_by_keyboard_reprices_as_the_api(
    browser: Browser, server: Server
) -> None:
    opened = open_page(browser, server, 1920, 1080)
    slider = opened.page.locator("#p-no_deal")
    slider.focus()
    start = float(slider.input_value())
    opened.page.keyboard.press("ArrowRight")
    moved = round(start + 0.01, 2)
    opened.page.wait_for_function(
        f"() => window.fxscen.responses.price && window.fxscen.responses.price.measure.probabilities.no_deal === {moved}",
        timeout=TIMEOUT,
    )
    price = api(server, "/v1/price", {"scenario_set_id": SET, "measure": "tilt", "instruments": DEFAULT_BOOK,
                                      "overrides": {"probabilities": {"no_deal": moved}}})  # fmt: skip
    assert opened.state("responses.price.totals.value") == price["totals"]["value"]
    assert (
        float(opened.page.get_attribute("#book-value", "data-value") or "nan")
        == price["totals"]["value"]
    )
    opened.page.wait_for_function("() => window.fxscen.timings.whatIfAll", timeout=TIMEOUT)
    surface = api(server, "/v1/vol-surface", {"scenario_set_id": SET, "measure": "tilt",
                                              "overrides": {"probabilities": {"no_deal": moved}}})  # fmt: skip
    i = int(opened.page.input_value("#expiry"))
    smile = {t["name"]: t["y"] for t in opened.chart("smile")}
    assert smile["mixture-implied"] == surface["mixture"]["vols"][i]  # the mixture follows
    q_shown = float(
        opened.page.locator("#scenarios tbody tr[data-scenario=no_deal] td").nth(1).inner_text()
    )
    assert q_shown == pytest.approx(price["measure"]["weights"]["no_deal"], abs=5e-5)
    opened.page.screenshot(path=str(ARTIFACTS / "what-if-1920x1080.png"), full_page=True)
    opened.page.close()


def test_an_impossible_view_shows_the_apis_message(browser: Browser, server: Server) -> None:
    opened = open_page(browser, server)
    opened.page.evaluate("""() => { const s = document.getElementById('p-no_deal');
        s.value = 1; s.dispatchEvent(new Event('input')); }""")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        refused = http.post("/v1/price", json={"scenario_set_id": SET, "measure": "tilt",
                            "instruments": DEFAULT_BOOK, "overrides": {"probabilities": {"no_deal": 1.0}}})  # fmt: skip
    assert refused.status_code == 422
    expected = f"422: {refused.json()['detail']}"
    opened.page.wait_for_function(
        f"() => document.getElementById('message').textContent === {json.dumps(expected)}",
        timeout=TIMEOUT,
    )
    opened.page.screenshot(path=str(ARTIFACTS / "no-measure-1280x800.png"), full_page=True)
    opened.page.close()


def test_each_chart_downloads_as_png_svg_and_its_numbers_as_csv(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    for chart in ("pnl", "fan", "density", "smile", "term", "cds"):
        # a tab per chart: Chromium holds back a page's downloads after many in a row
        opened = open_page(browser, server)
        page = opened.page
        for kind in ("PNG", "SVG", "CSV"):
            label = (f"download the {chart} chart as {kind}" if kind != "CSV"
                     else f"download the numbers of the {chart} chart as CSV")  # fmt: skip
            button = page.get_by_role("button", name=label, exact=True)
            with page.expect_download(timeout=TIMEOUT) as info:
                button.click()
            assert page.text_content("#message") == "", (chart, kind)
            path = tmp_path / f"{chart}.{kind.lower()}"
            info.value.save_as(path)
            head = path.read_bytes()[:64]
            if kind == "PNG":
                assert head.startswith(b"\x89PNG"), chart
            elif kind == "SVG":
                assert b"<svg" in path.read_bytes()[:4000], chart
            else:  # the chart's own numbers, every point of every series
                rows = path.read_text().splitlines()
                traces = opened.chart(chart)
                assert rows[0] == "series,x,y"
                assert len(rows) - 1 == sum(len(t["x"]) for t in traces)
                first = traces[0]
                assert rows[1] == f'"{first["name"]}",{_js(first["x"][0])},{_js(first["y"][0])}'
        page.close()


def _js(value: Any) -> str:
    """A number or text as JavaScript's String() writes it (shortest round trip)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_a_csv_book_file_is_priced_as_the_api_prices_its_lines(
    browser: Browser, server: Server
) -> None:
    from tests.batch.test_batch_books import LINES

    opened = open_page(browser, server)
    opened.page.set_input_files("#book-file", str(ROOT / "examples" / "desk_book.csv"))
    opened.page.wait_for_function(
        f"() => window.fxscen.responses.price && window.fxscen.responses.price.results.length === {len(LINES)}",
        timeout=TIMEOUT,
    )
    price = api(
        server, "/v1/price", {"scenario_set_id": SET, "measure": "tilt", "instruments": LINES}
    )
    assert opened.state("responses.price.totals.value") == price["totals"]["value"]
    opened.page.close()


def test_save_as_new_version_writes_the_what_if(browser: Browser, server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        doc = http.get(f"/v1/scenario-sets/{SET}").json()["document"]
        created = http.post("/v1/scenario-sets", json={**doc, "id": "page-view"})
        assert created.status_code == 201, created.text
    opened = open_page(browser, server)
    page = opened.page
    page.select_option("#set", "page-view")
    page.wait_for_function(
        "() => window.fxscen.doc && window.fxscen.doc.id === 'page-view'", timeout=TIMEOUT
    )
    page.evaluate("""() => { const s = document.getElementById('p-no_deal');
        s.value = 0.4; s.dispatchEvent(new Event('input')); }""")
    page.wait_for_function(
        "() => window.fxscen.responses.price && window.fxscen.responses.price.measure.probabilities.no_deal === 0.4",
        timeout=TIMEOUT,
    )
    shown = opened.state("responses.price.measure.probabilities")
    page.click("#save-button")
    page.wait_for_function("() => document.getElementById('message').textContent === 'saved as version 2'",
                           timeout=TIMEOUT)  # fmt: skip
    with httpx.Client(base_url=server.url, timeout=60) as http:
        saved = http.get("/v1/scenario-sets/page-view/versions/2").json()
    assert {s["name"]: s["probability"] for s in saved["document"]["scenarios"]} == shown
    assert saved["change_note"] == "what-if from the page"
    page.close()


def test_text_and_buttons_have_readable_contrast(browser: Browser, server: Server) -> None:
    """WCAG 2.1's contrast ratio (relative luminance, §1.4.3) of every label, cell, heading
    and button against its background: at least 4.5:1."""
    opened = open_page(browser, server)
    ratios = opened.page.evaluate("""() => {
      const lum = (rgb) => { const c = rgb.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map(v => v / 255)
        .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
      const bg = (el) => { for (let e = el; e; e = e.parentElement) { const b = getComputedStyle(e).backgroundColor;
        if (b && !b.startsWith('rgba(0, 0, 0, 0)') && b !== 'transparent') return b; } return 'rgb(255, 255, 255)'; };
      return [...document.querySelectorAll('h1, h2, label, th, td, button, p')].filter(e => e.textContent.trim())
        .map(e => { const a = lum(getComputedStyle(e).color), b = lum(bg(e));
          return [e.tagName + ':' + e.textContent.trim().slice(0, 20), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]; });
    }""")
    low = [(name, round(r, 2)) for name, r in ratios if r < 4.5]
    assert ratios and not low, low
    opened.page.close()
