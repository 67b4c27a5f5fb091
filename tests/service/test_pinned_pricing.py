"""Every pricing route on stored sets and markets, pinned or latest, and per-request overrides.

Witnesses: the same request with the set or market written out inline (an override is only
a shorter way of sending the changed set, so both must price to the same figures), the
probabilities rescaled by hand (p_i · (1 − p_named) / Σ p_others), and the route's answer on
the built-in set (a stored copy of it answers the same).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import AuthMode, Settings

SET = "us-japan-tariff-2025-07-09"
TREE = "us-japan-tariff-2025-tree"
CALL = [
    {"kind": "call", "strike": 150.0, "tenor": "3M"},
    {"kind": "put", "strike": 140.0, "tenor": "6M"},
]
ROUTES: dict[str, dict[str, Any]] = {
    "/v1/price": {"instruments": CALL},
    "/v1/paths": {"tenor": "3M", "n_paths": 2000, "seed": 7},
    "/v1/vol-surface": {"tenors": ["1M", "3M"]},
    "/v1/calibrate": {},
    "/v1/cds": {"contracts": [{"entity": "toyota", "tenor": "5Y"}]},
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('pinned')}/store.sqlite"
    with TestClient(
        create_app(Settings(database_url=url, auth=AuthMode.OFF, response_cache_bytes=0))
    ) as client:
        yield client


def builtin(api: TestClient, set_id: str = SET) -> dict[str, Any]:
    document: dict[str, Any] = api.get(f"/v1/scenario-sets/{set_id}").json()["document"]
    return document


def stored_copy(api: TestClient, set_id: str = SET) -> str:
    id = f"p-{uuid.uuid4().hex[:12]}"
    assert api.post("/v1/scenario-sets", json=builtin(api, set_id) | {"id": id}).status_code == 201
    return id


def inline_set(document: dict[str, Any]) -> dict[str, Any]:
    """A stored document as a request's inline ``scenario_set``."""
    return {
        k: v for k, v in document.items() if k not in ("market_id", "market_version", "credit_id")
    }


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_route_prices_a_stored_version_as_the_builtin_and_names_it(
    api: TestClient, route: str
) -> None:
    id = stored_copy(api)
    on_builtin = api.post(route, json={"scenario_set_id": SET, **ROUTES[route]})
    on_stored = api.post(
        route, json={"scenario_set_id": id, "scenario_set_version": 1, **ROUTES[route]}
    )
    assert on_builtin.status_code == on_stored.status_code == 200, on_stored.text
    a, b = on_builtin.json(), on_stored.json()
    assert b["sources"]["scenario_set"]["id"] == id and b["sources"]["scenario_set"]["version"] == 1
    assert a["sources"]["scenario_set"]["origin"] == "builtin"
    assert b["sources"]["market"] == a["sources"]["market"]
    for body in (a, b):
        del body["sources"], body["scenario_set_id"]
        if body.get("fitted_set"):
            del body["fitted_set"]["id"]  # the fitted set carries the id it was fitted from
    assert a == b


def test_a_probability_override_is_the_set_with_the_others_rescaled(api: TestClient) -> None:
    document = builtin(api)
    overridden = api.post(
        "/v1/price",
        json={
            "scenario_set_id": SET,
            "overrides": {"probabilities": {"no_deal": 0.35}},
            "instruments": CALL,
        },
    ).json()
    by_hand = inline_set(document)
    others = math.fsum(s["probability"] for s in by_hand["scenarios"] if s["name"] != "no_deal")
    expected = {}
    for s in by_hand["scenarios"]:
        before = s["probability"]
        s["probability"] = 0.35 if s["name"] == "no_deal" else before * (1 - 0.35) / others
        expected[s["name"]] = [before, s["probability"]]
    inline = api.post("/v1/price", json={"scenario_set": by_hand, "instruments": CALL}).json()
    moved = overridden["sources"]["overrides"]["probabilities"]
    assert moved.keys() == expected.keys()
    for name, (before, after) in expected.items():
        assert moved[name] == pytest.approx([before, after], rel=1e-15)
    for got, want in zip(overridden["results"], inline["results"], strict=True):
        assert got["price"] == pytest.approx(want["price"], rel=1e-14)
        assert got["greeks"] == pytest.approx(want["greeks"], rel=1e-12)
    assert overridden["measure"]["probabilities"] == pytest.approx(
        inline["measure"]["probabilities"], rel=1e-15
    )


def test_level_and_spot_overrides_are_the_set_and_market_changed_inline(api: TestClient) -> None:
    document = inline_set(builtin(api))
    market = api.get("/v1/markets/usdjpy-2025-06-13").json()["document"]
    market = {k: v for k, v in market.items() if k not in ("id", "name", "description")}
    overrides = {
        "levels": {"no_deal": 139.0},
        "level_bump": 0.01,
        "spot": 145.0,
        "spot_bump": -0.002,
    }
    overridden = api.post(
        "/v1/price", json={"scenario_set_id": SET, "overrides": overrides, "instruments": CALL}
    ).json()
    for s in document["scenarios"]:
        s["level"] = (139.0 if s["name"] == "no_deal" else s["level"]) * 1.01
    by_hand = api.post(
        "/v1/price",
        json={
            "scenario_set": document,
            "market": market | {"spot": 145.0 * (1 - 0.002)},
            "instruments": CALL,
        },
    ).json()
    assert overridden["spot"] == by_hand["spot"] == 145.0 * (1 - 0.002)
    assert overridden["sources"]["overrides"]["spot"] == [144.1, 145.0 * (1 - 0.002)]
    assert overridden["sources"]["overrides"]["levels"]["no_deal"][1] == pytest.approx(
        139.0 * 1.01, rel=1e-15
    )
    for got, want in zip(overridden["results"], by_hand["results"], strict=True):
        assert got["price"] == pytest.approx(want["price"], rel=1e-13)


def test_overrides_that_cannot_apply_are_refused_naming_the_field(api: TestClient) -> None:
    def refused(overrides: dict[str, Any], set_id: str = SET) -> tuple[int, str]:
        r = api.post(
            "/v1/price",
            json={"scenario_set_id": set_id, "overrides": overrides, "instruments": CALL},
        )
        return r.status_code, r.json()["errors"][0]["field"]

    assert refused({"probabilities": {"nope": 0.2}}) == (422, "overrides.probabilities.nope")
    assert refused({"levels": {"nope": 140.0}}) == (422, "overrides.levels.nope")
    assert refused({"probabilities": {"no_deal": 0.7, "escalation": 0.6}}) == (
        422,
        "overrides.probabilities",
    )
    names = [s["name"] for s in builtin(api)["scenarios"]]
    half = {n: 0.5 for n in names}  # all named, no rescaling possible: must sum to 1
    assert refused({"probabilities": half}) == (422, "overrides.scenarios")
    assert refused({"probabilities": {"no_deal": 1.5}}) == (422, "overrides.probabilities.no_deal")
    assert refused({"probabilities": {"no_deal": 0.5}}, TREE) == (422, "overrides")
    assert refused({"spot": -1.0}) == (422, "overrides.spot")
    assert refused({"levels": {"no_deal": 1e9}})[0] == 422  # beyond 1,000× spot


def test_no_rescaling_keeps_the_given_probabilities_as_they_are(api: TestClient) -> None:
    document = builtin(api)
    given = {s["name"]: s["probability"] for s in document["scenarios"]}
    given["no_deal"] += 0.05
    given["escalation"] -= 0.05
    body = {
        "scenario_set_id": SET,
        "overrides": {"probabilities": given, "rescale_others": False},
        "instruments": CALL,
    }
    response = api.post("/v1/price", json=body).json()
    assert response["measure"]["probabilities"] == pytest.approx(given, rel=1e-15)


def test_a_spot_override_on_a_tree_is_the_tree_on_the_bumped_market(api: TestClient) -> None:
    market = api.get("/v1/markets/usdjpy-2025-06-13").json()["document"]
    market = {k: v for k, v in market.items() if k not in ("id", "name", "description")}
    bumped = api.post(
        "/v1/price",
        json={"scenario_set_id": TREE, "overrides": {"spot_bump": 0.01}, "instruments": CALL},
    ).json()
    by_hand = api.post(
        "/v1/price",
        json={
            "scenario_set_id": TREE,
            "market": market | {"spot": 144.1 * 1.01},
            "instruments": CALL,
        },
    ).json()
    assert bumped["measure"]["jump_ratios"] == by_hand["measure"]["jump_ratios"]
    assert [r["price"] for r in bumped["results"]] == [r["price"] for r in by_hand["results"]]


def test_a_calibration_saved_as_the_next_version_prices_as_its_fitted_set(api: TestClient) -> None:
    id = stored_copy(api)
    calibrated = api.post(
        "/v1/calibrate",
        json={"scenario_set_id": id, "save": {"change_note": "fit to the 06-13 pillars"}},
    )
    assert calibrated.status_code == 200, calibrated.text
    body = calibrated.json()
    assert body["saved"]["id"] == id and body["saved"]["version"] == 2
    read = api.get(body["saved"]["location"])
    version = read.json()
    assert body["saved"]["etag"] == read.headers["etag"] == version["etag"]
    assert version["change_note"] == "fit to the 06-13 pillars"
    assert any(c.endswith(".probability") for c in version["changes"])
    on_saved = api.post(
        "/v1/price", json={"scenario_set_id": id, "scenario_set_version": 2, "instruments": CALL}
    ).json()
    on_fitted = api.post(
        "/v1/price", json={"scenario_set": body["fitted_set"], "instruments": CALL}
    ).json()
    assert [r["price"] for r in on_saved["results"]] == [r["price"] for r in on_fitted["results"]]
    stale = api.post(
        "/v1/calibrate", json={"scenario_set_id": id, "scenario_set_version": 1, "save": {}}
    )
    assert stale.status_code == 412 and stale.json()["errors"][0]["field"] == "save"
    read_only = api.post("/v1/calibrate", json={"scenario_set_id": SET, "save": {}})
    assert (
        read_only.status_code == 409
        and read_only.json()["errors"][0]["field"] == "save.scenario_set_id"
    )
    inline = api.post("/v1/calibrate", json={"scenario_set": inline_set(builtin(api)), "save": {}})
    assert (
        inline.status_code == 422 and inline.json()["errors"][0]["field"] == "save.scenario_set_id"
    )
    new = api.post(
        "/v1/calibrate", json={"scenario_set_id": SET, "save": {"scenario_set_id": id + "-fit"}}
    )
    assert new.status_code == 200 and new.json()["saved"]["version"] == 1
    taken = api.post(
        "/v1/calibrate", json={"scenario_set_id": SET, "save": {"scenario_set_id": id}}
    )
    assert taken.status_code == 409
