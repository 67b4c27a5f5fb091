"""deploy/compose.yaml's services as plain processes on loopback, for tests on machines
without a Docker engine.

Each service runs the command and environment the compose file gives it, with only what
Docker's network and secrets would supply put in their place (:func:`localised`): a service
name and port (``postgres:5432``, ``dask-scheduler:8786``) become a loopback address, a
container port a free one, ``/run/secrets/NAME`` a file in the test's directory. The proxy and
Prometheus run Debian's nginx and prometheus (``scripts/ensure-stack-tools``) on the deploy
directory's own configurations, with the replicas' addresses where Docker's DNS would answer.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
BIN = Path(sys.executable).parent  # the virtualenv's commands: fxscen, dask
GRACE = 30.0  # seconds from SIGTERM to SIGKILL

T = TypeVar("T")


def compose() -> dict[str, Any]:
    """The compose file, its YAML anchors and merge keys resolved."""
    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return spec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def localised(value: str, places: Mapping[str, str]) -> str:
    """``value`` with each compose-network name in ``places`` replaced (longest first)."""
    for name in sorted(places, key=len, reverse=True):
        value = value.replace(name, places[name])
    return value


def command_of(service: dict[str, Any], places: Mapping[str, str]) -> list[str]:
    """The service's command, localised, its program from this virtualenv."""
    words = [localised(str(w), places) for w in service["command"]]
    program = BIN / words[0]
    assert program.exists(), f"{words[0]} is not installed in {BIN}"
    return [str(program), *words[1:]]


def environment_of(service: dict[str, Any], places: Mapping[str, str]) -> dict[str, str]:
    """This process's environment (no FXSCEN_ variable of its own) and the service's, localised."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FXSCEN_")}
    env.update({k: localised(str(v), places) for k, v in service.get("environment", {}).items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def poll(condition: Callable[[], T | None], what: str, procs: list[subprocess.Popen[bytes]],
         timeout: float = 120.0) -> T:  # fmt: skip
    """``condition()`` once it is not None; fails when a process in ``procs`` exits first or
    after ``timeout`` s. Between tries it waits on the newest process's exit (20 ms)."""
    deadline = time.monotonic() + timeout
    while (value := condition()) is None:
        dead = [p.args for p in procs if p.poll() is not None]
        assert not dead, f"{what}: exited first: {dead}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        with suppress(subprocess.TimeoutExpired):
            procs[-1].wait(timeout=0.02)
    return value


def answering(port: int) -> bool | None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return None
    return True


@contextmanager
def running(command: list[str], env: dict[str, str], cwd: Path, log: Path,
            stderr: int | None = None) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    """``command`` as a process (its output to ``log``, or stderr piped with
    ``stderr=subprocess.PIPE``); terminated, then killed after :data:`GRACE`, on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
            stderr=stderr if stderr is not None else subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=GRACE)


def nginx_config(directory: Path, *, listen: int, replicas: list[str]) -> Path:
    """A main nginx.conf for ``nginx -p DIRECTORY`` that includes deploy/nginx.conf with the
    replicas in place of ``api:8000`` and a loopback ``listen``; its path."""
    site = (DEPLOY / "nginx.conf").read_text()
    assert "    server api:8000;\n" in site and "    listen 8000;\n" in site
    site = site.replace(
        "    server api:8000;\n", "".join(f"    server {r};\n" for r in replicas)
    ).replace("    listen 8000;\n", f"    listen 127.0.0.1:{listen};\n")
    (directory / "site.conf").write_text(site)
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / temp).mkdir(exist_ok=True)
    user = "user root root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log {directory / 'access.log'};\n"
        f"  client_body_temp_path {directory / 'body'};\n"
        f"  proxy_temp_path {directory / 'proxy'};\n"
        f"  fastcgi_temp_path {directory / 'fastcgi'};\n"
        f"  uwsgi_temp_path {directory / 'uwsgi'};\n  scgi_temp_path {directory / 'scgi'};\n"
        f"  include {directory / 'site.conf'};\n}}\n"
    )
    return main


def prometheus_config(directory: Path, targets: Mapping[str, list[str]],
                      interval: str = "1s") -> Path:  # fmt: skip
    """deploy/prometheus.yml with each job's DNS discovery answered by ``targets`` (job name →
    host:port list, what the compose network's DNS gives) and scrapes every ``interval``."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["scrape_timeout"] = interval
    for job in config["scrape_configs"]:
        assert "dns_sd_configs" in job, job
        del job["dns_sd_configs"]
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def which(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    assert found, f"{name} is missing: scripts/ensure-stack-tools installs it"
    return found
