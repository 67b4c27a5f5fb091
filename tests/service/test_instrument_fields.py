"""``InstrumentIn.to_domain`` passes every field by name (no ``model_dump``, for speed): a
field added to the schema and not to ``build_fx_option`` (or the other way) must fail here,
not be dropped silently. The position's fields (side, tags) belong to the book, not to the
contract (:class:`service.schemas.common.PositionFields`)."""

from __future__ import annotations

import datetime as dt
import inspect

from scenarios.fx.instruments import build_fx_option
from service.schemas.common import PositionFields
from service.schemas.price import InstrumentIn


def test_every_schema_field_reaches_the_domain_builder() -> None:
    builder = set(inspect.signature(build_fx_option).parameters) - {"valuation_date"}
    position = set(PositionFields.model_fields)
    assert position == {"side", "tags"}
    assert set(InstrumentIn.model_fields) - position == builder


def test_each_field_arrives_with_its_value() -> None:
    line = InstrumentIn(
        kind="digital_call",
        strike=151.25,
        expiry=dt.date(2025, 9, 12),
        delivery=dt.date(2025, 9, 16),
        payout_currency="USD",
        notional=3e6,
        label="desk 7",
    )
    option = line.to_domain(dt.date(2025, 6, 13), 0)
    expected = line.contract_fields()
    expected["kind"] = line.kind
    for name, value in expected.items():
        assert getattr(option, name) == value, name
