"""The repository on both back ends: SQLite (a file) and a real PostgreSQL server.

Witnesses: the rules the store promises (a version never changes, a write based on an old
version is refused, a retired resource takes no new version, names of keys are unique), read
back through a second ``Store`` on the same database (another connection pool, as another
process would be); the migrations against the tables module (Alembic's own comparison); the
documents module against RFC 7396's own examples (Appendix A).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from store import keys
from store.documents import canonical_json, changed_paths, digest, merge_patch
from store.repository import Conflict, NewVersion, NotFound, Retired, Stale, Store
from store.tables import metadata


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    s.upgrade()
    yield s
    s.dispose()


def version(
    text: str, author: str = "alice", note: str = "", changes: tuple[str, ...] = ()
) -> NewVersion:
    doc = canonical_json(json.loads(text))
    return NewVersion(doc, digest(doc), "a set", "2025-07-09", author, note, changes)


def test_migrations_are_idempotent_and_match_the_tables(url: str) -> None:
    s = Store(url)
    assert s.revision() is None  # an empty database
    assert s.upgrade() == s.upgrade() == "0002"
    with s.engine.connect() as conn:
        # Alembic's autogenerate comparison: no difference between migrations and tables.py
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    s.dispose()


def test_versions_are_numbered_immutable_and_seen_by_another_store(store: Store, url: str) -> None:
    id = f"s-{uuid.uuid4().hex[:8]}"
    first = store.create("scenario_set", id, version('{"b": 1, "a": [1.5, 2]}'))
    assert (first.version, first.latest_version, first.created_by) == (1, 1, "alice")
    assert first.document == '{"a":[1.5,2],"b":1}'  # canonical: keys sorted, no spaces
    second = store.append("scenario_set", id, version('{"a": 2}', "bob", "why", ("a",)), 1)
    assert (second.version, second.created_by, second.change_note, second.changes) == (
        2,
        "bob",
        "why",
        ("a",),
    )
    other = Store(url)  # a second pool on the same database, as a second process
    try:
        assert other.get("scenario_set", id, 1).document == first.document  # unchanged
        assert other.get("scenario_set", id).version == 2
        assert [r.version for r in other.history("scenario_set", id)] == [1, 2]
        assert other.head("scenario_set", id) == (2, None)
    finally:
        other.dispose()


def test_a_write_based_on_an_old_version_is_refused(store: Store) -> None:
    id = f"s-{uuid.uuid4().hex[:8]}"
    store.create("scenario_set", id, version("{}"))
    store.append("scenario_set", id, version('{"x": 1}'), 1)
    with pytest.raises(Stale, match=r"based on version 1; the latest is 2") as stale:
        store.append("scenario_set", id, version('{"x": 2}'), 1)
    assert (stale.value.expected, stale.value.latest) == (1, 2)
    assert store.head("scenario_set", id) == (2, None)  # nothing written


def test_ids_are_unique_per_kind_and_unknown_ones_are_not_found(store: Store) -> None:
    id = f"s-{uuid.uuid4().hex[:8]}"
    store.create("scenario_set", id, version("{}"))
    with pytest.raises(Conflict, match=r"exists already"):
        store.create("scenario_set", id, version("{}"))
    store.create("market", id, version("{}"))  # another kind, its own namespace
    with pytest.raises(NotFound, match=r"no version 2 of scenario_set"):
        store.get("scenario_set", id, 2)
    with pytest.raises(NotFound, match=r"no scenario_set 'nope'"):
        store.append("scenario_set", "nope", version("{}"), None)
    assert store.head("scenario_set", "nope") is None


def test_retired_resources_take_no_versions_and_keep_their_history(store: Store) -> None:
    id = f"s-{uuid.uuid4().hex[:8]}"
    store.create("scenario_set", id, version('{"v": 1}'))
    retired = store.retire("scenario_set", id, "carol", None)
    assert retired.retired_at is not None
    with pytest.raises(Retired, match=r"was retired at"):
        store.append("scenario_set", id, version('{"v": 2}'), 1)
    with pytest.raises(Retired, match=r"was retired at"):
        store.retire("scenario_set", id, "carol", None)
    with pytest.raises(Conflict, match=r"exists already"):  # an id names one history for good
        store.create("scenario_set", id, version("{}"))
    assert store.get("scenario_set", id, 1).document == '{"v":1}'
    assert id not in [r.id for r in store.latest_of_each("scenario_set")]
    assert id in [r.id for r in store.latest_of_each("scenario_set", include_retired=True)]


def test_listing_filters_by_name_part_and_date(store: Store) -> None:
    tag = uuid.uuid4().hex[:8]
    for i, (name, date) in enumerate([("Desk 50%_view", "2025-07-09"), ("other", "2025-08-01")]):
        doc = canonical_json({"i": i})
        store.create("scenario_set", f"{tag}-{i}", NewVersion(doc, digest(doc), name, date, "a"))
    names = {r.name for r in store.latest_of_each("scenario_set", name_contains="50%_V")}
    assert names == {"Desk 50%_view"}  # case-insensitive; % and _ are literal, not wildcards
    assert not store.latest_of_each("scenario_set", name_contains="0%x")
    dated = [r.id for r in store.latest_of_each("scenario_set", as_of="2025-08-01")]
    assert f"{tag}-1" in dated and f"{tag}-0" not in dated


def test_keys_are_stored_as_hashes_unique_by_name_and_revocable(store: Store) -> None:
    name = f"desk-{uuid.uuid4().hex[:6]}"
    key_id, token = keys.new_token()
    store.add_key(name, "writer", key_id, keys.token_hash(token))
    with pytest.raises(Conflict, match=r"exists already"):
        store.add_key(name, "reader", *keys.new_token())
    found = store.key_by_id(key_id)
    assert found is not None and found.role == "writer" and found.revoked_at is None
    assert token not in repr(found)  # only its SHA-256
    assert keys.matches(token, found.token_hash)
    assert not keys.matches(token[:-1] + ("A" if token[-1] != "A" else "B"), found.token_hash)
    assert store.revoke_key(name).revoked_at is not None
    with pytest.raises(Conflict, match=r"is revoked already"):
        store.revoke_key(name)
    with pytest.raises(NotFound, match=r"no key named 'nobody'"):
        store.revoke_key("nobody")


def test_tokens_are_random_well_formed_and_roles_are_ordered() -> None:
    tokens = {keys.new_token()[1] for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert keys.key_id_of(token) is not None
    assert keys.key_id_of("fxs_nothex______x_" + "a" * 43) is None
    assert keys.Role.ADMIN.allows(keys.Role.WRITER) and not keys.Role.READER.allows(
        keys.Role.WRITER
    )


# RFC 7396, Appendix A: (target, patch, result)
RFC7396_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7396_EXAMPLES)
def test_merge_patch_follows_rfc_7396(target: object, patch: object, result: object) -> None:
    assert merge_patch(target, patch) == result


def test_changed_paths_name_every_field_that_differs() -> None:
    old = {"name": "a", "scenarios": [{"p": 0.5}, {"p": 0.5}], "x": 1}
    new = {"name": "a", "scenarios": [{"p": 0.4}, {"p": 0.6}], "y": 1}
    assert changed_paths(old, new) == ["scenarios[0].p", "scenarios[1].p", "x", "y"]
    assert changed_paths(old, old) == []
    assert changed_paths({"s": [1]}, {"s": [1, 2]}) == ["s"]  # a list of another length
    assert changed_paths({"v": 1}, {"v": 1.0}) == ["v"]  # int → float is a change of type
