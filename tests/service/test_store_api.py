"""Stored, versioned scenario sets and markets over HTTP, on SQLite and a real PostgreSQL.

Witnesses: the built-in set and market as the service loads them from their TOML files (a
stored copy of either prices to the same bytes); RFC 9110's rules for ``If-Match`` (412 on a
stale tag, 428 on none, ``*`` for any current version, weak tags never match); RFC 7396 and
RFC 6902 (what a merge patch and a JSON Patch leave); the OpenAPI document (every status
sent is declared, every body matches its declared schema).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import AuthMode, Settings
from tests.service.json_checks import finite_numbers, numeric_leaves

SET = "us-japan-tariff-2025-07-09"
MARKET = "usdjpy-2025-06-13"
CALL = [{"kind": "call", "strike": 150.0, "tenor": "3M", "label": "3M 150 call"}]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api')}/store.sqlite"
    else:
        from tests.pg_cluster import create_database

        url = create_database(request.getfixturevalue("postgres_url"), f"api_{uuid.uuid4().hex}")
    settings = Settings(database_url=url, auth=AuthMode.OFF, max_document_bytes=64 * 1024)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def new_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def builtin_document(api: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = api.get(f"/v1/scenario-sets/{SET}").json()["document"]
    return document


def create_copy(api: TestClient, **changes: Any) -> tuple[str, str]:
    """A stored copy of the built-in set (with ``changes``): (id, ETag)."""
    id = new_id()
    response = api.post("/v1/scenario-sets", json={**builtin_document(api), "id": id, **changes})
    assert response.status_code == 201, response.text
    return id, response.headers["etag"]


def price(api: TestClient, **body: Any) -> Any:
    return api.post("/v1/price", json={"instruments": CALL, **body})


def test_a_stored_copy_of_the_builtin_set_prices_to_the_same_bytes(api: TestClient) -> None:
    id, etag = create_copy(api)
    builtin = price(api, scenario_set_id=SET).json()
    stored = price(api, scenario_set_id=id, scenario_set_version=1).json()
    read = api.get(f"/v1/scenario-sets/{id}").json()
    assert read["etag"] == etag
    assert stored["sources"]["scenario_set"] == {
        "id": id,
        "version": 1,
        "digest": read["digest"],
        "origin": "stored",
    }
    assert stored["sources"]["market"] == builtin["sources"]["market"]
    assert builtin["sources"]["scenario_set"]["origin"] == "builtin"
    for key in ("results", "measure", "totals", "scenario_pnl", "consistency"):
        assert stored[key] == builtin[key], key


def test_a_stored_market_prices_as_the_same_market_sent_inline(api: TestClient) -> None:
    market = api.get(f"/v1/markets/{MARKET}").json()
    assert (market["version"], market["read_only"], market["created_by"]) == (1, True, "built-in")
    document = {**market["document"], "id": new_id(), "spot": 146.25}
    created = api.post("/v1/markets", json=document)
    assert created.status_code == 201, created.text
    by_id = price(api, scenario_set_id=SET, market_id=document["id"], market_version=1).json()
    inline_market = {k: v for k, v in document.items() if k not in ("id", "name", "description")}
    inline = price(api, scenario_set_id=SET, market=inline_market).json()
    assert by_id["sources"]["market"]["origin"] == "stored"
    assert inline["sources"]["market"] == {
        "id": "inline",
        "version": None,
        "digest": None,
        "origin": "inline",
    }
    assert by_id["results"] == inline["results"] and by_id["spot"] == 146.25
    # a set written with this market as its own is priced on it by default, and says so
    set_id, _ = create_copy(api, market_id=document["id"])
    assert api.get(f"/v1/scenario-sets/{set_id}").json()["market_id"] == document["id"]
    summary = next(x for x in api.get("/v1/scenario-sets").json() if x["id"] == set_id)
    assert summary["market_id"] == document["id"]
    by_default = price(api, scenario_set_id=set_id, scenario_set_version=1).json()
    assert by_default["sources"]["market"]["id"] == document["id"] and by_default["spot"] == 146.25


def test_put_needs_the_latest_etag_428_without_412_when_stale(api: TestClient) -> None:
    id, etag = create_copy(api)
    document = builtin_document(api) | {"id": id, "name": "renamed"}
    missing = api.put(f"/v1/scenario-sets/{id}", json=document)
    assert missing.status_code == 428 and missing.json()["errors"][0]["field"] == "If-Match"
    ok = api.put(
        f"/v1/scenario-sets/{id}", json=document | {"change_note": "n"}, headers={"If-Match": etag}
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["version"], body["changes"], body["change_note"]) == (2, ["name"], "n")
    assert ok.headers["etag"] == body["etag"] != etag
    assert ok.headers["location"] == f"/v1/scenario-sets/{id}"
    assert ok.headers["content-location"] == f"/v1/scenario-sets/{id}/versions/2"
    assert (
        body["latest_version"],
        api.get(f"/v1/scenario-sets/{id}/versions/1").json()["latest_version"],
    ) == (2, 2)
    stale = api.put(f"/v1/scenario-sets/{id}", json=document, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()["errors"][0]["field"] == "If-Match"
    weak = api.put(
        f"/v1/scenario-sets/{id}", json=document, headers={"If-Match": "W/" + body["etag"]}
    )
    assert weak.status_code == 412  # RFC 9110 §13.1.1: If-Match uses the strong comparison
    listed = api.put(
        f"/v1/scenario-sets/{id}", json=document, headers={"If-Match": f'"x", {body["etag"]}'}
    )
    assert listed.status_code == 200 and listed.json()["version"] == 3
    star = api.put(f"/v1/scenario-sets/{id}", json=document, headers={"If-Match": "*"})
    assert star.status_code == 200 and star.json()["version"] == 4
    history = api.get(f"/v1/scenario-sets/{id}/versions").json()
    assert [v["version"] for v in history] == [1, 2, 3, 4]
    assert (
        api.get(f"/v1/scenario-sets/{id}/versions/1").json()["document"]["name"]
        == builtin_document(api)["name"]
    )


def test_a_merge_patch_and_a_json_patch_change_only_what_they_name(api: TestClient) -> None:
    id, etag = create_copy(api)
    merged = api.patch(
        f"/v1/scenario-sets/{id}",
        json={"name": "desk view", "change_note": "rename"},
        headers={"If-Match": etag, "content-type": "application/merge-patch+json"},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["changes"] == ["name"] and merged.json()["change_note"] == "rename"
    before = merged.json()["document"]["scenarios"]
    ops = [
        {"op": "test", "path": "/scenarios/1/name", "value": before[1]["name"]},
        {
            "op": "replace",
            "path": "/scenarios/1/probability",
            "value": before[1]["probability"] - 0.05,
        },
        {
            "op": "replace",
            "path": "/scenarios/3/probability",
            "value": before[3]["probability"] + 0.05,
        },
    ]
    patched = api.patch(
        f"/v1/scenario-sets/{id}",
        content=json.dumps(ops),
        headers={"If-Match": merged.headers["etag"], "content-type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["changes"] == ["scenarios[1].probability", "scenarios[3].probability"]
    after = patched.json()["document"]["scenarios"]
    assert [s["name"] for s in after] == [s["name"] for s in before]
    assert after[1]["probability"] == pytest.approx(before[1]["probability"] - 0.05, abs=1e-15)
    # a patch that breaks a rule is refused naming the field, and writes nothing
    broken = api.patch(
        f"/v1/scenario-sets/{id}",
        json={"scenarios": [{"name": "only", "probability": 0.5, "level": 140.0, "vol": 0.1}]},
        headers={"If-Match": patched.headers["etag"]},
    )
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["field"] == "scenarios"
    failing_test = api.patch(
        f"/v1/scenario-sets/{id}",
        content=b'[{"op": "test", "path": "/name", "value": "not it"}]',
        headers={
            "If-Match": patched.headers["etag"],
            "content-type": "application/json-patch+json",
        },
    )
    assert failing_test.status_code == 422 and failing_test.json()["errors"][0]["field"] == "body"
    assert api.get(f"/v1/scenario-sets/{id}").json()["version"] == 3


def test_retiring_stops_new_versions_and_unpinned_prices_but_not_pinned_ones(
    api: TestClient,
) -> None:
    id, _ = create_copy(api)
    pinned = price(api, scenario_set_id=id, scenario_set_version=1)
    assert pinned.status_code == 200 and "cache-control" not in pinned.headers
    latest = price(api, scenario_set_id=id)
    assert latest.headers["cache-control"] == "no-store"  # it may change with the next version
    retired = api.delete(f"/v1/scenario-sets/{id}")
    assert retired.status_code == 204
    body = api.get(f"/v1/scenario-sets/{id}").json()
    assert body["retired_at"] is not None and body["version"] == 1
    assert id not in [s["id"] for s in api.get("/v1/scenario-sets").json()]
    assert id in [s["id"] for s in api.get("/v1/scenario-sets?include_retired=true").json()]
    gone = price(api, scenario_set_id=id)
    assert gone.status_code == 410 and gone.json()["errors"][0]["field"] == "scenario_set_id"
    again = price(api, scenario_set_id=id, scenario_set_version=1)
    assert again.status_code == 200 and again.content == pinned.content
    put = api.put(
        f"/v1/scenario-sets/{id}",
        json=builtin_document(api) | {"id": id},
        headers={"If-Match": "*"},
    )
    assert put.status_code == 410
    assert api.delete(f"/v1/scenario-sets/{id}").status_code == 410


def test_a_pinned_price_is_the_same_bytes_after_later_versions(api: TestClient) -> None:
    id, etag = create_copy(api)
    first = price(
        api, scenario_set_id=id, scenario_set_version=1, market_id=MARKET, market_version=1
    )
    document = builtin_document(api) | {"id": id}
    document["scenarios"][0]["probability"] += 0.05
    document["scenarios"][1]["probability"] -= 0.05
    put = api.put(f"/v1/scenario-sets/{id}", json=document, headers={"If-Match": etag})
    assert put.status_code == 200
    later = price(
        api, scenario_set_id=id, scenario_set_version=1, market_id=MARKET, market_version=1
    )
    assert later.content == first.content
    moved = price(api, scenario_set_id=id).json()
    assert moved["sources"]["scenario_set"]["version"] == 2
    assert moved["results"][0]["price"] != first.json()["results"][0]["price"]


def test_bad_requests_get_the_status_and_field_that_say_why(api: TestClient) -> None:
    document = builtin_document(api)
    cases: list[tuple[Any, int, str]] = [
        (api.get("/v1/scenario-sets/nope"), 404, "scenario_set_id"),
        (api.get(f"/v1/scenario-sets/{SET}/versions/2"), 404, "version"),
        (api.get(f"/v1/scenario-sets/{SET}/versions/0"), 422, "version"),
        (api.get("/v1/markets/nope/versions"), 404, "id"),
        (price(api, scenario_set_id="nope"), 404, "scenario_set_id"),
        (price(api, scenario_set_id=SET, scenario_set_version=2), 404, "scenario_set_version"),
        (price(api, scenario_set_id=SET, market_id="nope"), 404, "market_id"),
        (price(api, scenario_set_id=SET, market_version=1), 422, "market_version"),
        (api.post("/v1/scenario-sets", json=document), 409, "id"),  # the built-in's own id
        (api.put(f"/v1/scenario-sets/{SET}", json=document, headers={"If-Match": "*"}), 409, "id"),
        (api.delete(f"/v1/markets/{MARKET}"), 409, "id"),
        (api.post("/v1/scenario-sets", json=document | {"id": "bad id/"}), 422, "id"),
        (
            api.post("/v1/scenario-sets", json=document | {"id": new_id(), "market_id": "nope"}),
            422,
            "market_id",
        ),
        (
            api.post("/v1/scenario-sets", json=document | {"id": new_id(), "market_version": 7}),
            422,
            "market_version",
        ),
        (
            api.post("/v1/scenario-sets", json=document | {"id": new_id(), "credit_id": "nope"}),
            422,
            "credit_id",
        ),
        (
            api.post(
                "/v1/scenario-sets", json=document | {"id": new_id(), "event_date": "2025-06-01"}
            ),
            422,
            "event_date",
        ),
        (
            api.put(
                "/v1/scenario-sets/nope", json=document | {"id": "nope"}, headers={"If-Match": "*"}
            ),
            404,
            "id",
        ),
        (
            api.post(
                "/v1/scenario-sets", json=document | {"id": new_id(), "description": "x" * 70_000}
            ),
            413,
            "body",
        ),
        (
            api.post(
                "/v1/scenario-sets", content=b"[]", headers={"content-type": "application/json"}
            ),
            422,
            "body",
        ),
        (
            api.patch(
                f"/v1/scenario-sets/{SET}", content=b"{}", headers={"content-type": "text/plain"}
            ),
            415,
            "content-type",
        ),
    ]
    bad = copy.deepcopy(document) | {"id": new_id()}
    bad["scenarios"][0]["probability"] = 1.5
    cases.append((api.post("/v1/scenario-sets", json=bad), 422, "scenarios[0].probability"))
    taken, _ = create_copy(api)
    cases.append((api.post("/v1/scenario-sets", json=document | {"id": taken}), 409, "id"))
    cases.append(
        (
            api.put(
                f"/v1/scenario-sets/{taken}",
                json=document | {"id": "other"},
                headers={"If-Match": "*"},
            ),
            422,
            "id",
        )
    )
    for i, (response, status, field) in enumerate(cases):
        assert response.status_code == status, (i, response.text)
        assert response.headers["content-type"] == "application/problem+json", i
        assert response.json()["errors"][0]["field"] == field, (i, response.json())
    assert [s["id"] for s in api.get("/v1/scenario-sets").json()].count(taken) == 1


def test_the_list_filters_by_name_and_date(api: TestClient) -> None:
    tag = uuid.uuid4().hex[:8]
    id, _ = create_copy(api, name=f"Desk {tag} view")
    by_name = api.get(f"/v1/scenario-sets?name={tag.upper()}").json()
    assert [s["id"] for s in by_name] == [id]
    assert by_name[0]["scenario_names"] == [s["name"] for s in builtin_document(api)["scenarios"]]
    dated = {s["id"] for s in api.get("/v1/scenario-sets?event_date=2025-07-09").json()}
    assert {SET, id} <= dated
    assert id not in {s["id"] for s in api.get("/v1/scenario-sets?event_date=2025-08-01").json()}
    markets = api.get("/v1/markets?valuation_date=2025-06-13").json()
    assert MARKET in [m["id"] for m in markets]


def test_a_trees_leaves_are_its_branch_paths_and_the_list_names_them(api: TestClient) -> None:
    tree = api.get("/v1/scenario-sets/us-japan-tariff-2025-tree").json()
    spot = api.get(f"/v1/markets/{tree['market_id']}").json()["document"]["spot"]
    nodes = {n["id"]: n for n in tree["document"]["tree"]["nodes"]}
    by_hand: list[tuple[str, float, float]] = []

    def walk(node_id: str, names: tuple[str, ...], p: float, jump: float) -> None:
        for b in nodes[node_id]["branches"]:  # J = level / S0 or the stated jump; leaf = S0·Π J
            j = b["level"] / spot if "level" in b else b["jump"]
            if b.get("next"):
                walk(b["next"], (*names, b["name"]), p * b["probability"], jump * j)
            else:
                by_hand.append(
                    ("/".join((*names, b["name"])), p * b["probability"], spot * jump * j)
                )

    walk(tree["document"]["tree"]["root"], (), 1.0, 1.0)
    got = [(leaf["name"], leaf["probability"], leaf["level"]) for leaf in tree["leaves"]]
    assert [g[0] for g in got] == [h[0] for h in by_hand]
    for (_, p, level), (_, p_hand, level_hand) in zip(got, by_hand, strict=True):
        assert p == pytest.approx(p_hand, rel=1e-15) and level == pytest.approx(
            level_hand, rel=1e-14
        )
    priced = price(api, scenario_set_id="us-japan-tariff-2025-tree").json()
    listed = {s["id"]: s for s in api.get("/v1/scenario-sets").json()}
    assert listed["us-japan-tariff-2025-tree"]["scenario_names"] == list(
        priced["results"][0]["scenario_prices"]
    )


def test_a_stored_tree_reads_back_with_its_leaves(api: TestClient) -> None:
    tree = api.get("/v1/scenario-sets/us-japan-tariff-2025-tree").json()
    id = new_id()
    created = api.post("/v1/scenario-sets", json={**tree["document"], "id": id})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["leaves"] == tree["leaves"] and len(body["leaves"]) == 6
    builtin = price(api, scenario_set_id="us-japan-tariff-2025-tree").json()
    stored = price(api, scenario_set_id=id, scenario_set_version=1).json()
    assert stored["results"] == builtin["results"]


def _spec_validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator({**schema, "components": spec["components"]})


def test_every_answer_of_the_store_routes_is_declared_and_matches_its_schema(
    api: TestClient,
) -> None:
    spec = api.get("/openapi.json").json()
    seen: list[tuple[str, str, Any]] = []

    def call(method: str, template: str, path: str, **kwargs: Any) -> Any:
        response = api.request(method, path, **kwargs)
        seen.append((method.lower(), template, response))
        return response

    sets, item = "/v1/scenario-sets", "/v1/scenario-sets/{scenario_set_id}"
    example = spec["components"]["schemas"]["ScenarioSetWrite"]["examples"][0]
    id = new_id()
    created = call("POST", sets, sets, json=example | {"id": id})
    assert created.status_code == 201, created.text
    etag = created.headers["etag"]
    call("POST", sets, sets, json=example | {"id": id})
    call("GET", sets, sets)
    call("GET", item, f"{sets}/{id}")
    call("GET", item, f"{sets}/nope")
    call("GET", item + "/versions", f"{sets}/{id}/versions")
    call("GET", item + "/versions/{version}", f"{sets}/{id}/versions/1")
    call("GET", item + "/versions/{version}", f"{sets}/{id}/versions/9")
    call("PUT", item, f"{sets}/{id}", json=example | {"id": id})
    call("PUT", item, f"{sets}/{id}", json=example | {"id": id}, headers={"If-Match": '"0.x"'})
    put = call("PUT", item, f"{sets}/{id}", json=example | {"id": id}, headers={"If-Match": etag})
    call(
        "PATCH", item, f"{sets}/{id}", json={"name": "x"}, headers={"If-Match": put.headers["etag"]}
    )
    call("PATCH", item, f"{sets}/{id}", json={"scenarios": []}, headers={"If-Match": "*"})
    call("DELETE", item, f"{sets}/{id}")
    call("DELETE", item, f"{sets}/{id}")
    markets = "/v1/markets"
    market = spec["components"]["schemas"]["MarketWrite"]["examples"][0]
    call("POST", markets, markets, json=market | {"id": new_id()})
    call("GET", markets + "/{market_id}", f"{markets}/{MARKET}")
    statuses = set()
    for method, template, response in seen:
        operation = spec["paths"][template][method]
        status = str(response.status_code)
        statuses.add(response.status_code)
        assert status in operation["responses"], (method, template, status)
        if status == "204":
            continue
        content = operation["responses"][status]["content"]
        media = response.headers["content-type"].split(";")[0]
        errors = list(_spec_validator(spec, content[media]["schema"]).iter_errors(response.json()))
        assert not errors, (method, template, status, [e.message for e in errors][:3])
    assert {200, 201, 204, 404, 409, 410, 412, 422, 428} <= statuses


def test_the_create_examples_work_as_pasted_and_survive_extreme_numbers(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    for path, schema in (("/v1/scenario-sets", "ScenarioSetWrite"), ("/v1/markets", "MarketWrite")):
        example = spec["components"]["schemas"][schema]["examples"][0]
        for leaf_path in numeric_leaves(example):
            for value in (0, -1, 1e308, 5e-324, 10**30, "x", None, True):
                body = copy.deepcopy(example) | {"id": new_id()}
                target = body
                for key in leaf_path[:-1]:
                    target = target[key]
                target[leaf_path[-1]] = value
                response = api.post(path, json=body)
                where = (path, leaf_path, value, response.status_code, response.text[:200])
                assert response.status_code in (201, 422), where
                if response.status_code == 201:
                    assert finite_numbers(response.json()), where
                else:
                    assert response.json()["errors"][0]["field"], where
        fresh = api.post(path, json=example | {"id": new_id()})
        assert fresh.status_code == 201, fresh.text
