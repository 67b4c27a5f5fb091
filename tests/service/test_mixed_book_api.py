"""A mixed book in ``POST /v1/price``: FX options and CDS under one scenario set.

Witnesses: ``POST /v1/cds`` on the same contracts (the same figures must come back), the
FX lines priced alone, and the P&L identity Σ q_i·value_i = today's value per line.
"""

from __future__ import annotations

import math

from fastapi.testclient import TestClient

SET_ID = "us-japan-tariff-2025-07-09"
FX = {"kind": "call", "strike": 150.0, "tenor": "3M", "notional": 1e6, "label": "usdjpy call"}
CDS = {"kind": "cds", "entity": "toyota", "tenor": "5Y", "notional": 1e7, "label": "toyota 5Y"}


def test_a_mixed_book_prices_each_line_as_its_own_endpoint_does(client: TestClient) -> None:
    mixed = client.post(
        "/v1/price", json={"scenario_set_id": SET_ID, "instruments": [CDS, FX]}
    ).json()
    fx_alone = client.post("/v1/price", json={"scenario_set_id": SET_ID, "instruments": [FX]})
    cds_alone = client.post(
        "/v1/cds",
        json={
            "scenario_set_id": SET_ID,
            "contracts": [{k: v for k, v in CDS.items() if k != "kind"}],
        },
    )
    assert mixed["results"][1] == fx_alone.json()["results"][0]
    cds_line, cds_reference = mixed["results"][0], cds_alone.json()["results"][0]
    assert cds_line["kind"] == "cds"
    for key in ("mixture", "base", "scenarios"):
        assert cds_line[key] == cds_reference[key]
    matrix = mixed["scenario_pnl"]
    assert matrix["instruments"] == ["toyota 5Y", "usdjpy call"]
    assert matrix["currencies"] == ["USD", "JPY"]
    q = [mixed["measure"]["weights"][s] for s in matrix["scenarios"]]
    for j, line in enumerate(mixed["results"]):
        mean = math.fsum(w * row[j] for w, row in zip(q, matrix["values"], strict=True))
        assert math.isclose(mean, line["value"], rel_tol=1e-9, abs_tol=1e-6)


def test_cds_errors_in_a_mixed_book_name_the_instrument(client: TestClient) -> None:
    bad = {**CDS, "entity": "tesla"}
    response = client.post("/v1/price", json={"scenario_set_id": SET_ID, "instruments": [FX, bad]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "instruments[1].entity"
    negative = {**CDS, "notional": -1.0}
    response = client.post("/v1/price", json={"scenario_set_id": SET_ID, "instruments": [negative]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "instruments[0].notional"
