"""Read-only mappings that the domain's frozen objects hold, and that pickle.

A scenario's drivers and a credit curve's quotes are ``types.MappingProxyType`` views, so a
frozen object cannot be changed through them. Python cannot pickle a mapping proxy; batch
runs send scenario sets and credit markets to other processes (``dask.distributed``
workers), so this module registers a reducer with :mod:`copyreg`: a proxy pickles as a
proxy over a copy of its dict. Importing the module (the domain modules do) is enough.
"""

from __future__ import annotations

import copyreg
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


def read_only(values: dict[str, Any]) -> Mapping[str, Any]:
    """A read-only view of ``values`` (the caller hands over its only reference)."""
    return MappingProxyType(values)


def _rebuilt(values: dict[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(values)


def _reduce(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _rebuilt, (dict(proxy),)


copyreg.pickle(MappingProxyType, _reduce)
