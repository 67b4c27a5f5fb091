"""The desk's page in Debian's Chromium (Playwright): its first load, and a probability move
to the redrawn book chart, against the API call alone in the same run.

Starts ``fxscen serve`` (1 worker, a fresh SQLite store, keys off) on a free loopback port,
opens the page at 1280×800 ``--loads`` times in new tabs (time from navigation to the page's
ready mark: every chart drawn), then moves the no-deal slider ``--moves`` times by keyboard
and reads the page's own timing of each move (input event → ``POST /v1/price`` with the
override → scenarios table and P&L chart redrawn: ``window.fxscen.timings.whatIf``; and every
chart redrawn, the fan, smiles and CDS asked again: ``whatIfAll``). The
reference: the same ``POST /v1/price`` sent from Python on a keep-alive connection.
Targets: first load ≤ 1 s, a move ≤ 150 ms.

    python bench/bench_page.py [--loads 5] [--moves 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.page.test_page import CHROMIUM, DEFAULT_BOOK, FLAGS, SET  # noqa: E402
from tests.service.served import served  # noqa: E402


def main() -> None:
    import httpx2 as httpx
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"FXSCEN_DATABASE_URL": f"sqlite:///{tmp}/b.sqlite", "FXSCEN_AUTH": "off"}
        with served(env=env) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            loads = []
            for _ in range(args.loads):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                t0 = time.perf_counter()
                page.goto(f"{server.url}/")
                page.wait_for_selector("body[data-ready=true]", timeout=60_000)
                loads.append(time.perf_counter() - t0)
                page.close()
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{server.url}/")
            page.wait_for_selector("body[data-ready=true]", timeout=60_000)
            slider = page.locator("#p-no_deal")
            slider.focus()
            moves, everything = [], []
            for i in range(args.moves):
                key = "ArrowRight" if i % 2 == 0 else "ArrowLeft"
                page.evaluate("() => { window.fxscen.timings = {}; }")
                page.keyboard.press(key)
                page.wait_for_function("() => window.fxscen.timings.whatIfAll", timeout=60_000)
                moves.append(page.evaluate("() => window.fxscen.timings.whatIf") / 1000.0)
                everything.append(page.evaluate("() => window.fxscen.timings.whatIfAll") / 1000.0)
            browser.close()
            body = {"scenario_set_id": SET, "measure": "tilt", "instruments": DEFAULT_BOOK,
                    "overrides": {"probabilities": {"no_deal": 0.26}}}  # fmt: skip
            with httpx.Client(base_url=server.url) as http:
                http.post("/v1/price", json=body)
                calls = []
                for i in range(args.moves):
                    body["overrides"]["probabilities"]["no_deal"] = 0.25 + 0.01 * (i % 2)
                    t0 = time.perf_counter()
                    http.post("/v1/price", json=body)
                    calls.append(time.perf_counter() - t0)
    ms = lambda xs: f"median {1000 * statistics.median(xs):.0f} ms, max {1000 * max(xs):.0f} ms"  # noqa: E731
    print(f"first load ({args.loads} tabs): {ms(loads)} (target ≤ 1000 ms)")
    print(f"probability move → redrawn ({args.moves} moves): {ms(moves)} (target ≤ 150 ms)")
    print(f"the same move → fan, smiles, density and CDS redrawn too: {ms(everything)}")
    print(f"reference, the same POST /v1/price from Python: {ms(calls)}")


if __name__ == "__main__":
    main()
