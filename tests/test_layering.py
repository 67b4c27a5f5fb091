"""Imports point one way: service → scenarios → pricing; the core never loads the web layer."""

from __future__ import annotations

import subprocess
import sys


def test_pricing_and_scenarios_import_no_web_framework() -> None:
    code = (
        "import sys, pkgutil, importlib, pricing, scenarios\n"
        "for pkg in (pricing, scenarios):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('fastapi', 'pydantic', 'starlette', 'service'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_pricing_does_not_import_scenarios() -> None:
    code = (
        "import sys, pkgutil, importlib, pricing\n"
        "for m in pkgutil.walk_packages(pricing.__path__, 'pricing.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(','.join(n for n in sys.modules if n.split('.')[0] == 'scenarios'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_store_imports_no_web_framework_and_no_domain() -> None:
    """store/ keeps documents as JSON: it never parses them (service does), nor serves them."""
    code = (
        "import sys, pkgutil, importlib, store\n"
        "for m in pkgutil.walk_packages(store.__path__, 'store.'):\n"
        "    if not m.name.startswith('store.migrations.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('fastapi', 'pydantic', 'starlette', 'service', 'scenarios', 'pricing'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
