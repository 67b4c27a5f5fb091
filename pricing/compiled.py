"""numba's compiler, typed for mypy: a compiled function keeps the signature it was written with.

``numba.njit`` is typed as returning a ``Dispatcher`` whose ``__call__`` takes anything and
returns ``Any``, so every caller of a kernel would lose its types. :func:`njit` is the same
call (same options, same object returned at run time) with the decorated function's own
signature handed back to the type checker, and :data:`prange` is numba's parallel range
(``range`` when run uncompiled). Options: numba's own (``cache``, ``inline``, ``nogil``,
``parallel``, ``error_model``), documented at https://numba.readthedocs.io.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba as nb

F = TypeVar("F", bound=Callable[..., Any])

prange = nb.prange


def njit(**options: Any) -> Callable[[F], F]:
    """``numba.njit(**options)`` as a decorator that keeps the function's type."""
    decorate: Callable[[F], F] = nb.njit(**options)
    return decorate
