"""Scenario sets and markets as versioned resources: built-in ones (read-only version 1) and
stored ones (:mod:`store.repository`), read, written and translated to domain objects.

Every write validates the document with the schema a request takes it in
(:mod:`service.schemas.stored`), so the store holds only documents that price; its errors
name the body's fields. ``ETag`` is ``"<version>.<first 16 hex of the digest>"``; ``If-Match``
takes one or more of them, or ``*`` (RFC 9110: any current version). Errors are
:class:`scenarios.errors.DomainError` with the service's kinds (404, 409, 410, 412, 428).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import jsonpatch
from pydantic import ValidationError

from scenarios.catalog import builtin_catalog, builtin_credit_markets
from scenarios.errors import DomainError, ErrorKind
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from service.problems import validation_errors
from service.schemas.common import under
from service.schemas.results import BUILTIN_SET
from service.schemas.stored import (
    MarketWrite,
    ScenarioSetWrite,
    StoredMarketIn,
    StoredScenarioSetIn,
    market_document,
    scenario_set_document,
)
from store import repository
from store.documents import canonical_json, changed_paths, digest, merge_patch
from store.repository import NewVersion, Store, VersionRecord

D = TypeVar("D", StoredScenarioSetIn, StoredMarketIn)
BUILTIN_AUTHOR = "built-in"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True, eq=False)  # two module singletons: hashed by identity, cheaply
class Kind(Generic[D]):
    """One kind of versioned resource."""

    name: str  # the store's kind, "scenario_set" / "market"
    label: str  # in messages, "scenario set" / "market"
    path: str  # "/v1/scenario-sets"
    document: type[D]
    write: type[Any]  # the POST/PUT body schema (document + change_note)
    as_of: Callable[[D], str | None]
    title: Callable[[D], str]
    builtins: Callable[[], dict[str, str]]  # id → canonical document


def _builtin_sets() -> dict[str, str]:
    return _builtin_docs()[0]


def _builtin_markets() -> dict[str, str]:
    return _builtin_docs()[1]


@lru_cache(maxsize=1)
def _builtin_docs() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(set id → document, market id → document, id → its created_at) of the catalogue."""
    sets: dict[str, str] = {}
    markets: dict[str, str] = {}
    created: dict[str, str] = {}
    for set_id, entry in builtin_catalog().items():
        credit_id = entry.credit.id if entry.credit is not None else None
        doc = scenario_set_document(entry.scenario_set, entry.market_id, credit_id)
        sets[set_id] = canonical_json(doc.model_dump(mode="json", exclude_none=True))
        name = f"USD/JPY market {entry.market.valuation_date.isoformat()} (built-in example)"
        market = market_document(entry.market_id, name, entry.market)
        markets[entry.market_id] = canonical_json(market.model_dump(mode="json", exclude_none=True))
        stamp = f"{entry.market.valuation_date.isoformat()}T00:00:00.000000Z"
        created[set_id] = created[entry.market_id] = stamp
    return sets, markets, created


SETS: Kind[StoredScenarioSetIn] = Kind(
    name="scenario_set",
    label="scenario set",
    path="/v1/scenario-sets",
    document=StoredScenarioSetIn,
    write=ScenarioSetWrite,
    as_of=lambda d: d.first_date.isoformat() if d.first_date else None,
    title=lambda d: d.name,
    builtins=_builtin_sets,
)
MARKETS: Kind[StoredMarketIn] = Kind(
    name="market",
    label="market",
    path="/v1/markets",
    document=StoredMarketIn,
    write=MarketWrite,
    as_of=lambda d: d.valuation_date.isoformat(),
    title=lambda d: d.name,
    builtins=_builtin_markets,
)


# --- the store of this process ---------------------------------------------------------------

_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def store_at(url: str) -> Store:
    """The store at ``url``, opened and migrated once per process."""
    store = _stores.get(url)
    if store is None:
        with _stores_lock:
            store = _stores.get(url)
            if store is None:
                store = Store(url)
                store.upgrade()
                _stores[url] = store
    return store


def close_stores() -> None:
    with _stores_lock:
        for store in _stores.values():
            store.dispose()
        _stores.clear()


# --- entity tags -----------------------------------------------------------------------------


def etag(version: int, document_digest: str) -> str:
    return f'"{version}.{document_digest[:16]}"'


def check_if_match(header: str | None, record: VersionRecord, required: bool) -> int | None:
    """The version a write is based on: ``record.version`` when ``header`` matches its tag
    (or is ``*``); 412 when it names another version, 428 when missing and ``required``."""
    if header is None or not header.strip():
        if required:
            raise DomainError.field(
                "If-Match",
                f"is required: send the ETag of the version this write is based on (the "
                f"latest is {etag(record.latest_version, record.digest)})",
                ErrorKind.PRECONDITION_REQUIRED,
            )
        return None
    tags = [t.strip() for t in header.split(",")]
    if "*" in tags or etag(record.version, record.digest) in tags:
        return record.version
    raise DomainError.field(
        "If-Match",
        f"{header.strip()} is not the latest version of {record.kind.replace('_', ' ')} "
        f"{record.id!r}: it is {etag(record.version, record.digest)} (version "
        f"{record.version}); read it, then write again",
        ErrorKind.PRECONDITION_FAILED,
    )


# --- reads -----------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _builtin_record(kind: Kind[Any], id: str) -> VersionRecord | None:
    """A built-in resource as its read-only version 1 (built once: its digest is a SHA-256
    of the whole document)."""
    text = kind.builtins().get(id)
    if text is None:
        return None
    doc = parse_document(kind, text)
    created = _builtin_docs()[2][id]
    return VersionRecord(
        kind=kind.name,
        id=id,
        version=1,
        document=text,
        digest=digest(text),
        name=kind.title(doc),
        as_of=kind.as_of(doc),
        created_at=created,
        created_by=BUILTIN_AUTHOR,
        change_note="the built-in example",
        changes=(),
        latest_version=1,
        retired_at=None,
    )


def is_builtin(kind: Kind[Any], id: str) -> bool:
    return id in kind.builtins()


def read(
    kind: Kind[Any], store: Callable[[], Store], id: str, version: int | None, field: str
) -> VersionRecord:
    """Version ``version`` (None: the latest) of ``id``, built-in or stored; 404 naming
    ``field`` otherwise."""
    builtin = _builtin_record(kind, id)
    if builtin is not None:
        if version not in (None, 1):
            raise DomainError.field(
                field, f"the built-in {kind.label} {id!r} has version 1 only", ErrorKind.NOT_FOUND
            )
        return builtin
    try:
        return store().get(kind.name, id, version)
    except repository.NotFound as exc:
        raise DomainError.field(field, str(exc), ErrorKind.NOT_FOUND) from exc


def resolve(
    kind: Kind[Any], store: Callable[[], Store], id: str, version: int | None, field: str
) -> tuple[VersionRecord, str | None]:
    """(the version to price on, when the resource was retired) for a pricing request: a
    version asked for by number is read once and kept (it never changes); the latest is one
    primary-key read of its number, then the same. 404 naming ``field`` otherwise."""
    if id in kind.builtins():
        return read(kind, store, id, version, field), None
    s = store()
    retired_at = None
    if version is None:
        head = s.head(kind.name, id)
        if head is None:
            raise DomainError.field(field, f"no {kind.label} {id!r}", ErrorKind.NOT_FOUND)
        version, retired_at = head
    try:
        return _pinned(s, kind.name, id, version), retired_at
    except repository.NotFound as exc:
        raise DomainError.field(field, str(exc), ErrorKind.NOT_FOUND) from exc


@lru_cache(maxsize=1024)
def _pinned(store: Store, kind: str, id: str, version: int) -> VersionRecord:
    """Version ``version`` of ``id`` in ``store``, read once (its resource state is not
    kept: callers take that from :meth:`Store.head`)."""
    return store.get(kind, id, version)


def history(kind: Kind[Any], store: Store, id: str) -> list[VersionRecord]:
    builtin = _builtin_record(kind, id)
    if builtin is not None:
        return [builtin]
    try:
        return store.history(kind.name, id)
    except repository.NotFound as exc:
        raise DomainError.field("id", str(exc), ErrorKind.NOT_FOUND) from exc


def listing(
    kind: Kind[Any],
    store: Store,
    *,
    name_contains: str | None,
    as_of: str | None,
    include_retired: bool,
) -> list[VersionRecord]:
    """The latest version of each resource of ``kind``: built-in ones first, then stored."""
    rows = [r for r in (_builtin_record(kind, i) for i in kind.builtins()) if r is not None]
    if name_contains:
        rows = [r for r in rows if name_contains.lower() in r.name.lower()]
    if as_of is not None:
        rows = [r for r in rows if r.as_of == as_of]
    stored = store.latest_of_each(
        kind.name, name_contains=name_contains, as_of=as_of, include_retired=include_retired
    )
    return rows + stored


@lru_cache(maxsize=1024)
def parse_document(kind: Kind[D], text: str) -> D:
    """A stored document's schema object (parsed once per distinct text)."""
    return kind.document.model_validate_json(text)


@lru_cache(maxsize=512)
def domain_market(text: str) -> MarketSnapshot:
    """A stored market document as a snapshot (built once per distinct document)."""
    doc: StoredMarketIn = parse_document(MARKETS, text)  # lru_cache erases the type variable
    return doc.to_domain()


@lru_cache(maxsize=512)
def domain_set(text: str, spot: float) -> ScenarioSet:
    """A stored set document as a domain set; a tree's leaves read at ``spot``."""
    doc: StoredScenarioSetIn = parse_document(SETS, text)  # lru_cache erases the type variable
    return doc.to_domain(spot=spot)


# --- writes ----------------------------------------------------------------------------------


def default_market_id(set_id: str) -> str:
    """The market a set is priced on when neither it nor the request names one: a built-in
    set's own, else the built-in example's."""
    catalog = builtin_catalog()
    return (catalog.get(set_id) or catalog[BUILTIN_SET]).market_id


def market_of(record: VersionRecord) -> MarketSnapshot:
    """A market version as a snapshot (a built-in one as the catalogue holds it)."""
    if record.created_by == BUILTIN_AUTHOR:
        return _builtin_markets_by_id()[record.id]
    return domain_market(record.document)


@lru_cache(maxsize=1)
def _builtin_markets_by_id() -> dict[str, MarketSnapshot]:
    return {e.market_id: e.market for e in builtin_catalog().values()}


def default_spot(record: VersionRecord, store: Callable[[], Store]) -> float:
    """The spot of a set version's default market (its latest, unless the set pins one)."""
    doc = parse_document(SETS, record.document)
    market_id = doc.market_id or default_market_id(record.id)
    market = read(MARKETS, store, market_id, doc.market_version, "market_id")
    return market_of(market).spot


def _validated(kind: Kind[Any], body: Any, id: str | None, store: Store) -> tuple[Any, str]:
    """(document, change note) from a write body (a dict); 422 naming its fields."""
    if not isinstance(body, dict):
        raise DomainError.field("body", f"must be a JSON object, got {type(body).__name__}")
    if id is not None:
        given = body.get("id", id)
        if given != id:
            raise DomainError.field("id", f"must be the id in the path {id!r}, got {given!r}")
        body = {**body, "id": id}
    document, note = normalised(kind, body)
    _check_prices(kind, document, store)
    return document, note


def normalised(kind: Kind[Any], body: dict[str, Any]) -> tuple[Any, str]:
    """(document, change note) of a write body, by the schema alone; 422 naming its fields.
    The document's canonical text (:func:`canonical_text`) is what the store keeps."""
    try:
        write = kind.write.model_validate_json(json.dumps(body))
    except (ValidationError, ValueError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        if not errors:
            raise DomainError.field("body", f"is not a document: {exc}") from exc
        raise DomainError(validation_errors(errors)) from exc
    document = kind.document.model_validate_json(
        write.model_dump_json(exclude={"change_note"}, exclude_none=True)
    )
    return document, write.change_note


def canonical_text(document: Any) -> str:
    """The canonical JSON a (normalised) document is stored as."""
    return canonical_json(document.model_dump(mode="json", exclude_none=True))


def _check_prices(kind: Kind[Any], document: Any, store: Store) -> None:
    """The domain rules a document must keep to be priced (422 naming the field): a market
    builds; a set builds, names a market that exists and prices on it (its event after the
    valuation date, its levels within range of spot)."""
    if kind is MARKETS:
        document.to_domain(prefix="")
        return
    if document.credit_id is not None and document.credit_id not in builtin_credit_markets():
        known = ", ".join(sorted(builtin_credit_markets()))
        raise DomainError.field(
            "credit_id", f"no credit market {document.credit_id!r}; known: {known}"
        )
    market_id = document.market_id or default_market_id(document.id)
    try:
        record = read(MARKETS, lambda: store, market_id, document.market_version, "market_id")
    except DomainError as exc:
        field = "market_version" if document.market_version is not None else "market_id"
        raise DomainError.field(field, exc.errors[0].reason) from exc
    market = market_of(record)
    scenario_set = document.to_domain(prefix="", spot=market.spot)
    under("", lambda: scenario_set.check_against(market.valuation_date, market.spot))


def _new_version(
    kind: Kind[Any], document: Any, author: str, note: str, previous: str | None
) -> NewVersion:
    text = canonical_text(document)
    data = json.loads(text)
    changes = tuple(changed_paths(json.loads(previous), data)) if previous else ()
    return NewVersion(
        document=text,
        digest=digest(text),
        name=kind.title(document),
        as_of=kind.as_of(document),
        author=author,
        note=note,
        changes=changes,
    )


def _read_only(kind: Kind[Any], id: str) -> DomainError:
    return DomainError.field(
        "id",
        f"{id!r} is a built-in {kind.label}: read-only; write a copy under another id",
        ErrorKind.CONFLICT,
    )


def create(kind: Kind[Any], store: Store, body: Any, author: str) -> VersionRecord:
    """Version 1 of a new resource from a ``POST`` body; 409 when its id is taken."""
    document, note = _validated(kind, body, None, store)
    if is_builtin(kind, document.id):
        raise _read_only(kind, document.id)
    try:
        return store.create(
            kind.name, document.id, _new_version(kind, document, author, note, None)
        )
    except repository.Conflict as exc:
        raise DomainError.field(
            "id",
            f"{exc}: write a new version with PUT {kind.path}/{document.id}",
            ErrorKind.CONFLICT,
        ) from exc


def _current(kind: Kind[Any], store: Store, id: str) -> VersionRecord:
    if is_builtin(kind, id):
        raise _read_only(kind, id)
    record = read(kind, lambda: store, id, None, "id")
    if record.retired_at is not None:
        raise DomainError.field(
            "id", f"{kind.label} {id!r} was retired at {record.retired_at}", ErrorKind.GONE
        )
    return record


def _append(
    kind: Kind[Any], store: Store, current: VersionRecord, document: Any, note: str, author: str,
    based_on: int | None,
) -> VersionRecord:  # fmt: skip
    new = _new_version(kind, document, author, note, current.document)
    try:
        return store.append(kind.name, current.id, new, based_on)
    except repository.Stale as exc:
        raise DomainError.field(
            "If-Match",
            f"version {current.version} of {kind.label} {current.id!r} is no longer the latest "
            "(another write came first); read it, then write again",
            ErrorKind.PRECONDITION_FAILED,
        ) from exc
    except repository.Retired as exc:
        raise DomainError.field("id", str(exc), ErrorKind.GONE) from exc


def replace(
    kind: Kind[Any], store: Store, id: str, body: Any, if_match: str | None, author: str
) -> VersionRecord:
    """A new version from a ``PUT`` body, based on the version ``If-Match`` names."""
    current = _current(kind, store, id)
    based_on = check_if_match(if_match, current, required=True)
    document, note = _validated(kind, body, id, store)
    return _append(kind, store, current, document, note, author, based_on)


def patch(
    kind: Kind[Any],
    store: Store,
    id: str,
    body: Any,
    content_type: str,
    if_match: str | None,
    author: str,
) -> VersionRecord:
    """A new version from a ``PATCH``: a JSON Merge Patch (RFC 7396; ``application/json``
    is read as one) or a JSON Patch (RFC 6902) of the latest document. ``change_note`` in the
    patched result is the version's note, not part of the document."""
    current = _current(kind, store, id)
    based_on = check_if_match(if_match, current, required=True)
    base = json.loads(current.document)
    if content_type == JSON_PATCH:
        try:
            patched = jsonpatch.JsonPatch(body).apply(base)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
            raise DomainError.field(
                "body", f"is not a JSON Patch that applies here: {exc}"
            ) from exc
    else:
        if not isinstance(body, dict):
            raise DomainError.field("body", "a merge patch must be a JSON object")
        patched = merge_patch(base, body)
    document, note = _validated(kind, patched, id, store)
    return _append(kind, store, current, document, note, author, based_on)


def save_fitted(
    store: Store,
    fitted: dict[str, Any],
    *,
    target: str,
    calibrated: VersionRecord | None,
    market: tuple[str, int | None] | None,
    author: str,
    note: str,
) -> VersionRecord:
    """A calibration's fitted set (``fitted``, a ``scenario_set`` body) stored as the next
    version of the set calibrated (``calibrated``: based on that version, 412 if it moved) or
    as a new set ``target``; it keeps the calibrated set's market (``market``: id and the
    version pinned, if one was) and credit market."""
    if is_builtin(SETS, target):
        raise DomainError.field("save.scenario_set_id", _read_only(SETS, target).errors[0].reason,
                                ErrorKind.CONFLICT)  # fmt: skip
    base = parse_document(SETS, calibrated.document) if calibrated is not None else None
    body: dict[str, Any] = {**fitted, "id": target, "change_note": note}
    if market is not None:
        body["market_id"], body["market_version"] = market
    if base is not None and base.credit_id is not None:
        body["credit_id"] = base.credit_id
    body = {k: v for k, v in body.items() if v is not None}
    if (
        calibrated is not None
        and calibrated.id == target
        and calibrated.created_by != BUILTIN_AUTHOR
    ):
        current = _current(SETS, store, target)
        if current.version != calibrated.version:
            raise DomainError.field(
                "save",
                f"version {calibrated.version} of {target!r} was calibrated but the latest is "
                f"{current.version}: calibrate the latest, or save under a new id",
                ErrorKind.PRECONDITION_FAILED,
            )
        document, _ = _prefixed("save", lambda: _validated(SETS, body, target, store))
        return _append(SETS, store, current, document, note, author, calibrated.version)
    if store.head(SETS.name, target) is not None:
        raise DomainError.field(
            "save.scenario_set_id",
            f"{target!r} exists and is not the set calibrated: save it as the next version of "
            "the set calibrated, or under a new id",
            ErrorKind.CONFLICT,
        )
    document, _ = _prefixed("save", lambda: _validated(SETS, body, None, store))
    return store.create(SETS.name, target, _new_version(SETS, document, author, note, None))


def _prefixed(prefix: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except DomainError as exc:
        raise exc.prefixed(prefix) from None


def retire(
    kind: Kind[Any], store: Store, id: str, if_match: str | None, author: str
) -> VersionRecord:
    """Retire ``id``: no new versions; every version stays readable (pinned prices still
    reproduce); unpinned pricing on it gets 410."""
    current = _current(kind, store, id)
    based_on = check_if_match(if_match, current, required=False)
    try:
        return store.retire(kind.name, id, author, based_on)
    except repository.Stale as exc:
        raise DomainError.field("If-Match", str(exc), ErrorKind.PRECONDITION_FAILED) from exc
    except repository.Retired as exc:
        raise DomainError.field("id", str(exc), ErrorKind.GONE) from exc
