"""deploy/compose.yaml run as plain processes: the stack's own commands, on loopback.

PostgreSQL (a throw-away server that checks passwords by SCRAM, as the compose file's image
does) with the password from a secret file; the ``migrate`` service's command; a Dask
scheduler and one worker from their services' commands; two ``api`` replicas on the one
store, the first admin key from the ``admin_token`` secret, jobs sent to the scheduler; the
proxy (Debian's nginx on deploy/nginx.conf) in front of both; Prometheus (Debian's) on
deploy/prometheus.yml with the replicas and the scheduler where Docker's DNS would answer.

Witnesses: each scrape target's ``up`` as Prometheus itself reports it; a book uploaded and a
job submitted through one replica is read from the other, runs on the Dask worker (the
scheduler knows the task, the job names the scheduler) and totals what ``POST /v1/price``
gives for the same lines (1e-12); a write without a key is refused (401) and one with the
admin token accepted; the proxy reaches both replicas.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.engine import make_url

from tests.deploy.stack import (
    BIN,
    command_of,
    compose,
    environment_of,
    free_port,
    nginx_config,
    poll,
    prometheus_config,
    running,
    which,
)
from tests.pg_cluster import postgres_server
from tests.service.served import LISTENING, UP, Server

SET = "us-japan-tariff-2025-07-09"
TIMEOUT = 60.0
LINES = 240  # in chunks of 60: four tasks for the worker
BOOK = "kind,strike,tenor\n" + "".join(
    f"{'call' if i % 2 else 'put'},{130 + (i % 40)},{('1M', '3M', '6M')[i % 3]}\n"
    for i in range(LINES)
)


@dataclass
class Stack:
    replicas: list[str]  # base URLs
    proxy: str
    prometheus: str
    scheduler: str
    admin_token: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    services = compose()["services"]
    password = secrets.token_urlsafe(24)
    secrets_dir = tmp / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "db_password").write_text(password + "\n")
    token = subprocess.run(
        [str(BIN / "fxscen"), "keys", "token"], capture_output=True, text=True, check=True
    ).stdout.strip()  # the command the README gives for the admin_token secret
    (secrets_dir / "admin_token").write_text(token + "\n")
    scheduler_port, dashboard_port = free_port(), free_port()
    with ExitStack() as stack, postgres_server(password=password) as url:
        pg = make_url(url)
        places = {
            "postgres:5432": f"127.0.0.1:{pg.port}",
            "dask-scheduler:8786": f"127.0.0.1:{scheduler_port}",
            "/run/secrets/": f"{secrets_dir}/",
            "0.0.0.0": "127.0.0.1",
            "8786": str(scheduler_port),
            ":8787": f":{dashboard_port}",
        }
        procs: list[subprocess.Popen[bytes]] = []

        def start(name: str, service: dict[str, Any], **env: str) -> subprocess.Popen[bytes]:
            work = tmp / name
            work.mkdir()
            process = stack.enter_context(
                running(
                    command_of(service, places),
                    {**environment_of(service, places), **env},
                    work,
                    tmp / f"{name}.log",
                )
            )
            procs.append(process)
            return process

        migrate = subprocess.run(
            command_of(services["migrate"], places), env=environment_of(services["migrate"], places),
            cwd=tmp, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert migrate.returncode == 0, migrate.stderr
        assert "is at revision" in migrate.stdout and password not in migrate.stdout

        start("dask-scheduler", services["dask-scheduler"])
        poll(lambda: _answering(scheduler_port), "the scheduler listening", procs)
        start("dask-worker", services["dask-worker"])
        poll(lambda: _workers(f"tcp://127.0.0.1:{scheduler_port}"), "the worker connected", procs)

        replicas: list[Server] = []
        for _ in range(2):
            port = free_port()
            service = services["api"]
            env = {**environment_of(service, places), "FXSCEN_PORT": str(port)}
            server = stack.enter_context(_replica(command_of(service, places), env, tmp, port))
            procs.append(server.process)
            replicas.append(server)
        for server in replicas:
            server.wait_for_log(UP, timeout=120)
            server.wait_for_log(LISTENING, timeout=120)
            assert password not in server.log and token not in server.log

        proxy_port = free_port()
        proxy_dir = tmp / "proxy"
        proxy_dir.mkdir()
        main = nginx_config(proxy_dir, listen=proxy_port,
                            replicas=[f"127.0.0.1:{s.port}" for s in replicas])  # fmt: skip
        nginx = stack.enter_context(
            running(
                [which("nginx"), "-p", str(proxy_dir), "-c", str(main)],
                environment_of({}, {}),
                proxy_dir,
                tmp / "proxy.log",
            )
        )
        procs.append(nginx)
        poll(lambda: _answering(proxy_port), "the proxy listening", procs)

        prometheus_port = free_port()
        config = prometheus_config(tmp, {
            "fxscen": [f"127.0.0.1:{s.port}" for s in replicas],
            "dask-scheduler": [f"127.0.0.1:{dashboard_port}"],
        })  # fmt: skip
        prometheus = stack.enter_context(
            running(
                [
                    which("prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                environment_of({}, {}),
                tmp,
                tmp / "prometheus.log",
            )
        )
        procs.append(prometheus)
        poll(lambda: _answering(prometheus_port), "Prometheus listening", procs)
        yield Stack(
            replicas=[s.url for s in replicas],
            proxy=f"http://127.0.0.1:{proxy_port}",
            prometheus=f"http://127.0.0.1:{prometheus_port}",
            scheduler=f"tcp://127.0.0.1:{scheduler_port}",
            admin_token=token,
        )


@contextmanager
def _replica(command: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[Server]:
    """An ``api`` replica whose log (stderr) is read as it comes; its pipe closed after."""
    server: Server | None = None
    try:
        with running(command, env, cwd, cwd / f"api-{port}.out", stderr=subprocess.PIPE) as process:
            server = Server(process, port)
            yield server
    finally:
        if server is not None:
            server._reader.join(timeout=30)
            if server.process.stderr is not None:
                server.process.stderr.close()


def _answering(port: int) -> bool | None:
    from tests.deploy.stack import answering

    return answering(port)


def _workers(address: str) -> bool | None:
    from distributed import Client

    try:
        with Client(address, timeout=5, set_as_default=False) as client:
            return True if client.scheduler_info()["workers"] else None
    except OSError:
        return None


def _until(condition: Any, what: str, timeout: float = 120.0) -> Any:
    """``condition()`` once truthy (a bounded poll, 50 ms apart: a condition, not a sleep)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        pause.wait(0.05)
    return value


def test_prometheus_scrapes_every_replica_and_the_scheduler(stack: Stack) -> None:
    with httpx.Client(base_url=stack.prometheus, timeout=TIMEOUT) as http:

        def all_up() -> list[dict[str, Any]] | None:
            targets = http.get("/api/v1/targets").json()["data"]["activeTargets"]
            return (
                targets if len(targets) == 3 and all(t["health"] == "up" for t in targets) else None
            )

        targets = _until(all_up, "every target up")
        scraped = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "fxscen"}
        assert scraped == {u.removeprefix("http://") for u in stack.replicas}

        # and the service's own series are in Prometheus, from both replicas
        def both_counted() -> list[Any] | None:
            query = 'count by (instance) ({job="fxscen", __name__=~"fxscen_.*"})'
            found = http.get("/api/v1/query", params={"query": query}).json()["data"]["result"]
            return found if len(found) == 2 else None

        assert len(_until(both_counted, "fxscen series from both replicas")) == 2


def test_a_job_sent_to_one_replica_is_seen_by_the_other_and_runs_on_the_worker(
    stack: Stack,
) -> None:
    first, second = (httpx.Client(base_url=u, timeout=TIMEOUT) for u in stack.replicas)
    admin = {"authorization": f"Bearer {stack.admin_token}"}
    with first, second:
        refused = first.post("/v1/books", content=BOOK, headers={"content-type": "text/csv"})
        assert refused.status_code == 401, refused.text  # FXSCEN_AUTH=writes, as composed
        book = first.post("/v1/books", content=BOOK, headers={"content-type": "text/csv", **admin})
        assert book.status_code == 201, book.text
        assert second.get(f"/v1/books/{book.json()['id']}").json()["lines"] == LINES
        submitted = first.post(
            "/v1/jobs",
            json={"book_id": book.json()["id"], "scenario_set_id": SET, "chunk_lines": 60},
            headers=admin,
        )
        assert submitted.status_code == 202, submitted.text
        location = submitted.headers["location"]

        def finished() -> dict[str, Any] | None:
            job: dict[str, Any] = second.get(location).json()
            return job if job["state"] in {"done", "failed", "cancelled", "interrupted"} else None

        job = _until(finished, "the job finished, as the other replica sees it")
        assert job["state"] == "done", job
        assert job["progress"]["lines_done"] == LINES
        totals = second.get(f"{location}/totals").json()
        assert totals["executor"] == stack.scheduler  # the replica's FXSCEN_DASK_SCHEDULER
        lines = [dict(zip(("kind", "strike", "tenor"), row.split(","), strict=True))
                 for row in BOOK.splitlines()[1:]]  # fmt: skip
        for line in lines:
            line["strike"] = float(line["strike"])  # type: ignore[assignment]
        priced = second.post("/v1/price", json={"scenario_set_id": SET, "instruments": lines})
        assert totals["totals"]["value"] == pytest.approx(
            priced.json()["totals"]["value"], rel=1e-12
        )

    from distributed import Client

    with Client(stack.scheduler, timeout=10, set_as_default=False) as client:
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: sorted(dask_scheduler.task_prefixes)
        )
        workers = client.scheduler_info()["workers"]
    assert "price_chunk" in prefixes  # the chunks ran through this scheduler
    assert len(workers) == 1  # on its one worker


def test_the_proxy_reaches_both_replicas(stack: Stack) -> None:
    with httpx.Client(base_url=stack.proxy, timeout=TIMEOUT) as http:
        listed = [http.get("/v1/scenario-sets") for _ in range(8)]
        assert all(r.status_code == 200 for r in listed), [r.text for r in listed]
        priced = http.post("/v1/price", json={"scenario_set_id": SET,
                                               "instruments": [{"kind": "call", "strike": 150.0,
                                                                "tenor": "3M"}]})  # fmt: skip
        assert priced.status_code == 200, priced.text
    # nginx's round robin: each replica served some of the proxied requests (a worker
    # publishes its counts to /metrics within a second: service.metrics.PUBLISH_SECONDS)
    for url in stack.replicas:
        with httpx.Client(base_url=url, timeout=TIMEOUT) as http:

            def counted(http: httpx.Client = http) -> list[str] | None:
                served = [
                    line for line in http.get("/metrics").text.splitlines()
                    if line.startswith("fxscen_http_requests_total")
                    and 'route="/v1/scenario-sets"' in line
                ]  # fmt: skip
                return served or None

            assert _until(counted, f"{url} counting proxied requests", timeout=30)


def test_the_version_is_in_health_on_every_replica(stack: Stack) -> None:
    from importlib.metadata import version

    for url in stack.replicas:
        with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
            health = http.get("/v1/health").json()
        assert health["version"] == version("tariff-scenario-pricer")
