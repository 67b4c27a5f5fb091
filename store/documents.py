"""Stored documents as canonical JSON: their digest, JSON Merge Patch and what changed.

A document is a JSON object in the shape the API takes. Its canonical text (keys sorted, no
insignificant white space, UTF-8) is what the store keeps, so the same document always reads
back as the same bytes and has one SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

JsonObject = dict[str, Any]


def canonical_json(document: JsonObject) -> str:
    """Keys sorted, separators without spaces, non-ASCII kept; floats as Python's shortest
    round-trip repr (so a stored figure reads back as the same double)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)  # fmt: skip


def digest(text: str) -> str:
    """SHA-256 of the canonical text, lower-case hex (64 characters)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: ``patch``'s members replace ``target``'s, ``null`` removes
    one, objects merge recursively, anything else (arrays included) replaces whole."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The field paths where ``new`` differs from ``old`` (``scenarios[2].probability``,
    ``market_id``), deepest first-differing member, in document order; ``[]`` when equal.
    Lists of different length count as one change of the whole list."""
    if isinstance(old, dict) and isinstance(new, dict):
        paths: list[str] = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else key
            if key not in old or key not in new:
                paths.append(path)
            else:
                paths.extend(changed_paths(old[key], new[key], path))
        return paths
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        paths = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            paths.extend(changed_paths(a, b, f"{prefix}[{i}]"))
        return paths
    same = type(old) is type(new) and old == new
    return [] if same else [prefix or "document"]
