"""The deployment files checked without a Docker engine: the compose file against the Compose
Specification's JSON schema (vendored by check-jsonschema) and for what ``docker compose
config`` would refuse — a dependency, secret, volume or file it names that is not there —
Prometheus's configuration by its own ``promtool``, nginx's by ``nginx -t``. The stack's
commands themselves run in tests/deploy/test_stack.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.stack import COMPOSE, DEPLOY, compose, nginx_config

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def test_the_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_compose_file_outside_the_specification_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text(yaml.safe_dump({"services": {"api": {"image": "x", "replicas": "two"}}}))
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(bad)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout


def _references(spec: dict[str, Any]) -> list[str]:
    """What ``docker compose config`` refuses: names and files that are not there."""
    services = spec["services"]
    problems = []
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            if dependency not in services:
                problems.append(f"{name} depends on {dependency}, no such service")
        for secret in service.get("secrets", []):
            if secret not in spec.get("secrets", {}):
                problems.append(f"{name} uses secret {secret}, not declared")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                if not (DEPLOY / source).exists():
                    problems.append(f"{name} mounts {source}, no such file")
            elif source not in spec.get("volumes", {}):
                problems.append(f"{name} mounts volume {source}, not declared")
        if (
            "build" in service
            and not (DEPLOY / service["build"]["context"] / "Dockerfile").exists()
        ):
            problems.append(f"{name} builds from a context without a Dockerfile")
    return problems


def test_every_name_and_file_the_compose_file_uses_is_there() -> None:
    assert _references(compose()) == []
    broken = compose()
    broken["services"]["api"]["depends_on"]["dask-schedule"] = {"condition": "service_started"}
    broken["services"]["proxy"]["volumes"] = ["./nginx.cof:/etc/nginx/conf.d/default.conf:ro"]
    assert len(_references(broken)) == 2


def test_the_stack_is_what_the_deployment_needs() -> None:
    services = compose()["services"]
    assert {"postgres", "migrate", "api", "proxy", "dask-scheduler", "dask-worker",
            "prometheus"} <= set(services)  # fmt: skip
    api = services["api"]
    assert api["deploy"]["replicas"] >= 2
    assert api["environment"]["FXSCEN_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in api["environment"]["FXSCEN_DATABASE_URL"]
    assert ":" not in api["environment"]["FXSCEN_DATABASE_URL"].split("//")[1].split("@")[0]
    assert api["environment"]["FXSCEN_DASK_SCHEDULER"] == "tcp://dask-scheduler:8786"
    # the secrets come from files, never from the image or the compose file itself
    assert set(compose()["secrets"]) == {"db_password", "admin_token"}
    assert all("file" in s for s in compose()["secrets"].values())
    for name in ("migrate", "api", "dask-scheduler", "dask-worker"):
        assert services[name]["image"] == api["image"]  # one image for the service and Dask
    assert (
        services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    )
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    secrets_ignored = (DEPLOY / ".gitignore").read_text().split()
    assert "secrets/" in secrets_ignored


def test_promtool_accepts_the_prometheus_configuration() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "scripts/ensure-stack-tools installs Debian's prometheus (promtool)"
    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_accepts_the_proxy_configuration(tmp_path: Path) -> None:
    # the compose network's name `api` is the one thing only Docker's DNS knows: here it is
    # the two loopback addresses the stack test gives its replicas
    main = nginx_config(tmp_path, listen=18000, replicas=["127.0.0.1:18001", "127.0.0.1:18002"])
    result = subprocess.run(
        [_nginx(), "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _nginx() -> str:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "scripts/ensure-stack-tools installs Debian's nginx"
    return nginx


@pytest.mark.parametrize("name", ["make-secrets", "up"])
def test_the_stacks_scripts_are_executable_sh(name: str) -> None:
    script = DEPLOY / name
    assert script.read_text().startswith("#!/usr/bin/env sh\n")
    assert script.stat().st_mode & 0o111
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_make_secrets_writes_each_secret_once(tmp_path: Path) -> None:
    copy = tmp_path / "deploy"
    copy.mkdir()
    shutil.copy(DEPLOY / "make-secrets", copy)
    subprocess.run(["sh", str(copy / "make-secrets")], check=True, capture_output=True)
    token = (copy / "secrets/admin_token").read_text().strip()
    password = (copy / "secrets/db_password").read_text().strip()
    from store.keys import key_id_of

    assert key_id_of(token) is not None  # a token the service takes as FXSCEN_ADMIN_TOKEN
    assert len(password) >= 32
    assert (copy / "secrets/admin_token").stat().st_mode & 0o077 == 0  # mode 600
    subprocess.run(["sh", str(copy / "make-secrets")], check=True, capture_output=True)
    assert (copy / "secrets/admin_token").read_text().strip() == token  # kept
